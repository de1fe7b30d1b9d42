"""Deterministic, atomic Parquet shards: ``DIR/<subdir>/part-XXXXX-of-YYYYY.parquet``.

Determinism: the shard count is ``ceil(rows / max_rows_per_shard)`` (computed from a global count), a row's shard
is a stable hash of its sort key modulo that count, and rows are sorted by the key inside a shard — so the same
input and config give byte-identical files on any runner and any number of workers.

Atomicity: a shard is written to a hidden temporary name and renamed once complete; a killed run never leaves a
half shard that looks finished. The written file is re-read (footer row count) before the rename.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.config import OutputConfig

log = logging.getLogger(__name__)

SortKey = Callable[[dict[str, Any]], tuple]


def doc_sort_key(row: dict[str, Any]) -> tuple:
    """Shard rows sort by id; source_ref and text break ties so the order is total even for repeated inputs."""
    return (row["id"], row.get("source_ref") or "", row.get("text") or "")


def reject_sort_key(row: dict[str, Any]) -> tuple:
    return tuple(row.get(k) or "" for k in ("stage", "source_ref", "id", "reason", "detail"))


def num_shards_for(num_rows: int, max_rows_per_shard: int) -> int:
    return max(1, math.ceil(num_rows / max_rows_per_shard))


def shard_of(key: tuple, num_shards: int) -> int:
    digest = hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def shard_name(index: int, num_shards: int) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def join_path(*parts: str) -> str:
    return FileSystems.join(*parts) if len(parts) > 1 else parts[0]


SHARD_INFO_DIR = "_shard_info"  # per-shard JSON records (rows, sha256): completion markers read by the manifest


def write_shard(
    rows: Iterable[dict[str, Any]],
    output_dir: str,
    subdir: str,
    index: int,
    num_shards: int,
    schema: pa.Schema,
    cfg: OutputConfig,
    sort_key: SortKey,
) -> dict[str, Any]:
    """Write one shard atomically, then its info record; returns ``{"path", "rows", "sha256", "bytes"}``.

    ``path`` is relative to ``output_dir``. The info record under ``_shard_info/`` is written after the rename, so
    its presence means the shard is complete.
    """
    directory = join_path(output_dir, subdir)
    ordered = sorted(rows, key=sort_key)
    table = pa.Table.from_pylist(ordered, schema=schema)
    buf = io.BytesIO()
    pq.write_table(
        table, buf, compression=cfg.compression, compression_level=cfg.compression_level, write_statistics=True
    )
    data = buf.getvalue()
    # Verify what we are about to publish: the footer must parse and count the rows we meant to write.
    written_rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    assert written_rows == len(ordered), (written_rows, len(ordered))
    name = shard_name(index, num_shards)
    final = join_path(directory, name)
    tmp = join_path(directory, f".{name}.tmp-{uuid.uuid4().hex}")
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    info = {
        "path": f"{subdir}/{name}",
        "rows": len(ordered),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    info_dir = join_path(output_dir, SHARD_INFO_DIR, subdir)
    with FileSystems.create(join_path(info_dir, name + ".json"), compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(json.dumps(info).encode("utf-8"))
    return info


def read_shard_infos(output_dir: str, subdir: str) -> list[dict[str, Any]]:
    """The info records of the shards written under ``output_dir/subdir``, sorted by path."""
    pattern = join_path(output_dir, SHARD_INFO_DIR, subdir, "*.json")
    infos = []
    for m in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(m.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            infos.append(json.loads(f.read().decode("utf-8")))
    return sorted(infos, key=lambda i: i["path"])


class WriteShards(beam.PTransform):
    """Write a PCollection of dicts as deterministic shards under ``output_dir/subdir``.

    Returns a PCollection of shard records (``path`` relative to ``output_dir``, ``rows``, ``sha256``, ``bytes``).
    An empty input still writes one empty shard, so the dataset is readable with its schema.
    """

    def __init__(
        self, output_dir: str, subdir: str, schema: pa.Schema, cfg: OutputConfig, sort_key: SortKey = doc_sort_key
    ) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._subdir = subdir
        self._schema = schema
        self._cfg = cfg
        self._sort_key = sort_key

    def expand(self, rows):
        output_dir, subdir, schema, cfg, sort_key = (
            self._output_dir,
            self._subdir,
            self._schema,
            self._cfg,
            self._sort_key,
        )
        num_shards = (
            rows
            | "CountRows" >> beam.combiners.Count.Globally()
            | "NumShards" >> beam.Map(num_shards_for, cfg.max_rows_per_shard)
        )

        def key_by_shard(row, n):
            return shard_of(sort_key(row), n), row

        def write(keyed, n):
            index, shard_rows = keyed
            real_rows = (row for row in shard_rows if row is not None)
            return write_shard(real_rows, output_dir, subdir, index, n, schema, cfg, sort_key)

        keyed = rows | "KeyByShard" >> beam.Map(key_by_shard, beam.pvalue.AsSingleton(num_shards))
        # One placeholder per shard index, so a shard that no row hashes to is still written (empty): the dataset
        # always has every part-i-of-n, and an empty input gives one readable empty shard.
        placeholders = (
            rows.pipeline
            | "ShardTrigger" >> beam.Create([None])
            | "ShardPlaceholders"
            >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], beam.pvalue.AsSingleton(num_shards))
        )
        return (
            (keyed, placeholders)
            | "WithPlaceholders" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(write, beam.pvalue.AsSingleton(num_shards))
        )


def prepare_output_dir(output_dir: str, subdirs: tuple[str, ...], overwrite: bool) -> None:
    """Make ``output_dir``; refuse to mix with an earlier run's shards unless ``overwrite`` (then remove them)."""
    from jpcorpus.errors import UsageError

    existing = []
    for sub in (*subdirs, SHARD_INFO_DIR):
        d = join_path(output_dir, sub)
        if FileSystems.exists(d):
            existing.append(d)
    manifest = join_path(output_dir, "manifest.json")
    if FileSystems.exists(manifest):
        existing.append(manifest)
    if existing and not overwrite:
        raise UsageError(
            f"output directory {output_dir!r} already holds a run ({', '.join(existing)}); pass --overwrite"
        )
    if existing:
        FileSystems.delete(existing)
    for sub in subdirs:
        d = join_path(output_dir, sub)
        if not FileSystems.exists(d):
            FileSystems.mkdirs(d)
