"""MinHash dedup benchmarks (issue 4). Every figure is measured in this process against a baseline run alongside it.

    python bench/bench_minhash.py signatures [--docs 2000]     # docs/s and MB/s: ours vs datasketch vs rensa
    python bench/bench_minhash.py quality [--originals 60]     # recall/precision of each banding preset
    python bench/bench_minhash.py stage --docs 6250 --scales 1 4 16 [--workers 2]
                                                               # Beam stage docs/s and peak worker RSS vs size

Signature input: 2,000-character windows of Aozora Bunko works (real Japanese). Stage input: those windows,
duplicated and perturbed (1-3% character edits) up to the requested size, generated inside the pipeline.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402
from dedup_corpus import aozora_chunks, aozora_windows, edit, pair_scores, planted_corpus, true_jaccard_pairs  # noqa: E402

from pipeline import minhash  # noqa: E402
from pipeline.dedup_config import DedupConfig, MinHashConfig, NormalizeConfig  # noqa: E402


def _rate(fn, num_docs: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return num_docs / best


def bench_signatures(num_docs: int, num_perm: int) -> dict:
    import datasketch
    import rensa

    texts = aozora_chunks(num_docs, 2000)
    norm_cfg = NormalizeConfig()
    mb = sum(len(t.encode("utf-8")) for t in texts) / num_docs / 1e6  # MB per document

    def shingles(text: str) -> list[str]:
        return [text[i : i + 5] for i in range(len(text) - 4)]

    def datasketch_per_doc(subset: list[str]) -> None:
        for t in subset:
            m = datasketch.MinHash(num_perm=num_perm)
            m.update_batch([s.encode("utf-8") for s in shingles(minhash.normalize(t, norm_cfg))])

    def rensa_per_doc() -> None:
        for t in texts:
            m = rensa.RMinHash(num_perm, 1)
            m.update(shingles(minhash.normalize(t, norm_cfg)))
            m.digest()

    def ours(backend: str, batch: int = 256) -> None:
        cfg = MinHashConfig(backend=backend, num_perm=num_perm)
        for i in range(0, num_docs, batch):
            norm = [minhash.normalize(t, norm_cfg) for t in texts[i : i + batch]]
            minhash.signatures(*minhash.shingle_hashes(norm, 5), cfg)

    num_ds = max(50, num_docs // 10)  # datasketch is slow: a tenth of the documents is enough for a rate
    rates = {
        "datasketch_per_doc": _rate(lambda: datasketch_per_doc(texts[:num_ds]), num_ds, repeats=1),
        "rensa_per_doc": _rate(rensa_per_doc, num_docs),
        "ours_rensa_batched": _rate(lambda: ours("rensa"), num_docs),
        "ours_datasketch_batched": _rate(lambda: ours("datasketch"), num_docs),
    }
    base = rates["datasketch_per_doc"]
    return {
        "docs": num_docs,
        "chars_per_doc": 2000,
        "num_perm": num_perm,
        "docs_per_s": {k: round(v, 1) for k, v in rates.items()},
        "mb_per_s": {k: round(v * mb, 2) for k, v in rates.items()},
        "x_datasketch": {k: round(v / base, 2) for k, v in rates.items()},
        "x_rensa_per_doc": {k: round(v / rates["rensa_per_doc"], 2) for k, v in rates.items()},
    }


def _collect_clusters(docs: list[dict], cfg: DedupConfig, workdir: Path) -> tuple[dict[str, str], dict, float]:
    sys.path.insert(0, str(REPO / "tests"))
    from test_dedup_beam import run_dedup

    start = time.perf_counter()
    kept, rejects, stages = run_dedup(workdir, docs, cfg)
    wall_s = time.perf_counter() - start
    cluster_of = {d["id"]: d["cluster_id"] for d in kept} | {r["id"]: r["detail"] for r in rejects}
    return cluster_of, stages["dedup_minhash"]["stats"], wall_s


def bench_quality(num_originals: int, num_unrelated: int, workdir: Path) -> list[dict]:
    docs = planted_corpus(num_originals, num_unrelated, 2000, seed=7)
    truth = true_jaccard_pairs(docs, 5, NormalizeConfig())
    rows = []
    settings = [
        ("threshold", 128),
        ("fineweb", 112),
        ("nemo", 260),
        ("swallow", 800),
    ]
    for banding, num_perm in settings:
        for verify in (True, False):
            cfg = DedupConfig(minhash=MinHashConfig(banding=banding, num_perm=num_perm, verify=verify))
            cluster_of, stats, wall_s = _collect_clusters(docs, cfg, workdir / f"{banding}-{verify}")
            scores = pair_scores(truth, cluster_of, 0.8)
            rows.append(
                {
                    "banding": banding,
                    "bands_x_rows": "x".join(map(str, minhash.lsh_params(cfg.minhash))),
                    "verify": verify,
                    "docs": len(docs),
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
                    "candidate_pairs": stats.get("candidate_pairs", 0),
                    "verified_pairs": stats.get("verified_pairs", 0),
                    "wall_s": round(wall_s, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _stage_docs(i: int, windows: list[str]) -> dict:
    from pipeline.schema import new_doc

    rng = random.Random(i)
    text = windows[i % len(windows)]
    if i >= len(windows):  # every copy past the first is perturbed: 1-3% edits (J ~ 0.75-0.9 to the original)
        text = edit(text, rng.choice((0.01, 0.02, 0.03)), rng)
    return new_doc(id=f"d{i:07d}", text=text, source="bench", source_ref=f"bench:{i}")


def run_stage_once(num_docs: int, workers: int) -> dict:
    """One Beam run of the MinHash dedup stage over ``num_docs`` generated documents (called in a subprocess)."""
    import apache_beam as beam
    import dedup_corpus
    from apache_beam.internal.cloudpickle import cloudpickle
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.dedup import Dedup
    from pipeline.manifest import counters_by_stage

    # Worker processes cannot import the test helpers: ship them by value.
    cloudpickle.register_pickle_by_value(dedup_corpus)
    windows = aozora_windows(200, 2000, seed=1)
    argv = ["--runner=FnApiRunner"]
    if workers:
        argv += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(argv)) as p:
        docs = p | beam.Create(range(num_docs)) | beam.Reshuffle() | beam.Map(_stage_docs, windows)
        kept, rejects = docs | Dedup(DedupConfig())
        _ = kept | "CountKept" >> beam.combiners.Count.Globally()
    wall_s = time.perf_counter() - start
    counters = counters_by_stage(p.result)["dedup_minhash"]
    return {
        "docs": num_docs,
        "workers": workers,
        "wall_s": round(wall_s, 1),
        "docs_per_s": round(num_docs / wall_s, 1),
        "out": counters.get("out", 0),
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_mb_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def bench_stage(base_docs: int, scales: list[int], workers: int) -> list[dict]:
    rows = []
    for scale in scales:
        # A fresh process per size, so peak RSS belongs to that size alone.
        cmd = [sys.executable, __file__, "_stage_once", "--docs", str(base_docs * scale), "--workers", str(workers)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append({"scale": scale, **json.loads(out)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("signatures", "quality", "stage", "_stage_once"))
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--originals", type=int, default=60)
    parser.add_argument("--unrelated", type=int, default=40)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp/bench_minhash")
    args = parser.parse_args()
    np.seterr(over="ignore")
    if args.what == "signatures":
        print(json.dumps(bench_signatures(args.docs, args.num_perm), indent=2))
    elif args.what == "quality":
        bench_quality(args.originals, args.unrelated, Path(args.workdir))
    elif args.what == "stage":
        bench_stage(args.docs, args.scales, args.workers)
    else:
        print(json.dumps(run_stage_once(args.docs, args.workers)))


if __name__ == "__main__":
    main()
