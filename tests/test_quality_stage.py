"""Beam stages of pipeline/quality.py on real Japanese documents: score columns, reasons, reconciled counts."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from filters.config import FiltersConfig, build_plan
from pipeline import manifest as mf
from pipeline.config import OutputConfig
from pipeline.quality import EMPTY_AFTER_CLEANUP, quality_fields, quality_funnel, quality_stages
from pipeline.read_text import iter_jsonl
from pipeline.schema import REJECT_SCHEMA, doc_schema, new_doc
from pipeline.stage import CountedStage
from pipeline.write_parquet import WriteShards, reject_sort_key

DATA = Path(__file__).parent / "data" / "filters" / "ja_docs.jsonl"
OPTIONS = ["--runner=FnApiRunner"]


def real_docs() -> list[dict]:
    return [doc for kind, doc in iter_jsonl(str(DATA)) if kind == "doc"]


def run_stages(docs: list[dict], cfg: FiltersConfig, out_dir: Path) -> dict:
    """docs -> quality stages -> shards/ + rejects/; returns {"stages": [...], "order": [...]} from Beam metrics.

    The same wiring as ``pipeline.run.build``'s document-stage loop, so the test covers what build will run.
    """
    stages = quality_stages(cfg)
    p = TestPipeline(options=beam.options.pipeline_options.PipelineOptions(OPTIONS))
    pcoll = p | "Docs" >> beam.Create(docs, reshuffle=False)
    rejects = []
    for dofn in stages:
        pcoll, rej = pcoll | f"Stage_{dofn.stage}" >> CountedStage(dofn)
        rejects.append(rej)
    out_cfg = OutputConfig(max_rows_per_shard=1000)
    _ = pcoll | "Write" >> WriteShards(str(out_dir), "shards", doc_schema(quality_fields(cfg)), out_cfg)
    _ = (
        rejects
        | "AllRejects" >> beam.Flatten()
        | "WriteRejects" >> WriteShards(str(out_dir), "rejects", REJECT_SCHEMA, out_cfg, sort_key=reject_sort_key)
    )
    result = p.run()
    result.wait_until_finish()
    order = [s.stage for s in stages]
    return {"stages": mf.build_stages(mf.counters_by_stage(result), order), "order": order}


def read_rows(out_dir: Path, sub: str) -> list[dict]:
    rows = []
    for f in sorted((out_dir / sub).glob("part-*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    docs = real_docs()
    return docs, run_stages(docs, FiltersConfig(), out), out


def test_score_columns_are_in_the_shards_with_their_parameters(default_run):
    docs, _, out = default_run
    cfg = FiltersConfig()
    fields = quality_fields(cfg)
    schema = pq.read_schema(next((out / "shards").glob("part-*.parquet")))
    for f in fields:
        assert schema.field(f.name).metadata == f.metadata  # scoring params travel with the column
    rows = read_rows(out, "shards")
    assert rows, "the default preset keeps some of the real documents"
    assert all(isinstance(r["q_hiragana_ratio_v1"], float) for r in rows)
    assert all(r["q_kana_in_head_v1"] >= 1 for r in rows)


def test_counts_reconcile_and_every_drop_has_a_reason(default_run):
    docs, res, out = default_run
    by = {s["name"]: s for s in res["stages"]}
    assert res["order"] == ["cleanup", "quality", "pii"]
    assert all(s["reconciled"] for s in res["stages"])
    assert by["cleanup"]["in"] == len(docs)
    assert by["cleanup"]["out"] == by["quality"]["in"] and by["quality"]["out"] == by["pii"]["in"]
    rejects = read_rows(out, "rejects")
    kept = read_rows(out, "shards")
    assert len(kept) + len(rejects) == len(docs)
    plan = build_plan(FiltersConfig())
    rules = set(plan.rule_names()) | {EMPTY_AFTER_CLEANUP}
    assert {r["reason"] for r in rejects} <= rules
    assert sum(by["quality"]["dropped"].values()) == sum(1 for r in rejects if r["stage"] == "quality")
    # most ClueWeb shop pages (catalogue tables around a few lines of product copy) are dropped for too little
    # hiragana / Japanese text; the Aozora prose and the jawiki articles are mostly kept
    kept_ids = {r["id"] for r in kept}
    assert sum(1 for i in kept_ids if i.startswith("clueweb09-ja/")) <= 2
    assert sum(1 for i in kept_ids if i.startswith("aozora/")) >= 8
    assert sum(1 for i in kept_ids if i.startswith("wikipedia/")) >= 8
    # dropped characters are counted per rule, and the funnel adds up
    funnel = quality_funnel(by["quality"], plan)
    assert funnel[0]["in"] == by["quality"]["in"]
    assert funnel[-1]["kept"] == by["quality"]["out"]
    for row in funnel:
        if row["dropped"]:
            assert row["dropped_chars"] > 0 and row["fails"] >= row["dropped"]


def test_cleanup_counts_per_step(default_run):
    _, res, out = default_run
    stats = {s["name"]: s for s in res["stages"]}["cleanup"]["stats"]
    # the feeds have runs of spaces and blank lines; the shop pages have share/navigation lines
    assert stats.get("whitespace_v1.docs", 0) > 0
    assert stats["whitespace_v1.edits"] >= stats["whitespace_v1.docs"]
    assert "  " not in "".join(r["text"] for r in read_rows(out, "shards"))


def test_annotate_only_keeps_everything_and_counts_would_drop(tmp_path):
    docs = real_docs()
    res = run_stages(docs, FiltersConfig(drop=False, pii=False), tmp_path)
    by = {s["name"]: s for s in res["stages"]}
    assert by["quality"]["out"] == by["quality"]["in"]
    would = {k: v for k, v in by["quality"]["stats"].items() if k.startswith("would_drop.")}
    assert sum(would.values()) > 0


def test_bad_input_is_failed_or_dropped_with_the_doc_id_never_a_crash(tmp_path):
    bad = [
        new_doc(id="empty", text="", source="t", source_ref="r1"),
        new_doc(id="symbols", text="★☆♪♪!!!???…………🍣🍣🍣😀", source="t", source_ref="r2"),
        new_doc(id="long_line", text="あ" * 1_000_000, source="t", source_ref="r4"),
        new_doc(id="mixed", text="Это русский. 这是中文。これは日本語です。English.", source="t", source_ref="r5"),
        {**new_doc(id="no_text", text="x", source="t", source_ref="r6"), "text": None},
    ]
    res = run_stages(bad, FiltersConfig(), tmp_path)
    assert all(s["reconciled"] for s in res["stages"])
    rejects = {r["id"]: r for r in read_rows(tmp_path, "rejects")}
    assert rejects["empty"]["reason"] == EMPTY_AFTER_CLEANUP
    assert rejects["no_text"]["outcome"] == "failed" and rejects["no_text"]["reason"] == "invalid_text"
    assert rejects["long_line"]["stage"] == "quality"  # scored (1 MB, one line) and dropped, not crashed
    # (lone surrogates cannot travel between Beam stages at all — Beam's coders encode str as UTF-8 — so they are
    # tested on the pure filters and the invalid_chars_v1 step in test_filters_robustness.py)
    assert len(rejects) + len(read_rows(tmp_path, "shards")) == len(bad)


def test_a_filter_that_raises_is_counted_as_failed_with_the_doc(tmp_path, monkeypatch):
    from filters import composition

    def boom(self, value):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(composition.HiraganaRatio, "score", boom)
    monkeypatch.setattr(composition.HiraganaRatio, "score_batch", boom)
    docs = real_docs()[:3]
    res = run_stages(docs, FiltersConfig(pii=False), tmp_path)
    by = {s["name"]: s for s in res["stages"]}
    assert by["quality"]["failed"] == {"hiragana_ratio_v1": 3}
    rejects = read_rows(tmp_path, "rejects")
    assert {r["id"] for r in rejects} == {d["id"] for d in docs}
    assert all("synthetic failure" in r["detail"] for r in rejects)


def test_a_filter_failing_on_one_doc_of_a_batch_fails_only_that_doc(tmp_path, monkeypatch):
    """The batch call raises; the per-document retry names the one document and scores the others."""
    from filters import composition

    marker = "【合成された障害】"
    real_score = composition.HiraganaRatio.score

    def batch_boom(self, values):
        raise RuntimeError("synthetic batch failure")

    def score_boom(self, value):
        if marker in value:
            raise RuntimeError("synthetic failure")
        return real_score(self, value)

    monkeypatch.setattr(composition.HiraganaRatio, "score_batch", batch_boom)
    monkeypatch.setattr(composition.HiraganaRatio, "score", score_boom)
    docs = real_docs()[:3]
    docs[1] = {**docs[1], "text": docs[1]["text"] + "\n" + marker}
    res = run_stages(docs, FiltersConfig(pii=False, drop=False), tmp_path)
    by = {s["name"]: s for s in res["stages"]}
    assert by["quality"]["failed"] == {"hiragana_ratio_v1": 1}
    (reject,) = read_rows(tmp_path, "rejects")
    assert reject["id"] == docs[1]["id"] and "synthetic failure" in reject["detail"]
    kept = read_rows(tmp_path, "shards")
    assert {r["id"] for r in kept} == {docs[0]["id"], docs[2]["id"]}
    assert all(r["q_hiragana_ratio_v1"] > 0 for r in kept)


def test_pii_stage_masks_and_counts(tmp_path):
    text = (
        "お問い合わせは田中（tanaka.taro@example.co.jp）または電話 03-1234-5678 まで。"
        "価格は1,980円（税込）、発売日は2024-03-15、ISBN978-4-06-519981-7。" * 20
    )
    docs = [new_doc(id="pii", text=text, source="t", source_ref="r")]
    cfg = FiltersConfig(drop=False)
    res = run_stages(docs, cfg, tmp_path)
    stats = {s["name"]: s for s in res["stages"]}["pii"]["stats"]
    assert stats == {"pii_email": 20, "pii_phone": 20, "pii_docs": 1}
    (row,) = read_rows(tmp_path, "shards")
    assert "<EMAIL>" in row["text"] and "<PHONE>" in row["text"]
    assert "1,980円" in row["text"] and "2024-03-15" in row["text"] and "978-4-06-519981-7" in row["text"]


def test_quality_fields_is_empty_when_disabled_and_unique_names():
    assert quality_fields(FiltersConfig(enabled=False)) == ()
    names = [f.name for f in quality_fields(FiltersConfig(annotate=("swallow_v1", "llmjp_v1")))]
    assert len(names) == len(set(names))
    doc_schema(quality_fields(FiltersConfig()))  # no clash with the base document columns


def test_manifest_funnel_json_serialisable(default_run):
    _, res, _ = default_run
    by = {s["name"]: s for s in res["stages"]}
    json.dumps(quality_funnel(by["quality"], build_plan(FiltersConfig())))
