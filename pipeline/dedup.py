"""``Dedup(cfg)``: the dedup step of ``jpcorpus build --dedup`` and ``jpcorpus dedup``, by ``DedupConfig.method``.

    none    -> documents unchanged, no stage, no columns
    exact   -> dedup_url (if exact.by_url) -> dedup_exact
    minhash -> dedup_url (if exact.by_url) -> dedup_minhash (removes exact duplicates too)

Kept documents carry ``cluster_id`` (hex string; the same for every member of a cluster, kept or rejected, and
the ``detail`` of the members' reject rows) and ``cluster_size`` (documents the kept one stands for).
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from pipeline.dedup_config import DedupConfig
from pipeline.dedup_exact import CLUSTER_ID, CLUSTER_SIZE, STAGE_EXACT, STAGE_URL, DedupExact, DedupUrl
from pipeline.dedup_minhash import STAGE as STAGE_MINHASH
from pipeline.dedup_minhash import DedupMinHash


def dedup_fields(cfg: DedupConfig) -> tuple[pa.Field, ...]:
    """Columns the dedup step adds to the shard schema."""
    if cfg.method == "none":
        return ()
    return (pa.field(CLUSTER_ID, pa.string()), pa.field(CLUSTER_SIZE, pa.int64()))


def dedup_stage_names(cfg: DedupConfig) -> list[str]:
    """The counted stages the step runs, in order (for the manifest)."""
    if cfg.method == "none":
        return []
    names = [STAGE_URL] if cfg.exact.by_url else []
    return names + [STAGE_EXACT if cfg.method == "exact" else STAGE_MINHASH]


class Dedup(beam.PTransform):
    """Documents -> ``(kept, rejects)``; see the module docstring for what each method runs."""

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs):
        cfg = self._cfg
        if cfg.method == "none":
            return docs, docs.pipeline | "NoDedupRejects" >> beam.Create([])
        rejects = []
        if cfg.exact.by_url:
            docs, rej = docs | "DedupUrl" >> DedupUrl(cfg)
            rejects.append(rej)
        if cfg.method == "exact":
            docs, rej = docs | "DedupExact" >> DedupExact(cfg)
        else:
            docs, rej = docs | "DedupMinHash" >> DedupMinHash(cfg)
        rejects.append(rej)
        return docs, rejects | "DedupRejects" >> beam.Flatten()
