"""``jpcorpus select``: re-deciding annotated shards reproduces the build's decisions exactly, without rescoring."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from filters.apply import decide
from filters.config import FiltersConfig, build_plan
from jpcorpus.cli import main as cli_main
from pipeline.select import run as select_run
from tests.test_quality_stage import read_rows, real_docs, run_stages

pytestmark = pytest.mark.slow  # three small Beam jobs (~15 s)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The same real documents built twice with the default preset: deciding, and annotate-only."""
    docs = real_docs()
    decided = tmp_path_factory.mktemp("decided")
    annotated = tmp_path_factory.mktemp("annotated")
    run_stages(docs, FiltersConfig(), decided)
    run_stages(docs, FiltersConfig(drop=False, annotate=("swallow_v1",)), annotated)
    return decided, annotated


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_select_reproduces_build_decisions_exactly(builds, tmp_path):
    decided, annotated = builds
    out = tmp_path / "selected"
    assert select_run(["--input", str(annotated), "--output", str(out), "--preset", "default"]) == 0
    build_kept = {r["id"]: r for r in read_rows(decided, "shards")}
    selected = {r["id"]: r for r in read_rows(out, "shards")}
    assert selected.keys() == build_kept.keys()
    assert all(selected[i]["text"] == build_kept[i]["text"] for i in selected)
    build_reasons = sorted((r["id"], r["reason"]) for r in read_rows(decided, "rejects") if r["stage"] == "quality")
    select_reasons = sorted((r["id"], r["reason"]) for r in read_rows(out, "rejects"))
    assert select_reasons == build_reasons
    m = _manifest(out)
    assert m["command"] == "select" and m["unreconciled"] == []
    stages = {s["name"]: s for s in m["stages"]}
    assert stages["read_shards"]["in"] == len(real_docs()) and stages["select"]["out"] == len(build_kept)
    assert m["funnel"][-1]["kept"] == len(build_kept)
    # the annotation columns (swallow's) pass through untouched
    schema = pq.read_schema(next((out / "shards").glob("part-*.parquet")))
    assert "q_swallow_repetition_v1__dup_sent_frac" in schema.names


def test_select_with_a_stricter_threshold_matches_the_stored_scores(builds, tmp_path):
    _, annotated = builds
    out = tmp_path / "strict"
    argv = ["--input", str(annotated), "--output", str(out), "--preset", "default"]
    assert select_run([*argv, "--set", "hiragana_ratio_v1.min_ratio=0.4"]) == 0
    plan = build_plan(FiltersConfig(overrides={"hiragana_ratio_v1": {"min_ratio": 0.4}}))
    expected = {r["id"] for r in read_rows(annotated, "shards") if not decide(plan.filters, r)}
    assert {r["id"] for r in read_rows(out, "shards")} == expected
    assert any(r["reason"] == "hiragana_ratio_v1" for r in read_rows(out, "rejects"))


def test_select_another_preset_from_annotations_via_config(builds, tmp_path):
    _, annotated = builds
    # the shipped config: Swallow's thresholds with url_blocklist_v1 disabled (scored with default's host list)
    cfg = Path(__file__).resolve().parents[1] / "configs" / "filters_select_swallow.toml"
    out = tmp_path / "swallow"
    assert select_run(["--input", str(annotated), "--output", str(out), "--config", str(cfg)]) == 0
    m = _manifest(out)
    assert m["unreconciled"] == [] and m["plan"]["preset"] == "swallow_v1"
    # Swallow's 400-letter and 20..90 sentence rules drop more of the sample than our default does
    assert m["output"]["documents"] < len(read_rows(builds[0], "shards"))


def test_select_refuses_columns_scored_differently_or_missing(builds, tmp_path, capsys):
    _, annotated = builds
    rc = cli_main(["select", "--input", str(annotated), "--output", str(tmp_path / "a"), "--preset", "swallow_v1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "url_blocklist_v1" in err and "other parameters" in err
    rc = cli_main(["select", "--input", str(annotated), "--output", str(tmp_path / "b"), "--preset", "fineweb2_jpn"])
    assert rc == 2
    assert "missing score columns" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--preset", "swalow_v1"], "unknown filter preset 'swalow_v1'"),
        (["--preset", "default", "--set", "hiragana_ratio_v1.min_ratoi=0.3"], "unknown key 'min_ratoi'"),
        (["--preset", "default", "--set", "hiragana_ratio=0.3"], "FILTER.FIELD=VALUE"),
    ],
)
def test_config_errors_exit_2_with_a_clear_message(builds, tmp_path, capsys, extra, needle):
    _, annotated = builds
    assert cli_main(["select", "--input", str(annotated), "--output", str(tmp_path / "o"), *extra]) == 2
    assert needle in capsys.readouterr().err


def test_missing_input_is_a_usage_error(tmp_path, capsys):
    argv = ["select", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o"), "--preset", "default"]
    rc = cli_main(argv)
    assert rc == 2 and "no shards" in capsys.readouterr().err


def test_jpcorpus_build_then_select_reproduces_build(tmp_path):
    """End to end through ``jpcorpus build``: annotate-only build + select == deciding build, document for document."""
    from pipeline.run import run as build_run

    data = str(Path(__file__).parent / "data" / "filters" / "ja_docs.jsonl")
    decided, annotated, selected = tmp_path / "decided", tmp_path / "annotated", tmp_path / "selected"
    cfg = tmp_path / "annotate.toml"
    cfg.write_text("[filters]\ndrop = false\n")
    assert build_run(["--input", data, "--output", str(decided), "--dedup", "none"]) == 0
    assert build_run(["--input", data, "--output", str(annotated), "--dedup", "none", "--config", str(cfg)]) == 0
    assert select_run(["--input", str(annotated), "--output", str(selected), "--preset", "default"]) == 0
    build_rows = {r["id"]: r for r in read_rows(decided, "shards")}
    select_rows = {r["id"]: r for r in read_rows(selected, "shards")}
    assert select_rows.keys() == build_rows.keys() and build_rows
    assert all(select_rows[i]["text"] == build_rows[i]["text"] for i in build_rows)
    schema = pq.read_schema(next((decided / "shards").glob("part-*.parquet")))
    assert "q_hiragana_ratio_v1" in schema.names and "q_gopher_repetition_v1__dup_5gram_char_frac" in schema.names
    quality_rejects = sorted((r["id"], r["reason"]) for r in read_rows(decided, "rejects") if r["stage"] == "quality")
    assert sorted((r["id"], r["reason"]) for r in read_rows(selected, "rejects")) == quality_rejects
    build_manifest = _manifest(decided)
    assert build_manifest["unreconciled"] == []
    assert {s["name"] for s in build_manifest["stages"]} >= {"cleanup", "quality", "pii"}
