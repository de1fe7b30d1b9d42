"""Build the vector part of an index: chunk + embed every document with Apache Beam, then the ANN graph.

The per-document work (cutting passages, running the embedding model) is a Beam pipeline, so a large corpus can
be embedded on a runner with many workers; the model is loaded in ``DoFn.setup()``. Stages, counted with
``pipeline/stage.py``'s conventions (in == out + dropped + failed):

  ``read_shards``  shard rows, in the order of the n-gram index's manifest (so passages join to its documents)
  ``chunk``        documents -> their passages; a document with no text is dropped (``no_text``)
  ``embed``        passages -> vectors, in batches; a passage the model fails on is counted ``failed.<kind>``

Workers write their vectors to ``vector/parts/``; the driver then sorts every passage by (document position,
chunk), which makes the output the same whatever the runner, the number of workers or the batching, writes
``passages.parquet`` + ``vectors.npy``, and builds the usearch graph from the written vectors.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq

from index import vector
from index.chunking import ChunkConfig, chunk_spans
from index.ngram import IndexStateError, read_manifest
from pipeline import manifest as mf
from pipeline.config import OutputConfig
from pipeline.read_shards import READ_STAGE, iter_shard_rows
from pipeline.schema import REJECT_SCHEMA
from pipeline.stage import REJECTS, CountedDoFn, CountedStage, Drop, LogProgress, count, reject_row
from pipeline.write_parquet import WriteShards, reject_sort_key

log = logging.getLogger(__name__)

CHUNK_STAGE, EMBED_STAGE = "chunk", "embed"
PARTS_DIR, REJECTS_DIR = "parts", "rejects"
MIN_BATCH, MAX_BATCH = 8, 64  # passages per model call: big enough to keep every engine thread busy


class ReadNumberedRows(beam.DoFn):
    """``(shard position, path)`` -> ``{"pos": (shard position, row), "id", "text"}`` for each row."""

    def process(self, element: tuple[int, str]):
        shard_pos, path = element
        for row, doc in enumerate(iter_shard_rows(path, ["id", "text"])):
            count(READ_STAGE, "in")
            count(READ_STAGE, "out")
            yield {"pos": (shard_pos, row), "id": doc["id"], "text": doc["text"]}


class ChunkDoc(CountedDoFn):
    """Document -> the same record with its passage spans; no passage (empty or blank text) is a drop."""

    stage = CHUNK_STAGE

    def __init__(self, cfg: ChunkConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop:
        text = doc.get("text")
        spans = chunk_spans(text, self._cfg) if isinstance(text, str) else []
        if not spans:
            return Drop("no_text")
        count(self.stage, "stats.passages", len(spans))
        return {**doc, "spans": spans}


def passages_of(doc: dict[str, Any]):
    shard_pos, row = doc["pos"]
    for chunk, (start, end) in enumerate(doc["spans"]):
        yield {"key": (shard_pos, row, chunk), "id": doc["id"], "span": (start, end), "text": doc["text"][start:end]}


class EmbedBatch(beam.DoFn):
    """A batch of passages -> one ``.npz`` part file of their keys, spans and vectors; failures to rejects."""

    def __init__(self, embedder_spec: str, parts_dir: str, num_threads: int) -> None:
        self._spec = embedder_spec
        self._parts_dir = parts_dir
        self._num_threads = num_threads
        self._warned: set[str] = set()

    def setup(self) -> None:
        self._embedder = vector.load_embedder(self._spec, num_threads=self._num_threads)

    def _fail(self, passage: dict[str, Any], exc: Exception):
        kind = type(exc).__name__
        count(EMBED_STAGE, f"failed.{kind}")
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("embed: first failure of kind %s: %s", kind, str(exc)[:300])
        record = {"id": passage["id"], "text": passage["text"], "source_ref": "passage {}:{}".format(*passage["span"])}
        return beam.pvalue.TaggedOutput(REJECTS, reject_row(EMBED_STAGE, "failed", kind, str(exc), record))

    def process(self, batch: list[dict[str, Any]]):
        count(EMBED_STAGE, "in", len(batch))
        try:
            vecs = self._embedder.embed_passages([p["text"] for p in batch])
            good = list(range(len(batch)))
        except Exception:  # noqa: BLE001 - find the passage(s) at fault one by one; the rest still count
            rows, good = [], []
            for i, p in enumerate(batch):
                try:
                    rows.append(self._embedder.embed_passages([p["text"]])[0])
                    good.append(i)
                except Exception as exc:  # noqa: BLE001 - the dead-letter path: count, reject, go on
                    yield self._fail(p, exc)
            vecs = np.stack(rows) if rows else np.zeros((0, self._embedder.dims), np.float32)
        finite = np.isfinite(vecs).all(axis=1)
        for i in np.flatnonzero(~finite).tolist():
            yield self._fail(batch[good[i]], ValueError("non-finite embedding"))
        kept = [batch[good[i]] for i in np.flatnonzero(finite).tolist()]
        if not kept:
            return
        keys = np.asarray([p["key"] for p in kept], dtype=np.int64)
        # Named by its first passage: a retried bundle rewrites the same file.
        shard_pos, row, chunk = min(p["key"] for p in kept)
        name = f"part-{shard_pos:05d}-{row:09d}-{chunk:05d}.npz"
        path = Path(self._parts_dir, name)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(
            partial,
            keys=keys,
            spans=np.asarray([p["span"] for p in kept], dtype=np.int64),
            ids=np.asarray([p["id"] for p in kept], dtype=object),
            vectors=vecs[finite].astype(np.float32),
        )
        os.replace(partial, path)
        count(EMBED_STAGE, "out", len(kept))
        yield name


def expand_pipeline(
    p: beam.Pipeline,
    shards: list[tuple[int, str]],
    embedder_spec: str,
    cfg: ChunkConfig,
    vector_dir: str,
    num_threads: int,
) -> None:
    docs = (
        p
        | "Shards" >> beam.Create(shards)
        | "SpreadShards" >> beam.Reshuffle()
        | "ReadShardRows" >> beam.ParDo(ReadNumberedRows())
    )
    chunked, chunk_rejects = docs | "Chunk" >> CountedStage(ChunkDoc(cfg))
    embedded = (
        chunked
        | "Passages" >> beam.FlatMap(passages_of)
        | "SpreadPassages" >> beam.Reshuffle()
        | "Batch" >> beam.BatchElements(min_batch_size=MIN_BATCH, max_batch_size=MAX_BATCH)
        | "Embed"
        >> beam.ParDo(EmbedBatch(embedder_spec, str(Path(vector_dir, PARTS_DIR)), num_threads)).with_outputs(
            REJECTS, main="parts"
        )
    )
    _ = embedded.parts | "Progress" >> beam.ParDo(LogProgress("embedded batches"))
    _ = (
        (chunk_rejects, embedded[REJECTS])
        | "AllRejects" >> beam.Flatten()
        | "WriteRejects"
        >> WriteShards(vector_dir, REJECTS_DIR, REJECT_SCHEMA, OutputConfig(), sort_key=reject_sort_key)
    )


def _collect_parts(parts_dir: Path, dims: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """All part files -> (keys, spans, ids, vectors) sorted by key; a passage written twice (a retried bundle
    with other batching) is kept once."""
    keys, spans, ids, vecs = [], [], [], []
    for path in sorted(parts_dir.glob("part-*.npz")):
        with np.load(path, allow_pickle=True) as part:  # our own files: ids are a str object array
            keys.append(part["keys"])
            spans.append(part["spans"])
            ids.extend(part["ids"].tolist())
            vecs.append(part["vectors"])
    if not keys:
        return np.zeros((0, 3), np.int64), np.zeros((0, 2), np.int64), [], np.zeros((0, dims), np.float32)
    k, s, v = np.concatenate(keys), np.concatenate(spans), np.concatenate(vecs)
    order = np.lexsort((k[:, 2], k[:, 1], k[:, 0]))
    k, s, v = k[order], s[order], v[order]
    ids_sorted = [ids[i] for i in order.tolist()]
    unique = np.ones(len(k), dtype=bool)
    unique[1:] = (k[1:] != k[:-1]).any(axis=1)
    return k[unique], s[unique], [i for i, u in zip(ids_sorted, unique.tolist(), strict=True) if u], v[unique]


def build(
    index_dir: str | Path,
    embedder: str | vector.Embedder = vector.DEFAULT_EMBEDDER,
    cfg: ChunkConfig | None = None,
    *,
    beam_args: list[str] | None = None,
    workers: int = 0,
    num_threads: int = 0,
) -> dict[str, Any]:
    """Embed the documents of an n-gram index directory's shards and write its vector part; returns the
    manifest's ``vector`` section (also written into manifest.json)."""
    from pipeline.run import beam_options

    cfg = cfg or ChunkConfig()
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    root = Path(index_dir).resolve()  # workers in other processes write their parts here
    manifest = read_manifest(root)
    vector.attach_to_manifest(root, None)  # until the new part is complete, the index has none
    # The driver loads the embedder too: a name that cannot load fails before the pipeline starts, and its version
    # and dims go in the manifest. Workers load it again in DoFn.setup() from its spec.
    if isinstance(embedder, str):
        embedder = vector.load_embedder(embedder, num_threads=num_threads)
    if workers > 0 and num_threads == 0:
        num_threads = max(1, (os.cpu_count() or 1) // workers)  # one engine per worker process: share the cores
    vdir = root / vector.VECTOR_DIR
    if vdir.exists():
        shutil.rmtree(vdir)
    (vdir / PARTS_DIR).mkdir(parents=True)
    shards_root = Path(manifest["shards_dir"])
    shards = [(pos, str(shards_root / s["name"])) for pos, s in enumerate(manifest["shards"])]
    options = beam_options(list(beam_args or []), workers)
    log.info("embedding the documents of %d shard(s) with %s (%s)", len(shards), embedder.model, embedder.version)
    p = beam.Pipeline(options=options)
    expand_pipeline(p, shards, embedder.spec, cfg, str(vdir), num_threads)
    result = p.run()
    result.wait_until_finish()
    t_embed = time.perf_counter()
    cpu_embed = _cpu_seconds() - cpu0

    keys, spans, ids, vecs = _collect_parts(vdir / PARTS_DIR, embedder.dims)
    doc_start = np.cumsum([0] + [int(s["num_docs"]) for s in manifest["shards"]])
    doc_index = doc_start[keys[:, 0]] + keys[:, 1] if len(keys) else np.zeros(0, np.int64)
    docs = pq.read_table(root / "docs.parquet", columns=["doc_id"]).column("doc_id").to_pylist()
    if any(docs[i] != doc_id for i, doc_id in zip(doc_index.tolist(), ids, strict=True)):
        raise IndexStateError(f"the shards under {str(shards_root)!r} changed while indexing: rebuild the index")
    passages = {
        "doc_index": doc_index.tolist(),
        "doc_id": ids,
        "chunk": keys[:, 2].tolist(),
        "char_start": spans[:, 0].tolist(),
        "char_end": spans[:, 1].tolist(),
    }
    t_ann = time.perf_counter()
    written = vector.write_vector_part(root, passages, vecs)
    ann_s = time.perf_counter() - t_ann
    shutil.rmtree(vdir / PARTS_DIR)

    stages = mf.build_stages(mf.counters_by_stage(result), [READ_STAGE, CHUNK_STAGE, EMBED_STAGE])
    by_name = {s["name"]: s for s in stages}
    problems = [f"stage {s['name']}: in != out + dropped + failed" for s in stages if not s["reconciled"]]
    if by_name.get(READ_STAGE, {}).get("out", 0) != manifest["num_docs"]:
        problems.append(f"read_shards.out != the index's {manifest['num_docs']} documents")
    if by_name.get(READ_STAGE, {}).get("out", 0) != by_name.get(CHUNK_STAGE, {}).get("in", 0):
        problems.append("read_shards.out != chunk.in")
    if by_name.get(CHUNK_STAGE, {}).get("stats", {}).get("passages", 0) != by_name.get(EMBED_STAGE, {}).get("in", 0):
        problems.append("chunk passages != embed.in")
    if by_name.get(EMBED_STAGE, {}).get("out", 0) != written["num_passages"]:
        problems.append(f"passages written ({written['num_passages']}) != embed.out")
    embed_wall_s = t_embed - t0
    section = {
        "format": vector.FORMAT_NAME,
        "version": vector.FORMAT_VERSION,
        "embedder": {
            "spec": embedder.spec,
            "model": embedder.model,
            "version": embedder.version,
            "dims": embedder.dims,
            **({"weights_sha256": embedder.weights_sha256()} if hasattr(embedder, "weights_sha256") else {}),
        },
        "chunking": {"max_chars": cfg.max_chars, "min_chars": cfg.min_chars, "overlap_chars": cfg.overlap_chars},
        **written,
        "num_docs_with_passages": int(len(np.unique(doc_index))),
        "exact_max_passages": vector.EXACT_MAX_PASSAGES,
        "libraries": vector.library_versions() | {"apache-beam": beam.__version__},
        "beam_options": options.get_all_options(drop_default=True),
        "stages": stages,
        "unreconciled": problems,
        "build_seconds": {
            "chunk_embed": round(embed_wall_s, 3),
            "ann": round(ann_s, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
        # CPU time of this process and its finished children: the per-core cost on a shared machine.
        "embed_cpu_seconds": round(cpu_embed, 3),
    }
    vector.attach_to_manifest(root, section)
    log.info(
        "embedded %d passages of %d documents in %.1f s (%.1f CPU s); ANN graph %.1f s",
        written["num_passages"], section["num_docs_with_passages"], embed_wall_s, cpu_embed, ann_s,
    )  # fmt: skip
    return section


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
