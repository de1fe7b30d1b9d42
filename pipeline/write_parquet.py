"""Deterministic, atomic Parquet shards: ``DIR/<subdir>/part-XXXXX-of-YYYYY.parquet``.

Determinism: the shard count is ``ceil(rows / max_rows_per_shard)`` (computed from a global count), a row's shard
is a stable hash of its sort key modulo that count, and rows are sorted by the key inside a shard — so the same
input and config give byte-identical files on any runner and any number of workers (row groups of
``row_group_rows``).

Bounded memory: no worker ever holds a whole shard. A shard's rows are spread (by another hash of the sort key)
over ``ceil(rows per shard / sort_run_rows)`` runs; each run is grouped, sorted in memory and written as a
temporary Parquet file under ``DIR/_tmp_<subdir>/``; then the shard is a streaming k-way merge of its sorted runs
(a few hundred rows of each at a time), written row group by row group. A worker holds at most one run
(``sort_run_rows`` rows) or, while merging, ``MERGE_BATCH_ROWS`` rows per run plus one row group: figures set by
the config, not by the shard or the corpus. The runs (and leftovers of retried bundles) are deleted with that
directory once every shard is written, so a retried merge still finds its runs.

Atomicity: a shard is written to a hidden temporary name and renamed once complete; a killed run never leaves a
half shard that looks finished. The written file's footer is re-read (row count) before the rename.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
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


def _key_bytes(key: tuple) -> bytes:
    return repr(key).encode("utf-8")


def _hash64(data: bytes, person: bytes = b"") -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "big")


RUN_PERSON = b"jpc-sort-run"  # keeps a row's run independent of its shard


def shard_of(key: tuple, num_shards: int) -> int:
    return _hash64(_key_bytes(key)) % num_shards


def run_of(key: tuple, num_runs: int) -> int:
    """The sorted run of a row inside its shard: a hash independent of :func:`shard_of`'s."""
    return _hash64(_key_bytes(key), RUN_PERSON) % num_runs


def shard_layout(num_rows: int, cfg: OutputConfig) -> tuple[int, int]:
    """``(number of shards, sorted runs per shard)`` for ``num_rows`` rows."""
    num_shards = num_shards_for(num_rows, cfg.max_rows_per_shard)
    rows_per_shard = math.ceil(num_rows / num_shards)
    return num_shards, max(1, math.ceil(rows_per_shard / cfg.sort_run_rows))


def shard_name(index: int, num_shards: int) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def join_path(*parts: str) -> str:
    return FileSystems.join(*parts) if len(parts) > 1 else parts[0]


SHARD_INFO_DIR = "_shard_info"  # per-shard JSON records (rows, sha256): completion markers read by the manifest
TEMP_PREFIX = "_tmp_"  # + subdir: sorted runs waiting to be merged into their shard
MERGE_BATCH_ROWS = 256  # rows read from each sorted run at a time while merging (also a run file's row group)
RUN_COMPRESSION = "lz4"


class _HashingSink:
    """A write-only file that passes bytes on and keeps their SHA-256 and count (the shard's info record)."""

    def __init__(self, f) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data).cast("B")  # pyarrow hands over its buffers: hash and pass them on without a copy
        self._f.write(view)
        self.sha256.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _write_row_groups(writer: pq.ParquetWriter, rows: Iterable[dict[str, Any]], schema: pa.Schema, size: int) -> int:
    """Write ``rows`` as row groups of ``size`` rows (the last may be shorter); returns the number of rows."""
    it = iter(rows)
    num_rows = 0
    while batch := list(itertools.islice(it, size)):
        writer.write_table(pa.Table.from_pylist(batch, schema=schema), row_group_size=len(batch))
        num_rows += len(batch)
    return num_rows


