"""Exact substring index over the UTF-8 text of corpus shards: a suffix array over bytes (infini-gram style).

Users paste text, not token ids, so counts are exact substring counts of the UTF-8 bytes. Documents are laid end
to end, each followed by the byte ``0xFF``; that byte never occurs in valid UTF-8 (so never in a query), which
means no match can run across a document boundary. The suffix array comes from libdivsufsort (``pydivsufsort``).

NOTE(helper G, 2026-11-28): the PyPI ``infini-gram`` package was checked first. Its engine fits, but its indexer
is a script over a directory of JSONL files that loads its tokenizers with ``AutoTokenizer.from_pretrained`` from
the hub (gpt2 / Llama-2 / OLMo) and writes its own file layout through a bundled Rust binary; its byte mode has
no document table we could join to shard rows. A suffix array over bytes is the same idea with our own layout.

An index directory holds::

    corpus.bin        the documents' UTF-8 bytes, each followed by 0xFF
    sa.npy            suffix array of corpus.bin (int32 below 2 GiB, else int64)
    docs.parquet      one row per document: doc_id, shard, row, byte_start, num_bytes, num_chars, source, url, title
    manifest.json     format, counts, sizes, library versions and the sha256 of every shard it was built from
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jpcorpus.errors import UsageError

log = logging.getLogger(__name__)

FORMAT_NAME = "jpcorpus-ngram-index"
FORMAT_VERSION = 1
DOC_SEPARATOR = 0xFF  # not a UTF-8 byte: a query can never match across it
CORPUS_FILE, SA_FILE, DOCS_FILE, MANIFEST_FILE = "corpus.bin", "sa.npy", "docs.parquet", "manifest.json"

DOCS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),  # shard file name, relative to the shards directory
        pa.field("row", pa.int64(), nullable=False),  # row within that shard
        pa.field("byte_start", pa.int64(), nullable=False),  # offset of the document in corpus.bin
        pa.field("num_bytes", pa.int64(), nullable=False),  # UTF-8 bytes, without the separator
        pa.field("num_chars", pa.int64(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
    ]
)


class IndexStateError(UsageError):
    """The index directory is missing, damaged, or was built from other shards; the CLI exits with status 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A maximal piece of the query found in the corpus (``num_occurrences`` 0: the character is nowhere)."""

    char_start: int  # in the query
    char_end: int
    text: str
    num_occurrences: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """One occurrence: document row in docs.parquet, its id, and the match's character offset in its text."""

    doc_index: int
    doc_id: str
    char_offset: int


