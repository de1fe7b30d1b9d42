"""Whole dedup stage benchmark (issue 4): ``jpcorpus dedup`` docs/s per core and peak RSS against input size.

    python bench/bench_dedup.py --base-docs 6250 --scales 1 4 16 --workers 2 0 [--method minhash]
    python bench/bench_dedup.py --scales 16 --workers 2 --malloc-env --results bench/results/bench_dedup_malloc.json

Input: Parquet shards of ``base_docs * scale`` documents made by ``tests/dedup_corpus.py:scaled_doc`` (half of them
new: four spliced 500-character pieces of Aozora Bunko chunks, jawiki articles and the ClueWeb09-ja shop pages;
half near-duplicates of earlier ones: exact copies, 1-3% edits, boilerplate, reordered lines, copies of copies).
Made once per size under ``--workdir`` and reused.

Each size runs ``python -m jpcorpus.cli dedup --input ... --output ...`` as a child process; this script polls
``/proc`` every 0.2 s for the RSS of that process (the runner: graph construction, the in-memory shuffle of the
local runner, the manifest) and of each of its descendant processes (the SDK workers of ``--workers N``), and
sums their CPU time (user + system, children included) so docs/s per core is not distorted by other jobs on the
machine. ``--workers 2 0`` runs each size with two SDK worker processes and then in-process; ``output_sha256``
(every kept and rejected row, sorted) must be equal between them. Results: a printed table and
``bench/results/bench_dedup.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pipeline.beam_fixes import LOCAL_WORKER_ENV as MALLOC_ENV  # noqa: E402  (what --workers gives the SDK workers)

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
ROWS_PER_INPUT_SHARD = 5000


def make_input(num_docs: int, directory: Path) -> Path:
    """Write ``num_docs`` generated documents as shards under ``directory`` (skipped when already there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dedup_corpus import scaled_corpus_sources, scaled_doc

    from pipeline.schema import doc_schema

    done = directory / "_COMPLETE"
    if done.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    sources = scaled_corpus_sources()
    schema = doc_schema()
    num_shards = -(-num_docs // ROWS_PER_INPUT_SHARD)
    for s in range(num_shards):
        rows = [
            scaled_doc(i, sources)
            for i in range(s * ROWS_PER_INPUT_SHARD, min(num_docs, (s + 1) * ROWS_PER_INPUT_SHARD))
        ]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=schema), directory / f"part-{s:05d}-of-{num_shards:05d}.parquet"
        )
    done.write_text(str(num_docs))
    return directory


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(RSS bytes, CPU seconds of the process and its waited-for children) from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17, rss=24 (1-based in proc(5)).
    cpu_ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return int(fields[21]) * PAGE_BYTES, cpu_ticks / TICKS_PER_S


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (the runner starts its SDK workers from non-main threads)."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(_children(c))
    return out


def output_digest(output_dir: Path) -> str:
    """SHA-256 of the job's outputs independent of sharding and row order: every kept row (all columns) and every
    reject row, each sorted. Equal digests = the same documents kept, with the same clusters, and the same rejects."""
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    for sub in ("shards", "rejects"):
        rows = []
        for path in sorted((output_dir / sub).glob("*.parquet")):
            rows += [json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(path).to_pylist()]
        digest.update(f"{sub} {len(rows)}\n".encode())
        for row in sorted(rows):
            digest.update(row.encode() + b"\n")
    return digest.hexdigest()