def publish_shard(
    ordered_rows: Iterable[dict[str, Any]],
    output_dir: str,
    subdir: str,
    index: int,
    num_shards: int,
    schema: pa.Schema,
    cfg: OutputConfig,
    expected_rows: int | None = None,
) -> dict[str, Any]:
    """Write rows already in shard order, streaming (``row_group_rows`` at a time), atomically; then its info
    record. Returns ``{"path", "rows", "sha256", "bytes"}`` (``path`` relative to ``output_dir``); the record under
    ``_shard_info/`` is written after the rename, so its presence means the shard is complete. With
    ``expected_rows``, a different row count fails before anything is published."""
    directory = join_path(output_dir, subdir)
    name = shard_name(index, num_shards)
    final = join_path(directory, name)
    tmp = join_path(directory, f".{name}.tmp-{uuid.uuid4().hex}")
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        sink = _HashingSink(f)
        with pq.ParquetWriter(
            sink, schema, compression=cfg.compression, compression_level=cfg.compression_level, write_statistics=True
        ) as writer:
            num_rows = _write_row_groups(writer, ordered_rows, schema, cfg.row_group_rows)
            if num_rows == 0:
                writer.write_table(schema.empty_table())
    # Verify what we are about to publish: the footer must parse and count the rows we meant to write.
    with FileSystems.open(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        written_rows = pq.ParquetFile(f).metadata.num_rows
    if written_rows != num_rows:
        raise OSError(f"{tmp}: footer counts {written_rows} rows, {num_rows} were written")
    if expected_rows is not None and num_rows != expected_rows:
        FileSystems.delete([tmp])
        raise OSError(f"{final}: {num_rows} rows written, {expected_rows} expected")
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    info = {"path": f"{subdir}/{name}", "rows": num_rows, "sha256": sink.sha256.hexdigest(), "bytes": sink.size}
    info_dir = join_path(output_dir, SHARD_INFO_DIR, subdir)
    with FileSystems.create(join_path(info_dir, name + ".json"), compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(json.dumps(info).encode("utf-8"))
    return info


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
    """Sort ``rows`` in memory and publish them as one shard (small outputs and tests; :class:`WriteShards` merges
    sorted runs instead)."""
    return publish_shard(sorted(rows, key=sort_key), output_dir, subdir, index, num_shards, schema, cfg)


def write_run(
    rows: Iterable[dict[str, Any]], output_dir: str, subdir: str, shard: int, run: int, schema: pa.Schema, sort_key
) -> tuple[str, int]:
    """Sort one run of a shard in memory and write it under :func:`temp_dir` (a fresh name per attempt, so a retried
    bundle never clobbers a run another attempt published); returns ``(path, rows)``."""
    ordered = sorted(rows, key=sort_key)
    path = join_path(temp_dir(output_dir, subdir), f"{shard:05d}-{run:05d}-{uuid.uuid4().hex}.parquet")
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        with pq.ParquetWriter(f, schema, compression=RUN_COMPRESSION) as writer:
            num_rows = _write_row_groups(writer, ordered, schema, MERGE_BATCH_ROWS)
    return path, num_rows


def _run_rows(path: str) -> Iterator[dict[str, Any]]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        # Buffered reads of one row group at a time (MERGE_BATCH_ROWS rows): left to itself pyarrow reads a run's
        # column chunks far ahead, and a merge of k runs then holds most of the shard.
        reader = pq.ParquetFile(f, buffer_size=1 << 20, pre_buffer=False)
        for batch in reader.iter_batches(batch_size=MERGE_BATCH_ROWS, use_threads=False):
            yield from batch.to_pylist()


def merge_runs(
    runs: Iterable[tuple[int, str, int]],
    output_dir: str,
    subdir: str,
    index: int,
    num_shards: int,
    schema: pa.Schema,
    cfg: OutputConfig,
    sort_key: SortKey,
) -> dict[str, Any]:
    """Publish shard ``index`` as the streaming merge of its sorted runs ``(run, path, rows)``. The runs stay until
    every shard is written (:func:`remove_temp`), so a retried merge finds them again."""
    ordered_runs = sorted(runs)
    expected = sum(rows for _run, _path, rows in ordered_runs)
    merged = heapq.merge(*(_run_rows(path) for _run, path, _rows in ordered_runs), key=sort_key)
    return publish_shard(merged, output_dir, subdir, index, num_shards, schema, cfg, expected_rows=expected)


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
        layout = rows | "CountRows" >> beam.combiners.Count.Globally() | "Layout" >> beam.Map(shard_layout, cfg)

        def key_by_run(row, shape):
            num_shards, num_runs = shape
            data = _key_bytes(sort_key(row))  # once per row: the key holds the whole text
            return (_hash64(data) % num_shards, _hash64(data, RUN_PERSON) % num_runs), row

        def write_sorted_run(keyed):
            (shard, run), run_rows = keyed
            path, num_rows = write_run(run_rows, output_dir, subdir, shard, run, schema, sort_key)
            return shard, (run, path, num_rows)

        def merge(keyed, shape):
            index, runs = keyed
            real_runs = (r for r in runs if r is not None)
            return merge_runs(real_runs, output_dir, subdir, index, shape[0], schema, cfg, sort_key)

        runs = (
            rows
            | "KeyByRun" >> beam.Map(key_by_run, beam.pvalue.AsSingleton(layout))
            | "GroupRuns" >> beam.GroupByKey()
            | "WriteSortedRuns" >> beam.Map(write_sorted_run)
        )
        # One placeholder per shard index, so a shard that no row hashes to is still written (empty): the dataset
        # always has every part-i-of-n, and an empty input gives one readable empty shard.
        placeholders = (
            rows.pipeline
            | "ShardTrigger" >> beam.Create([None])
            | "ShardPlaceholders"
            >> beam.FlatMap(lambda _, shape: [(i, None) for i in range(shape[0])], beam.pvalue.AsSingleton(layout))
        )
        written = (
            (runs, placeholders)
            | "WithPlaceholders" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "MergeShard" >> beam.Map(merge, beam.pvalue.AsSingleton(layout))
        )
        _ = (
            written
            | "CountShards" >> beam.combiners.Count.Globally()
            | "RemoveTemp" >> beam.Map(lambda _n: remove_temp(output_dir, subdir))
        )
        return written


def temp_dir(output_dir: str, subdir: str) -> str:
    """Where a writer keeps the sorted runs of ``subdir`` until they are merged: one directory per writer, so each
    removes its own without waiting for the others."""
    return join_path(output_dir, f"{TEMP_PREFIX}{subdir}")


def remove_temp(output_dir: str, subdir: str) -> None:
    """Once every shard of ``subdir`` is written: delete its temporary directory (the merged runs, and runs that
    retried bundles wrote and nothing reads)."""
    path = temp_dir(output_dir, subdir)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def prepare_output_dir(output_dir: str, subdirs: tuple[str, ...], overwrite: bool) -> None:
    """Make ``output_dir``; refuse to mix with an earlier run's shards unless ``overwrite`` (then remove them)."""
    from jpcorpus.errors import UsageError

    existing = []
    for sub in (*subdirs, SHARD_INFO_DIR, *(f"{TEMP_PREFIX}{s}" for s in subdirs)):
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
