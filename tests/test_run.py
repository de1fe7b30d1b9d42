"""End-to-end ``jpcorpus build`` runs: Parquet read back, Japanese only, counts reconcile, determinism."""

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.run import run
from tests.conftest import TEST_DATA

MIXED = str(TEST_DATA / "text" / "mixed.jsonl")


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_jsonl_build_writes_japanese_shards_and_reconciled_manifest(tmp_path):
    out = tmp_path / "out"
    assert run(["--input", MIXED, "--output", str(out)]) == 0
    m = _manifest(out)
    stages = {s["name"]: s for s in m["stages"]}
    assert stages["read_text"] == {
        "name": "read_text",
        "in": 8,
        "out": 5,
        "dropped": {"empty_text": 1, "no_text": 1},
        "failed": {"bad_json": 1},
        "stats": {},
        "reconciled": True,
    }
    assert [s["name"] for s in m["stages"]] == [
        "read_text", "langid", "cleanup", "quality", "pii", "dedup_url", "dedup_minhash",
    ]  # fmt: skip
    assert stages["langid"]["in"] == 5 and stages["langid"]["out"] == 4
    # The Aozora work that opens with an English epigraph has no kana in its head.
    assert stages["quality"]["dropped"] == {"kana_in_head_v1": 1}
    assert all(s["reconciled"] for s in m["stages"])
    assert m["unreconciled"] == [] and m["output"]["documents"] == 3 and m["output"]["rejects"] == 5
    funnel = {row["rule"]: row for row in m["funnel"]}
    assert funnel["kana_in_head_v1"]["dropped"] == 1
    table = pq.read_table(out / "shards")
    assert set(table.column("lang").to_pylist()) == {"ja"}
    assert table.column("id").to_pylist() == sorted(table.column("id").to_pylist())
    rejects = pq.read_table(out / "rejects").to_pylist()
    assert sorted((r["stage"], r["reason"]) for r in rejects) == [
        ("langid", "wrong_lang"),
        ("quality", "kana_in_head_v1"),
        ("read_text", "bad_json"),
        ("read_text", "empty_text"),
        ("read_text", "no_text"),
    ]
    n = duckdb.sql(f"select count(*) from '{out}/shards/*.parquet' where lang = 'ja'").fetchall()[0][0]
    assert n == 3
    assert {"cluster_id", "cluster_size", "q_hiragana_ratio_v1"} <= set(table.column_names)


def test_same_input_same_bytes_and_shard_split(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[output]\nmax_rows_per_shard = 2\n")
    hashes = []
    for name in ("a", "b"):
        assert run(["--input", MIXED, "--output", str(tmp_path / name), "--config", str(cfg)]) == 0
        hashes.append([(s["path"], s["sha256"], s["rows"]) for s in _manifest(tmp_path / name)["output"]["shards"]])
    assert hashes[0] == hashes[1]
    assert [h[0] for h in hashes[0]] == [f"shards/part-0000{i}-of-00002.parquet" for i in range(2)]
    assert sum(h[2] for h in hashes[0]) == 3


def test_everything_rejected_still_writes_a_readable_empty_dataset(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[langid]\nkeep_langs = ['ko']\n")
    out = tmp_path / "out"
    assert run(["--input", MIXED, "--output", str(out), "--config", str(cfg)]) == 0
    assert pq.read_table(out / "shards").num_rows == 0
    assert _manifest(out)["output"]["documents"] == 0


def test_hf_datasets_loads_the_shards(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    assert run(["--input", MIXED, "--output", str(out)]) == 0
    ds = datasets.load_dataset(
        "parquet", data_files=str(out / "shards" / "*.parquet"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert len(ds) == 3 and set(ds["lang"]) == {"ja"}
