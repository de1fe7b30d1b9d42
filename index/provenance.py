"""Join a training run to its documents: for every document, the optimizer steps that consumed its tokens.

Inputs are the run's ``config.json`` (total steps, token directory) and its provenance log
``provenance/rank-XXXXX.jsonl`` (``train/data.py``: one line per rank per step, ``{"step", "status":
"trained"|"skipped", "rank", "samples", "spans": [[epoch, doc_id, start, end], ...]}``), plus the token shards'
document index (``train/shard_format.py``). Only ``trained`` steps count as "seen": a step the spike guard skipped
made no optimizer update, so its documents are listed under ``skipped_steps`` instead. Resume and rollback
truncate the log before re-doing steps; should a (rank, step, first sample) still appear twice, the later line
wins. A skipped step's number appears twice per rank: once skipped, then trained on the next samples.

Output, next to the n-gram index: ``provenance.parquet`` (one row per document of the token directory) and
``provenance.json`` (run, steps, counts).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jpcorpus.errors import UsageError
from train import shard_format as sf

log = logging.getLogger(__name__)

PROVENANCE_FILE, PROVENANCE_MANIFEST = "provenance.parquet", "provenance.json"

SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # train | val (val is never trained on)
        pa.field("num_tokens", pa.int64(), nullable=False),  # in the token shard, EOS included
        pa.field("first_step", pa.int64()),  # None: never consumed by a trained step
        pa.field("last_step", pa.int64()),
        pa.field("steps", pa.list_(pa.int64()), nullable=False),  # trained steps, ascending, each once
        pa.field("num_tokens_trained", pa.int64(), nullable=False),  # input tokens over all trained steps
        pa.field("skipped_steps", pa.list_(pa.int64()), nullable=False),  # steps the spike guard skipped
    ]
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DocSteps:
    """When one document was seen in training (``first_step`` None: never)."""

    doc_id: str
    split: str
    num_tokens: int
    first_step: int | None
    steps: tuple[int, ...]
    num_tokens_trained: int
    skipped_steps: tuple[int, ...]


def _read_run(run_dir: Path, tokens_dir: str | Path | None) -> tuple[dict[str, Any], Path]:
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UsageError(f"{str(run_dir)!r} is not a training run directory (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if tokens_dir is None:
        # The run records the path as given on its command line, usually relative to where it was launched.
        configured = Path(config["data"]["tokens_dir"])
        candidates = [configured] if configured.is_absolute() else [configured, run_dir.parent / configured.name]
        found = [c for c in candidates if (c / sf.META_FILE).is_file()]
        if not found:
            raise UsageError(
                f"the run's token directory {str(configured)!r} is not found from here; pass it explicitly"
            )
        tokens_dir = found[0]
    return config, Path(tokens_dir)


def _read_log(run_dir: Path) -> list[dict[str, Any]]:
    prov_dir = run_dir / "provenance"
    files = sorted(prov_dir.glob("rank-*.jsonl"))
    if not files:
        raise UsageError(
            f"{str(prov_dir)!r} has no rank-*.jsonl: the run was made with data.provenance = false or is not a run"
        )
    latest: dict[tuple[int, int, int], dict[str, Any]] = {}
    for path in files:
        for num, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                # A skipped step's number is reused by the next batch (the cursor moved on), so the sample
                # range, not the step, identifies a record.
                key = (int(rec["rank"]), int(rec["step"]), int(rec["samples"][0]))
                if "status" not in rec or "spans" not in rec:
                    raise KeyError("status" if "status" not in rec else "spans")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise UsageError(f"{path}:{num}: not a provenance record ({exc})") from exc
            latest[key] = rec
    return list(latest.values())


def join_run(run_dir: str | Path, tokens_dir: str | Path | None = None) -> tuple[list[DocSteps], dict[str, Any]]:
    """Per-document steps of a run, and a summary (total/last step, counts)."""
    run_dir = Path(run_dir)
    config, tokens_dir = _read_run(run_dir, tokens_dir)
    meta = sf.read_meta(tokens_dir)
    dtype = np.dtype(meta["dtype"])
    doc_split: dict[str, tuple[str, int]] = {}
    for split in sf.SPLITS:
        for stem in meta["shards"].get(split, []):
            shard = sf.open_shard(tokens_dir, stem, dtype)
            for doc_id, length in zip(shard.doc_ids, shard.lengths.tolist(), strict=True):
                doc_split[doc_id] = (split, int(length))

    steps: dict[str, set[int]] = defaultdict(set)
    skipped: dict[str, set[int]] = defaultdict(set)
    tokens_trained: dict[str, int] = defaultdict(int)
    num_records = {"trained": 0, "skipped": 0}
    last_step = 0
    for rec in _read_log(run_dir):
        step, status = int(rec["step"]), rec["status"]
        if status not in num_records:
            raise UsageError(f"provenance record of step {step} has unknown status {status!r}")
        num_records[status] += 1
        last_step = max(last_step, step)
        for _epoch, doc_id, start, end in rec["spans"]:
            if doc_id not in doc_split:
                raise UsageError(
                    f"the run consumed document {doc_id!r} at step {step}, which is not in the token directory "
                    f"{str(tokens_dir)!r}: the run was made from other token shards"
                )
            if status == "trained":
                steps[doc_id].add(step)
                tokens_trained[doc_id] += int(end) - int(start)
            else:
                skipped[doc_id].add(step)

    docs = []
    for doc_id in sorted(doc_split):
        split, num_tokens = doc_split[doc_id]
        seen = tuple(sorted(steps.get(doc_id, ())))
        docs.append(
            DocSteps(
                doc_id=doc_id,
                split=split,
                num_tokens=num_tokens,
                first_step=seen[0] if seen else None,
                steps=seen,
                num_tokens_trained=tokens_trained.get(doc_id, 0),
                skipped_steps=tuple(sorted(skipped.get(doc_id, ()))),
            )
        )
    summary = {
        "run_dir": str(run_dir.resolve()),
        "tokens_dir": str(tokens_dir.resolve()),
        "tokenizer_sha256": meta.get("tokenizer", {}).get("sha256"),
        "total_steps": int(config["run"]["max_steps"]),
        "last_step": last_step,
        "num_step_records": num_records,
        "num_docs": len(docs),
        "num_docs_seen": sum(1 for d in docs if d.first_step is not None),
        "num_tokens_trained": int(sum(tokens_trained.values())),
    }
    log.info(
        "run %s: %d/%d steps logged, %d of %d documents seen in training",
        run_dir, last_step, summary["total_steps"], summary["num_docs_seen"], len(docs),
    )  # fmt: skip
    return docs, summary


def write(index_dir: str | Path, docs: list[DocSteps], summary: dict[str, Any], index_doc_ids: set[str]) -> None:
    """Store the join next to an n-gram index; every document the run used must be in that index."""
    missing = [d.doc_id for d in docs if d.doc_id not in index_doc_ids]
    if missing:
        raise UsageError(
            f"{len(missing)} of the run's {len(docs)} documents are not in the index (e.g. {missing[:3]}): the index "
            "was built from other shards than the run's"
        )
    out = Path(index_dir)
    columns = {f.name: [getattr(d, f.name) for d in docs] for f in SCHEMA if f.name != "last_step"}
    columns["last_step"] = [d.steps[-1] if d.steps else None for d in docs]
    columns["steps"] = [list(s) for s in columns["steps"]]
    columns["skipped_steps"] = [list(s) for s in columns["skipped_steps"]]
    pq.write_table(pa.Table.from_pydict(columns, schema=SCHEMA), out / PROVENANCE_FILE)
    (out / PROVENANCE_MANIFEST).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")


def read(index_dir: str | Path) -> tuple[dict[str, DocSteps], dict[str, Any]] | None:
    """The stored join, keyed by document id; None when the index was built without ``--run``."""
    root = Path(index_dir)
    if not (root / PROVENANCE_MANIFEST).is_file():
        return None
    summary = json.loads((root / PROVENANCE_MANIFEST).read_text(encoding="utf-8"))
    rows = pq.read_table(root / PROVENANCE_FILE).to_pylist()
    docs = {}
    for row in rows:
        row["steps"], row["skipped_steps"] = tuple(row["steps"]), tuple(row["skipped_steps"])
        row.pop("last_step")
        docs[row["doc_id"]] = DocSteps(**row)
    return docs, summary
