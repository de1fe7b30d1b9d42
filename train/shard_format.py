"""Token shard layout written by ``jpcorpus tokenize`` and read by ``train.data`` (torch-free, Beam-free).

A token directory ``TOKENS_DIR`` holds::

    meta.json                         format/version, dtype, vocab size, EOS id, tokenizer sha256, shard list
    manifest.json                     counts for people: documents and tokens per source and per shard
    train/tokens-00000.bin            token ids, little-endian, ``dtype`` (uint16 if vocab <= 65536 else uint32),
    train/tokens-00000.idx.parquet    one row per document: doc_id, source, offset (tokens), num_tokens
    val/...                           the same for the validation split

Every document's tokens end with EOS, so packing documents back to back keeps the boundaries visible to the
model. The ``.bin`` files have no header, so ``numpy.memmap(path, dtype)`` reads them directly (nanoGPT's
``train.bin``); the index and ``meta.json`` carry everything else. A shard is written under a temporary name and
renamed, and its byte size is checked against its index when it is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMAT_NAME = "jpcorpus-tokens"
FORMAT_VERSION = 1
SPLITS = ("train", "val")
META_FILE = "meta.json"

INDEX_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),  # tokens from the start of the .bin file
        pa.field("num_tokens", pa.int64(), nullable=False),  # including the trailing EOS
    ]
)


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (halves disk and page-cache use), else uint32."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be > 0, got {vocab_size}")
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


def shard_stem(split: str, index: int) -> str:
    return f"{split}/tokens-{index:05d}"


def hash_unit(doc_id: str, salt: str) -> float:
    """A deterministic number in [0, 1) from a document id: the same id always lands in the same split/shard."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=salt.encode("ascii")[:16]).digest()
    return int.from_bytes(digest, "little") / 2**64


def assign(doc_id: str, val_fraction: float, num_train_shards: int, num_val_shards: int) -> tuple[str, int]:
    """(split, shard index) of a document, from hashes of its id only (order- and runner-independent)."""
    split = "val" if hash_unit(doc_id, "split") < val_fraction else "train"
    num_shards = num_val_shards if split == "val" else num_train_shards
    return split, min(int(hash_unit(doc_id, "shard") * num_shards), num_shards - 1)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_shard(
    out_dir: str | Path, stem: str, docs: list[tuple[str, str, np.ndarray]], dtype: np.dtype
) -> dict[str, Any]:
    """Write one shard from ``(doc_id, source, tokens)`` sorted by doc_id; returns its summary.

    Both files are written under a temporary name and renamed, index last, so a shard is either complete or
    absent (a rerun overwrites it).
    """
    out_dir = Path(out_dir)
    bin_path = out_dir / f"{stem}.bin"
    idx_path = out_dir / f"{stem}.idx.parquet"
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    offsets, lengths = [], []
    offset = 0
    tmp_bin = bin_path.with_name(bin_path.name + ".partial")
    with open(tmp_bin, "wb") as f:
        for _doc_id, _source, tokens in docs:
            arr = np.asarray(tokens, dtype=dtype)
            f.write(arr.tobytes())
            offsets.append(offset)
            lengths.append(len(arr))
            offset += len(arr)
    os.replace(tmp_bin, bin_path)
    table = pa.table(
        {
            "doc_id": [d[0] for d in docs],
            "source": [d[1] for d in docs],
            "offset": pa.array(offsets, pa.int64()),
            "num_tokens": pa.array(lengths, pa.int64()),
        },
        schema=INDEX_SCHEMA,
    )
    tmp_idx = idx_path.with_name(idx_path.name + ".partial")
    pq.write_table(table, tmp_idx)
    os.replace(tmp_idx, idx_path)
    return {"stem": stem, "num_docs": len(docs), "num_tokens": offset, "bin_sha256": file_sha256(bin_path)}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenShard:
    """One opened shard: a read-only memmap of its tokens plus its document index."""

    stem: str
    tokens: np.ndarray  # (num_tokens,) memmap
    doc_ids: list[str]
    sources: list[str]
    offsets: np.ndarray  # (num_docs,) int64
    lengths: np.ndarray  # (num_docs,) int64


def read_meta(tokens_dir: str | Path) -> dict[str, Any]:
    path = Path(tokens_dir) / META_FILE
    if not path.is_file():
        raise ValueError(f"{tokens_dir}: not a token directory (no {META_FILE}); run `jpcorpus tokenize` first")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported token format {meta.get('format')!r} v{meta.get('version')!r}")
    return meta


def open_shard(tokens_dir: str | Path, stem: str, dtype: np.dtype) -> TokenShard:
    """Open a shard, checking that the .bin size matches the index (a truncated copy is an error, not garbage)."""
    tokens_dir = Path(tokens_dir)
    bin_path = tokens_dir / f"{stem}.bin"
    idx_path = tokens_dir / f"{stem}.idx.parquet"
    for p in (bin_path, idx_path):
        if not p.is_file():
            raise ValueError(f"token shard file missing: {p}")
    table = pq.read_table(idx_path)
    offsets = table.column("offset").to_numpy().astype(np.int64)
    lengths = table.column("num_tokens").to_numpy().astype(np.int64)
    num_tokens = int(lengths.sum())
    size = bin_path.stat().st_size
    if size != num_tokens * dtype.itemsize:
        raise ValueError(
            f"{bin_path}: {size} bytes but its index lists {num_tokens} tokens of {dtype.itemsize} bytes "
            "(truncated or mismatched shard)"
        )
    tokens = np.memmap(bin_path, dtype=dtype, mode="r") if num_tokens else np.zeros(0, dtype=dtype)
    return TokenShard(
        stem=stem,
        tokens=tokens,
        doc_ids=table.column("doc_id").to_pylist(),
        sources=table.column("source").to_pylist(),
        offsets=offsets,
        lengths=lengths,
    )