def run_dedup(
    input_dir: Path, output_dir: Path, workers: int, method: str, poll_s: float = 0.2, malloc_env: bool = False
) -> dict:
    cmd = [sys.executable, "-m", "jpcorpus.cli", "dedup", "--input", str(input_dir), "--output", str(output_dir)]
    cmd += ["--overwrite", "--method", method, "--runner=FnApiRunner"]
    if workers:
        cmd += ["--workers", str(workers)]
    start_wall = time.monotonic()
    before = os.times()
    log_path = output_dir.with_name(output_dir.name + ".log")  # a file, not a pipe: Beam logs a lot at INFO
    log_file = log_path.open("w")
    env = {**os.environ, **MALLOC_ENV} if malloc_env else None  # inherited by the SDK worker processes
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_file, env=env)
    peak_runner, peak_workers = 0, {}
    while proc.poll() is None:
        stat = _proc_stat(proc.pid)
        if stat:
            peak_runner = max(peak_runner, stat[0])
        for child in _descendants(proc.pid):
            child_stat = _proc_stat(child)
            if child_stat:
                peak_workers[child] = max(peak_workers.get(child, 0), child_stat[0])
        time.sleep(poll_s)
    log_file.close()
    stderr = log_path.read_text(errors="replace")
    wall_s = time.monotonic() - start_wall
    after = os.times()
    manifest_path = output_dir / "manifest.json"
    if proc.returncode != 0 and (proc.returncode != 1 or not manifest_path.exists()):
        raise RuntimeError(f"jpcorpus dedup exited {proc.returncode}:\n{stderr[-3000:]}")
    # Exit status 1 with a manifest: the job ran but its counts do not reconcile; that is recorded, not hidden.
    cpu_s = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    manifest = json.loads(manifest_path.read_text())
    num_discard_logs = stderr.count("Discard inputs for cleaned up instruction")
    # pipeline/beam_fixes.py logs (up to 20 times) each write that had to wait for a time-based flush: bytes the
    # unpatched Beam would have dropped between Beam steps.
    num_held_back_logs = stderr.count("write held back by a time-based flush")
    stage = {s["name"]: s for s in manifest["stages"]}[f"dedup_{method}"]
    return {
        "docs": stage["in"],
        "reconciled": not manifest["unreconciled"],
        "unreconciled": manifest["unreconciled"],
        "runner_discard_logs": num_discard_logs,
        "held_back_write_logs": num_held_back_logs,
        "out": stage["out"],
        "dropped": stage["dropped"],
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "docs_per_s_wall": round(stage["in"] / wall_s, 1),
        "docs_per_cpu_s": round(stage["in"] / cpu_s, 1),
        "peak_rss_mb_runner": round(peak_runner / 1e6),
        "peak_rss_mb_largest_worker": round(max(peak_workers.values(), default=0) / 1e6),
        "num_worker_processes": len(peak_workers),
        "output_sha256": output_digest(output_dir),
        "log": str(log_path),
        "stats": {k: v for k, v in stage["stats"].items() if not k.startswith("clusters_by_size")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-docs", type=int, default=6250)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[2], help="worker processes per run; 0 = in-process runner"
    )
    parser.add_argument("--method", choices=("minhash", "exact"), default="minhash")
    parser.add_argument(
        "--malloc-env",
        action="store_true",
        help="run the runner process too with PYTHONMALLOC=malloc MALLOC_ARENA_MAX=2 (--workers N gives them to the "
        "SDK worker processes anyway: pipeline.beam_fixes.LOCAL_WORKER_ENV)",
    )
    parser.add_argument("--workdir", default="/tmp/bench_dedup")
    parser.add_argument("--results", default=str(REPO / "bench" / "results" / "bench_dedup.json"))
    args = parser.parse_args()
    workdir = Path(args.workdir)
    rows = []
    for scale in args.scales:
        num_docs = args.base_docs * scale
        input_dir = make_input(num_docs, workdir / f"input-{num_docs}")
        for workers in args.workers:
            out_dir = workdir / f"out-{num_docs}-w{workers}{'-malloc' if args.malloc_env else ''}"
            row = {
                "scale": scale,
                "workers": workers,
                "malloc_env": args.malloc_env,
                **run_dedup(input_dir, out_dir, workers, args.method, malloc_env=args.malloc_env),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    header = (
        "scale",
        "workers",
        "docs",
        "wall s",
        "CPU s",
        "docs/s wall",
        "docs/CPU-s",
        "RSS runner MB",
        "RSS worker MB",
        "reconciled",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        cells = (
            r["scale"],
            r["workers"] or "in-process",
            r["docs"],
            r["wall_s"],
            r["cpu_s"],
            r["docs_per_s_wall"],
            r["docs_per_cpu_s"],
            r["peak_rss_mb_runner"],
            r["peak_rss_mb_largest_worker"],
            "yes" if r["reconciled"] else f"NO: {r['unreconciled']}",
        )
        print("| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in cells) + " |")
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps({"method": args.method, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
