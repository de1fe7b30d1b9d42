"""Reader for already-extracted text: JSONL (one JSON object per line) and Parquet, both with a ``text`` column.

Recognised optional fields: ``id``, ``url``, ``title``, ``source``, ``crawl_date`` (or ``date``), ``source_ref``.
Other fields are ignored. Stage ``read_text`` counts one ``in`` per line/row; a file that cannot be opened at all
counts as one record failed (``failed.unreadable``), so nothing disappears without a trace.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.formats import open_decompressed
from pipeline.schema import new_doc
from pipeline.stage import REJECTS, count, reject_row

log = logging.getLogger(__name__)
STAGE = "read_text"
_OPTIONAL = ("url", "title", "crawl_date", "source_ref")


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def make_doc(record: dict[str, Any], default_source: str, ref: str) -> dict[str, Any] | str:
    """A document from one input record, or the drop reason (a string) when it has no usable text.

    ``id``: ``<source>/<given id>`` when the record has an id, else ``<source>/<sha1(ref)[:20]>`` — stable because
    ``ref`` is the file name plus line/row number.
    """
    text = record.get("text")
    if not isinstance(text, str):
        return "no_text"
    if not text.strip():
        return "empty_text"
    source = str(record.get("source") or default_source)
    given = record.get("id")
    doc_id = (
        f"{source}/{given}" if given not in (None, "") else f"{source}/{hashlib.sha1(ref.encode()).hexdigest()[:20]}"
    )
    fields = {k: (None if record.get(k) is None else str(record.get(k))) for k in _OPTIONAL}
    if fields["crawl_date"] is None and record.get("date") is not None:
        fields["crawl_date"] = str(record["date"])
    fields["source_ref"] = fields["source_ref"] or ref
    return new_doc(id=doc_id, text=text, source=source, **fields)


def iter_jsonl(path: str) -> Iterator[tuple[str, Any]]:
    """Yield ("doc", doc) | ("dropped", (reason, ref)) | ("failed", (kind, detail, ref)) per line of a JSONL file."""
    name = _basename(path)
    with open_decompressed(path) as f:
        for line_no, raw in enumerate(f, start=1):
            ref = f"{name}:{line_no}"
            if not raw.strip():
                continue  # blank lines are layout, not records
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield "failed", ("decode", str(exc), ref)
                continue
            except json.JSONDecodeError as exc:
                yield "failed", ("bad_json", str(exc), ref)
                continue
            if not isinstance(record, dict):
                yield "failed", ("bad_json", f"line is {type(record).__name__}, not an object", ref)
                continue
            doc = make_doc(record, "jsonl", ref)
            yield ("dropped", (doc, ref)) if isinstance(doc, str) else ("doc", doc)


def iter_parquet(path: str, batch_rows: int = 1024) -> Iterator[tuple[str, Any]]:
    """Same protocol as :func:`iter_jsonl` for a Parquet file, streamed batch by batch."""
    name = _basename(path)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if "text" not in names:
            yield "failed", ("no_text_column", f"columns are {names}", name)
            return
        wanted = [c for c in ("text", "id", "source", "date", *_OPTIONAL) if c in names]
        row = 0
        for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted):
            for record in batch.to_pylist():
                ref = f"{name}:row={row}"
                row += 1
                doc = make_doc(record, "parquet", ref)
                yield ("dropped", (doc, ref)) if isinstance(doc, str) else ("doc", doc)


class ReadText(beam.DoFn):
    """Read one JSONL or Parquet file (element: ``(path, format)``) into documents; counted as stage ``read_text``."""

    def process(self, element: tuple[str, str]):
        path, fmt = element
        records = iter_jsonl(path) if fmt == "jsonl" else iter_parquet(path)
        try:
            for kind, value in records:
                count(STAGE, "in")
                if kind == "doc":
                    count(STAGE, "out")
                    yield value
                elif kind == "dropped":
                    reason, ref = value
                    count(STAGE, f"dropped.{reason}")
                    yield beam.pvalue.TaggedOutput(
                        REJECTS, reject_row(STAGE, "dropped", reason, "", {"source_ref": ref})
                    )
                else:
                    kind_, detail, ref = value
                    count(STAGE, f"failed.{kind_}")
                    yield beam.pvalue.TaggedOutput(
                        REJECTS, reject_row(STAGE, "failed", kind_, detail, {"source_ref": ref})
                    )
        except (OSError, EOFError, ValueError) as exc:
            # Truncated gzip, corrupt Parquet footer, ...: what was read before stays; the damage is one failure.
            log.warning("%s: %s: %s", STAGE, path, exc)
            count(STAGE, "in")
            count(STAGE, "failed.unreadable")
            yield beam.pvalue.TaggedOutput(
                REJECTS,
                reject_row(
                    STAGE, "failed", "unreadable", f"{type(exc).__name__}: {exc}", {"source_ref": _basename(path)}
                ),
            )
