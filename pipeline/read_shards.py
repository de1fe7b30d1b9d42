"""Read shards written by ``jpcorpus build`` (or ``select``/``dedup``): the input of the jobs that run on shards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from jpcorpus.errors import UsageError
from pipeline.stage import count
from pipeline.write_parquet import join_path


def list_shards(input_dir: str) -> list[str]:
    """The ``part-*.parquet`` files of a run directory (its ``shards/``) or of a plain directory of shards."""
    for directory in (join_path(input_dir, "shards"), input_dir):
        found = FileSystems.match([join_path(directory, "part-*.parquet")])[0].metadata_list
        if found:
            return sorted(m.path for m in found)
    raise UsageError(f"no shards (part-*.parquet) found in {input_dir!r} or {join_path(input_dir, 'shards')!r}")


def read_manifest(input_dir: str) -> dict[str, Any] | None:
    path = join_path(input_dir, "manifest.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.loads(f.read().decode("utf-8"))


def shard_schema(path: str) -> pa.Schema:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return pq.ParquetFile(f).schema_arrow


def iter_shard_rows(path: str, columns: list[str] | None = None, batch_rows: int = 1024) -> Iterator[dict[str, Any]]:
    """Stream the rows of one shard as dicts, batch by batch."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=columns):
            yield from batch.to_pylist()


class ReadShardRows(beam.DoFn):
    """Element: a shard path; output: its rows as dicts (all columns, or ``columns``)."""

    def __init__(self, columns: list[str] | None = None) -> None:
        self._columns = columns

    def process(self, path: str):
        yield from iter_shard_rows(path, self._columns)


READ_STAGE = "read_shards"


def _count_read(row: dict[str, Any]) -> dict[str, Any]:
    count(READ_STAGE, "in")
    count(READ_STAGE, "out")
    return row


class ReadShards(beam.PTransform):
    """Shard paths -> their rows, spread over workers and counted as stage ``read_shards`` (in == out: a row that
    is in a shard is read; an unreadable shard fails the job, since its rows could not even be counted)."""

    def __init__(self, shards: list[str], columns: list[str] | None = None) -> None:
        super().__init__()
        self._shards = shards
        self._columns = columns

    def expand(self, pbegin):
        return (
            pbegin
            | "Shards" >> beam.Create(self._shards)
            | "SpreadShards" >> beam.Reshuffle()
            | "ReadShardRows" >> beam.ParDo(ReadShardRows(self._columns))
            | "CountRead" >> beam.Map(_count_read)
        )
