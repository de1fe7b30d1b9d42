"""``jpcorpus build`` on the bundled demo sample (real WARC records in five encodings, ClueWeb09-ja, a truncated
jawiki dump): Japanese only, every stage reconciles, and multi-process output equals in-process output."""

import json

import pyarrow.parquet as pq
import pytest

from pipeline.run import run
from tests.conftest import REPO

DEMO = str(REPO / "demo" / "sample")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert run(["--input", DEMO, "--output", str(out)]) == 0
    return out, json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_demo_build_keeps_only_japanese_and_reconciles(demo_run):
    out, m = demo_run
    assert m["unreconciled"] == []
    stages = {s["name"]: s for s in m["stages"]}
    assert all(s["reconciled"] for s in m["stages"]), [s["name"] for s in m["stages"] if not s["reconciled"]]
    # One stage's output is the next one's input along both branches.
    assert stages["read_warc"]["out"] == stages["decode"]["in"]
    assert stages["predetect"]["out"] == stages["extract"]["in"]
    assert stages["langid"]["in"] == stages["extract"]["out"] + stages["read_wikipedia"]["out"]
    assert stages["read_wikipedia"]["failed"] == {"truncated": 1}  # the dump is cut off mid-file
    assert stages["predetect"]["dropped"]["not_japanese"] > 0
    table = pq.read_table(out / "shards")
    rows = table.to_pylist()
    assert {r["lang"] for r in rows} == {"ja"} and len(rows) == m["output"]["documents"] > 100
    assert {r["source"] for r in rows} == {"cc", "wikipedia"}
    assert {"euc_jp", "cp932", "utf-8"} <= {r["charset"] for r in rows if r["source"] == "cc"}
    # Legacy-encoded pages come out as correct Japanese (EUC-JP page from chardet's test set, ClueWeb09 shop page).
    texts = {r["url"]: r["text"] for r in rows}
    assert "昔々、ある所に子供のいない老夫婦が住んでいた" in "".join(
        t for u, t in texts.items() if u.endswith("_mozilla_bug426271_text-euc-jp.html")
    )
    assert any("ヘッドポーターのみで限定販売されている" in t for u, t in texts.items() if "uraharajuku.st" in u)
    assert len({r["id"] for r in rows}) == len(rows)
    assert sum(s["rows"] for s in m["output"]["reject_shards"]) == m["output"]["rejects"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_multi_process_run_is_byte_identical(demo_run, tmp_path):
    _, m = demo_run
    assert run(["--input", DEMO, "--output", str(tmp_path / "mp"), "--workers", "2"]) == 0
    mp = json.loads((tmp_path / "mp" / "manifest.json").read_text())
    assert [s["sha256"] for s in mp["output"]["shards"]] == [s["sha256"] for s in m["output"]["shards"]]
    assert [s["sha256"] for s in mp["output"]["reject_shards"]] == [s["sha256"] for s in m["output"]["reject_shards"]]
    assert mp["stages"] == m["stages"]
