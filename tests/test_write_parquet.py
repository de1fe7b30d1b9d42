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