def shard_files(shards_dir: str | Path) -> list[Path]:
    """The Parquet shards of a pipeline output directory, in name order (``part-XXXXX-of-YYYYY.parquet``)."""
    root = Path(shards_dir)
    if not root.is_dir():
        raise UsageError(f"shards directory {str(root)!r} does not exist")
    if (root / "shards").is_dir():  # a run directory (build/select/dedup output): its documents, never rejects/
        root = root / "shards"
    files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise UsageError(f"no .parquet shards under {str(root)!r}")
    return files


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def build(shards_dir: str | Path, output_dir: str | Path) -> dict[str, Any]:
    """Index every document of every shard under ``shards_dir`` into ``output_dir``; returns the manifest."""
    t0 = time.perf_counter()
    shards_root = Path(shards_dir).resolve()
    files = shard_files(shards_root)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    chunks: list[bytes] = []
    columns: dict[str, list] = {f.name: [] for f in DOCS_SCHEMA}
    shards_meta = []
    offset = 0
    for path in files:
        rel = str(path.relative_to(shards_root))
        table = pq.read_table(path)
        missing = {"id", "text"} - set(table.column_names)
        if missing:
            raise UsageError(f"shard {rel!r} lacks columns {sorted(missing)}: not a jpcorpus document shard")
        cols = {
            n: table.column(n).to_pylist() if n in table.column_names else [None] * table.num_rows
            for n in ("id", "text", "source", "url", "title")
        }
        for row, (doc_id, text) in enumerate(zip(cols["id"], cols["text"], strict=True)):
            if doc_id is None or text is None:
                raise UsageError(f"shard {rel!r} row {row}: null id or text")
            data = text.encode("utf-8")
            chunks.append(data)
            chunks.append(bytes((DOC_SEPARATOR,)))
            for key, value in (
                ("doc_id", doc_id),
                ("shard", rel),
                ("row", row),
                ("byte_start", offset),
                ("num_bytes", len(data)),
                ("num_chars", len(text)),
                ("source", cols["source"][row]),
                ("url", cols["url"][row]),
                ("title", cols["title"][row]),
            ):
                columns[key].append(value)
            offset += len(data) + 1
        shards_meta.append(
            {"name": rel, "sha256": file_sha256(path), "num_bytes": path.stat().st_size, "num_docs": table.num_rows}
        )
    corpus = np.frombuffer(b"".join(chunks), dtype=np.uint8).copy()  # divsufsort needs a writable buffer
    del chunks
    if len(corpus) == 0:
        raise UsageError(f"the shards under {str(shards_root)!r} hold no documents")
    t_sa = time.perf_counter()
    from pydivsufsort import divsufsort  # imported here: only building needs the C library

    sa = divsufsort(corpus)
    if len(corpus) >= 2**31 - 1:
        sa = sa.astype(np.int64, copy=False)
    sa_s = time.perf_counter() - t_sa

    _write_atomic(out / CORPUS_FILE, corpus.tobytes())
    with open(out / (SA_FILE + ".partial"), "wb") as f:
        np.save(f, sa)
    os.replace(out / (SA_FILE + ".partial"), out / SA_FILE)
    pq.write_table(pa.Table.from_pydict(columns, schema=DOCS_SCHEMA), out / (DOCS_FILE + ".partial"))
    os.replace(out / (DOCS_FILE + ".partial"), out / DOCS_FILE)
    num_docs = len(columns["doc_id"])
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "shards_dir": str(shards_root),
        "shards": shards_meta,
        "num_docs": num_docs,
        "num_chars": int(sum(columns["num_chars"])),
        "num_corpus_bytes": int(len(corpus)),
        "max_doc_bytes": int(max(columns["num_bytes"], default=0)),
        "sa_dtype": str(sa.dtype),
        "index_bytes": {name: (out / name).stat().st_size for name in (CORPUS_FILE, SA_FILE, DOCS_FILE)},
        "libraries": {"pydivsufsort": importlib.metadata.version("pydivsufsort")},
        "build_seconds": {"suffix_array": round(sa_s, 3), "total": round(time.perf_counter() - t0, 3)},
    }
    _write_atomic(out / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    log.info(
        "indexed %d documents, %d bytes from %d shards in %.1f s (suffix array %.1f s, %.0f bytes/s)",
        num_docs, len(corpus), len(files), manifest["build_seconds"]["total"], sa_s, len(corpus) / max(sa_s, 1e-9),
    )  # fmt: skip
    return manifest


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    root = Path(index_dir)
    if not root.is_dir():
        raise IndexStateError(f"index directory {str(root)!r} does not exist (build it with `jpcorpus index build`)")
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise IndexStateError(f"{str(path)!r} is missing: {str(root)!r} is not a finished n-gram index")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexStateError(f"{str(path)!r} is not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise IndexStateError(
            f"{str(path)!r} is format {manifest.get('format')!r} v{manifest.get('version')!r}, "
            f"expected {FORMAT_NAME!r} v{FORMAT_VERSION}"
        )
    return manifest


def check_shards(manifest: dict[str, Any], shards_dir: str | Path | None = None) -> None:
    """Raise if the shards the index was built from are gone or changed (sha256 differs)."""
    root = Path(shards_dir if shards_dir is not None else manifest["shards_dir"])
    for shard in manifest["shards"]:
        path = root / shard["name"]
        if not path.is_file():
            raise IndexStateError(f"shard {str(path)!r} the index was built from is missing")
        digest = file_sha256(path)
        if digest != shard["sha256"]:
            raise IndexStateError(
                f"shard {str(path)!r} changed since the index was built (sha256 {digest[:12]}..., index has "
                f"{shard['sha256'][:12]}...): rebuild the index"
            )


class NgramIndex:
    """Read side of an index directory: exact ``count``, ``locate`` and ``longest_matching_spans``."""

    def __init__(self, index_dir: str | Path, *, verify_shards: bool = False, shards_dir: str | Path | None = None):
        self.root = Path(index_dir)
        self.manifest = read_manifest(self.root)
        if verify_shards:
            check_shards(self.manifest, shards_dir)
        num_bytes = int(self.manifest["num_corpus_bytes"])
        for name in (CORPUS_FILE, SA_FILE, DOCS_FILE):
            if not (self.root / name).is_file():
                raise IndexStateError(f"{str(self.root / name)!r} is missing: rebuild the index")
        corpus_path = self.root / CORPUS_FILE
        if corpus_path.stat().st_size != num_bytes:
            raise IndexStateError(
                f"{str(corpus_path)!r} has {corpus_path.stat().st_size} bytes, the manifest says {num_bytes}: "
                "the index is damaged, rebuild it"
            )
        try:
            self.sa = np.load(self.root / SA_FILE, mmap_mode="r")
            self.docs = pq.read_table(self.root / DOCS_FILE)
        except (ValueError, OSError, pa.ArrowInvalid) as exc:
            raise IndexStateError(f"index files under {str(self.root)!r} are unreadable ({exc}): rebuild it") from exc
        if self.sa.shape != (num_bytes,) or self.docs.num_rows != int(self.manifest["num_docs"]):
            raise IndexStateError(
                f"index under {str(self.root)!r} is inconsistent (suffix array {self.sa.shape}, "
                f"{self.docs.num_rows} document rows; manifest {num_bytes} bytes, {self.manifest['num_docs']} docs)"
            )
        with open(corpus_path, "rb") as f:
            self._corpus = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._doc_start = self.docs.column("byte_start").to_numpy()
        self._doc_ids: list[str] = self.docs.column("doc_id").to_pylist()
        self.max_doc_bytes = int(self.manifest["max_doc_bytes"])

    @property
    def num_docs(self) -> int:
        return self.docs.num_rows

    # -- suffix-array range search -------------------------------------------------------------------------
    def _range(self, q: bytes, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
        """[first, end) of the suffix-array rows whose suffix starts with ``q`` (within ``[lo, hi)``)."""
        sa, corpus, m = self.sa, self._corpus, len(q)
        hi = len(sa) if hi is None else hi
        a, b = lo, hi
        while a < b:  # lower bound: first suffix whose m-byte prefix >= q
            mid = (a + b) // 2
            p = int(sa[mid])
            if corpus[p : p + m] < q:
                a = mid + 1
            else:
                b = mid
        first = a
        b = hi
        while a < b:  # upper bound: first suffix whose m-byte prefix > q
            mid = (a + b) // 2
            p = int(sa[mid])
            if corpus[p : p + m] <= q:
                a = mid + 1
            else:
                b = mid
        return first, a

    @staticmethod
    def _query_bytes(query: str) -> bytes:
        if not isinstance(query, str) or query == "":
            raise ValueError("the query is empty: give the text to search for")
        try:
            return query.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates from a broken paste
            raise ValueError(f"the query is not valid Unicode text ({exc})") from exc

    def count(self, query: str) -> int:
        """Exact number of occurrences of ``query`` in the documents (overlapping ones included)."""
        q = self._query_bytes(query)
        if len(q) > self.max_doc_bytes:
            return 0  # longer than every document: cannot occur
        first, end = self._range(q)
        return end - first

    def locate(self, query: str, k: int) -> list[Location]:
        """Up to ``k`` occurrences of ``query`` in corpus order among those found, as (document, char offset)."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        q = self._query_bytes(query)
        if len(q) > self.max_doc_bytes or k == 0:
            return []
        first, end = self._range(q)
        positions = np.sort(np.asarray(self.sa[first : min(end, first + k)], dtype=np.int64))
        out = []
        for pos in positions.tolist():
            doc = int(np.searchsorted(self._doc_start, pos, side="right")) - 1
            start = int(self._doc_start[doc])
            char_offset = len(self._corpus[start:pos].decode("utf-8"))
            out.append(Location(doc_index=doc, doc_id=self._doc_ids[doc], char_offset=char_offset))
        return out

    def longest_match_at(self, query: str, char_start: int, at_least: int = 0) -> tuple[int, int]:
        """(length in characters, count) of the longest prefix of ``query[char_start:]`` found in the corpus.

        ``at_least``: a prefix length the caller knows is present (matching statistics: the match at ``i + 1``
        is at least the match at ``i`` minus one), so the search starts there.
        """
        self._query_bytes(query)
        rest = query[char_start : char_start + self.max_doc_bytes]  # no match is longer than a document
        # Presence is monotone in the prefix length: gallop up from the known length (1, 2, 4, ... more) until
        # a probe fails, then binary-search between; so the cost follows the match length, not the query
        # length. Each probe narrows the suffix-array range of the last shorter match found.
        lo_len, hi_len = at_least, len(rest)
        lo, hi, best_count = 0, len(self.sa), 0
        if at_least > 0:
            lo, hi = self._range(rest[:at_least].encode("utf-8"))
            best_count = hi - lo
            assert best_count > 0, "at_least must be a length known to occur"
        step = 1
        while lo_len < hi_len:
            probe_len = min(lo_len + step, hi_len) if step else (lo_len + hi_len + 1) // 2
            q = rest[:probe_len].encode("utf-8")
            first, end = self._range(q, lo, hi) if len(q) <= self.max_doc_bytes else (0, 0)
            if end > first:
                lo_len, lo, hi, best_count = probe_len, first, end, end - first
                step = step * 2 if step else 0
            else:
                hi_len = probe_len - 1
                step = 0  # from now on: binary search in (lo_len, hi_len]
        return lo_len, best_count

    def longest_matching_spans(self, query: str) -> list[Span]:
        """Greedy left-to-right segmentation of ``query`` into maximal spans present in the corpus.

        From each position the longest matching prefix is taken; a character found nowhere becomes a span of
        length 1 with count 0. The spans cover the query exactly, in order.
        """
        self._query_bytes(query)
        spans, i = [], 0
        while i < len(query):
            length, num = self.longest_match_at(query, i)
            length = max(length, 1)
            spans.append(Span(char_start=i, char_end=i + length, text=query[i : i + length], num_occurrences=num))
            i += length
        return spans

    def longest_common_substring(self, query: str) -> Span | None:
        """The longest piece of ``query`` found anywhere in the corpus (leftmost of equals); None if no character is.

        Unlike the greedy spans, this tries every start position, using L(i + 1) >= L(i) - 1 so each start costs
        a few probes: what a contamination check needs (the longest overlap, wherever it starts).
        """
        self._query_bytes(query)
        best: Span | None = None
        length = 0
        for i in range(len(query)):
            length, num = self.longest_match_at(query, i, at_least=max(length - 1, 0))
            if length and (best is None or length > best.char_end - best.char_start):
                best = Span(char_start=i, char_end=i + length, text=query[i : i + length], num_occurrences=num)
            if best is not None and best.char_end - best.char_start >= len(query) - i:
                break  # no later start can be longer
        return best

    def doc_text(self, doc_index: int) -> str:
        start = int(self._doc_start[doc_index])
        num = int(self.docs.column("num_bytes")[doc_index].as_py())
        return self._corpus[start : start + num].decode("utf-8")

    def doc_row(self, doc_index: int) -> dict[str, Any]:
        return {name: self.docs.column(name)[doc_index].as_py() for name in self.docs.column_names}

    def close(self) -> None:
        self._corpus.close()
