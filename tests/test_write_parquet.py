import os

import pyarrow.parquet as pq
import pytest

from jpcorpus.errors import UsageError
from pipeline.config import OutputConfig
from pipeline.schema import doc_schema, new_doc
from pipeline.write_parquet import (
    doc_sort_key,
    num_shards_for,
    prepare_output_dir,
    read_shard_infos,
    shard_of,
    write_shard,
)


def _docs(n):
    return [new_doc(id=f"t/{i:03d}", text=f"本文その{i}。", source="test", source_ref=f"ref:{i}") for i in range(n)]


def test_shard_count_and_assignment_are_stable():
    assert num_shards_for(0, 10) == 1
    assert num_shards_for(10, 10) == 1
    assert num_shards_for(11, 10) == 2
    keys = [doc_sort_key(d) for d in _docs(50)]
    first = [shard_of(k, 4) for k in keys]
    assert first == [shard_of(k, 4) for k in keys]
    assert set(first) == {0, 1, 2, 3}


def test_write_shard_sorts_verifies_and_leaves_no_temp(tmp_path):
    docs = list(reversed(_docs(5)))
    info = write_shard(docs, str(tmp_path), "shards", 0, 1, doc_schema(), OutputConfig(), doc_sort_key)
    path = tmp_path / "shards" / "part-00000-of-00001.parquet"
    assert info["path"] == "shards/part-00000-of-00001.parquet" and info["rows"] == 5
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == sorted(d["id"] for d in docs)
    assert [p.name for p in (tmp_path / "shards").iterdir()] == [path.name]  # no temporary left behind
    assert read_shard_infos(str(tmp_path), "shards") == [info]
    # Same rows in another order: byte-identical file.
    again = write_shard(_docs(5), str(tmp_path), "shards", 0, 1, doc_schema(), OutputConfig(), doc_sort_key)
    assert again["sha256"] == info["sha256"]


def test_prepare_output_dir_refuses_to_mix_runs(tmp_path):
    prepare_output_dir(str(tmp_path), ("shards", "rejects"), overwrite=False)
    (tmp_path / "shards" / "part-00000-of-00001.parquet").write_bytes(b"old")
    with pytest.raises(UsageError, match="--overwrite"):
        prepare_output_dir(str(tmp_path), ("shards", "rejects"), overwrite=False)
    prepare_output_dir(str(tmp_path), ("shards", "rejects"), overwrite=True)
    assert list((tmp_path / "shards").iterdir()) == []


def test_write_shards_merges_sorted_runs_into_the_same_bytes_as_one_sort(tmp_path):
    """The Beam writer (rows spread over sorted runs, merged streaming) publishes exactly the shard that sorting
    all of the shard's rows at once gives, in row groups of ``row_group_rows``, and removes its runs."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.write_parquet import WriteShards, shard_layout

    docs = [
        new_doc(
            id=f"t/{(i * 37) % 200:03d}", text=f"本文その{i}。" * (i % 5 + 1), source="test", source_ref=f"ref:{i}"
        )
        for i in range(200)
    ]
    cfg = OutputConfig(max_rows_per_shard=80, sort_run_rows=7, row_group_rows=16)
    num_shards, num_runs = shard_layout(len(docs), cfg)
    assert (num_shards, num_runs) == (3, 10)
    out = tmp_path / "beam"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        _ = p | beam.Create(docs) | WriteShards(str(out), "shards", doc_schema(), cfg)
    infos = read_shard_infos(str(out), "shards")
    assert [i["path"] for i in infos] == [f"shards/part-{k:05d}-of-00003.parquet" for k in range(3)]
    assert sum(i["rows"] for i in infos) == 200
    assert not (out / "_tmp_shards").exists()
    for k, info in enumerate(infos):
        mine = [d for d in docs if shard_of(doc_sort_key(d), num_shards) == k]
        direct = write_shard(mine, str(tmp_path / "direct"), "shards", k, num_shards, doc_schema(), cfg, doc_sort_key)
        assert info["sha256"] == direct["sha256"] and info["rows"] == len(mine)
        f = pq.ParquetFile(out / info["path"])
        assert f.metadata.num_row_groups == -(-len(mine) // 16)
        ids = f.read().column("id").to_pylist()
        assert ids == sorted(ids)


def test_write_shard_of_no_rows_is_a_readable_empty_shard(tmp_path):
    info = write_shard([], str(tmp_path), "shards", 0, 1, doc_schema(), OutputConfig(), doc_sort_key)
    assert info["rows"] == 0
    assert pq.read_table(tmp_path / info["path"]).schema.equals(doc_schema())


def test_output_config_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="sort_run_rows"):
        OutputConfig(sort_run_rows=0)
    with pytest.raises(ValueError, match="row_group_rows"):
        OutputConfig(row_group_rows=-1)


def test_merge_reads_runs_a_row_group_at_a_time(tmp_path):
    """Merging k sorted runs holds about MERGE_BATCH_ROWS rows of each, not the runs: read one run through a file
    object that counts bytes, stop after the first rows, and check how much was read."""
    import random

    from pipeline import write_parquet as wp

    rng = random.Random(0)
    texts = ["".join(chr(rng.randrange(0x4E00, 0x9FA0)) for _ in range(600)) for _ in range(3000)]  # ~no compression
    docs = [new_doc(id=f"t/{i:05d}", text=t, source="test", source_ref=f"ref:{i}") for i, t in enumerate(texts)]
    path, rows = wp.write_run(docs, str(tmp_path), "shards", 0, 0, doc_schema(), doc_sort_key)
    assert rows == 3000
    size = os.path.getsize(path)
    read = {"bytes": 0}
    real_open = wp.FileSystems.open

    class Counting:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            data = self._f.read(n)
            read["bytes"] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    wp.FileSystems.open = lambda p, **kw: Counting(real_open(p, **kw))
    try:
        it = wp._run_rows(path)
        first = [next(it) for _ in range(10)]
    finally:
        wp.FileSystems.open = real_open
    assert [r["id"] for r in first] == [f"t/{i:05d}" for i in range(10)]
    assert read["bytes"] < size / 3, (read["bytes"], size)


def test_a_short_merge_publishes_nothing(tmp_path):
    from pipeline.write_parquet import publish_shard

    with pytest.raises(OSError, match="5 rows written, 6 expected"):
        publish_shard(iter(_docs(5)), str(tmp_path), "shards", 0, 1, doc_schema(), OutputConfig(), expected_rows=6)
    assert list((tmp_path / "shards").iterdir()) == [] and read_shard_infos(str(tmp_path), "shards") == []
