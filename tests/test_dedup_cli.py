"""``jpcorpus dedup`` end to end on Parquet shards: output columns, rejects with cluster ids, reconciled manifest,
byte-identical reruns, config errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dedup_corpus import aozora_windows, clueweb_docs

from jpcorpus.cli import main as cli_main
from pipeline.dedup_cli import run
from pipeline.schema import doc_schema, new_doc


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """Two input shards: the 29 ClueWeb shop pages, 3 Aozora windows and copies of them, with a score column."""
    texts = aozora_windows(3, 1500, seed=2)
    docs = clueweb_docs() + [
        new_doc(id=f"ao-{i}", text=t, source="aozora", source_ref=f"a{i}") for i, t in enumerate(texts)
    ]
    docs += [
        new_doc(id=f"ao-{i}-copy", text=t + "\n", source="aozora", source_ref=f"c{i}") for i, t in enumerate(texts)
    ]
    for i, d in enumerate(docs):
        d["quality"] = float(i % 7)
    schema = doc_schema((pa.field("quality", pa.float64()),))
    d = tmp_path_factory.mktemp("in") / "shards"
    d.mkdir()
    half = len(docs) // 2
    for i, part in enumerate((docs[:half], docs[half:])):
        pq.write_table(pa.Table.from_pylist(part, schema=schema), d / f"part-{i:05d}-of-00002.parquet")
    return d.parent, len(docs)


def _read(path) -> pa.Table:
    return pq.read_table(sorted(path.glob("part-*.parquet")))


def test_dedup_cli_writes_shards_rejects_and_a_reconciled_manifest(tmp_path, shard_dir):
    input_dir, num_docs = shard_dir
    out = tmp_path / "out"
    assert run(["--input", str(input_dir), "--output", str(out), "--runner=FnApiRunner"]) == 0
    kept, rejects = _read(out / "shards"), _read(out / "rejects")
    assert kept.schema.names[-3:] == ["quality", "cluster_id", "cluster_size"]
    assert kept.num_rows + rejects.num_rows == num_docs
    assert sum(kept.column("cluster_size").to_pylist()) == num_docs
    kept_ids = set(kept.column("id").to_pylist())
    assert {"ao-0", "ao-1", "ao-2"} <= kept_ids and not any(i.endswith("-copy") for i in kept_ids)
    cluster_ids = set(kept.column("cluster_id").to_pylist())
    assert set(rejects.column("detail").to_pylist()) <= cluster_ids  # every removed doc points at a kept cluster
    assert rejects.num_rows > 3  # the template shop pages hold near-duplicates besides the planted copies
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unreconciled"] == []
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["read_shards"]["in"] == num_docs
    assert stages["dedup_minhash"]["dropped"]["exact_duplicate"] == 3
    assert stages["dedup_minhash"]["stats"]["candidate_pairs"] >= stages["dedup_minhash"]["stats"]["verified_pairs"]

    # Deterministic: a rerun (here through the console entry point) writes byte-identical shards.
    again = tmp_path / "again"
    assert cli_main(["dedup", "--input", str(input_dir), "--output", str(again), "--runner=FnApiRunner"]) == 0
    first = json.loads((out / "manifest.json").read_text())["output"]["shards"]
    second = json.loads((again / "manifest.json").read_text())["output"]["shards"]
    assert [s["sha256"] for s in first] == [s["sha256"] for s in second]


def test_dedup_cli_exact_method_with_overrides_and_config_errors(tmp_path, shard_dir, capsys):
    input_dir, num_docs = shard_dir
    out = tmp_path / "exact"
    argv = ["--input", str(input_dir), "--output", str(out), "--method", "exact", "--set", "keep_score_field=quality"]
    assert run([*argv, "--runner=FnApiRunner"]) == 0
    kept = _read(out / "shards")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in manifest["stages"]] == ["read_shards", "dedup_url", "dedup_exact"]
    assert manifest["stages"][-1]["dropped"] == {"exact_duplicate": 3}
    assert kept.num_rows == num_docs - 3
    # The highest quality score is kept inside each exact cluster.
    for row in kept.filter(pa.compute.equal(kept.column("cluster_size"), 2)).to_pylist():
        assert row["id"].startswith("ao-")

    bad = tmp_path / "bad.toml"
    bad.write_text('[dedup.minhash]\nbanding = "swallow"\n')
    code = cli_main(["dedup", "--input", str(input_dir), "--output", str(tmp_path / "x"), "--config", str(bad)])
    assert code == 2 and "num_perm = 800" in capsys.readouterr().err
    code = cli_main(["dedup", "--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "y")])
    assert code == 2 and "no shards" in capsys.readouterr().err
