"""MinHash dedup benchmarks (issue 4). Every figure is measured in this process against a baseline run alongside it.

    python bench/bench_minhash.py signatures [--docs 2000]     # docs/s and MB/s: ours vs datasketch vs rensa
    python bench/bench_minhash.py quality [--originals 60]     # recall/precision of each banding preset

Signature input: 2,000-character windows of Aozora Bunko works (real Japanese). The whole-stage benchmark (docs/s
per core, peak RSS of runner and workers against input size) is bench/bench_dedup.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402
from dedup_corpus import aozora_chunks, pair_scores, planted_corpus, true_jaccard_pairs  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("signatures", "quality"))
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--originals", type=int, default=60)
    parser.add_argument("--unrelated", type=int, default=40)
    parser.add_argument("--workdir", default="/tmp/bench_minhash")
    args = parser.parse_args()
    np.seterr(over="ignore")
    if args.what == "signatures":
        print(json.dumps(bench_signatures(args.docs, args.num_perm), indent=2))
    else:
        bench_quality(args.originals, args.unrelated, Path(args.workdir))


if __name__ == "__main__":
    main()
