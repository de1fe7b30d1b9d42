"""Beam dedup stages: connected components vs union-find (with convergence reporting), keep rule, cluster columns,
counts that reconcile, bad input (empty/short/invalid/10,000 repeats), and multi-process == single-process."""

from __future__ import annotations

import dataclasses
import pickle
import random
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal.cloudpickle import cloudpickle
from apache_beam.options.pipeline_options import PipelineOptions
from dedup_corpus import aozora_windows, components, edit

from pipeline import beam_fixes
from pipeline.connected_components import ConnectedComponents
from pipeline.dedup import Dedup, dedup_fields, dedup_stage_names
from pipeline.dedup_config import DedupConfig, ExactDedupConfig, MinHashConfig
from pipeline.manifest import build_stages, counters_by_stage
from pipeline.run import beam_options
from pipeline.schema import doc_schema, new_doc

FN_API = ["--runner=FnApiRunner"]
# Worker processes of the multi-process runner cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _dump(values: list, path: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(values, f)


def run_collect(tmp_path: Path, build, argv: list[str] = FN_API) -> tuple[list[list], dict]:
    """Run ``build(p) -> tuple of PCollections``; return their contents and the counters by stage."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    with beam.Pipeline(options=PipelineOptions(argv)) as p:
        outputs = build(p)
        for i, pcoll in enumerate(outputs):
            _ = (
                pcoll
                | f"List{i}" >> beam.combiners.ToList()
                | f"Dump{i}" >> beam.Map(_dump, str(tmp_path / f"{i}.pkl"))
            )
    contents = []
    for i in range(len(outputs)):
        with open(tmp_path / f"{i}.pkl", "rb") as f:
            contents.append(pickle.load(f))
    return contents, counters_by_stage(p.result)


def run_dedup(tmp_path: Path, docs: list[dict], cfg: DedupConfig, argv: list[str] = FN_API):
    (kept, rejects), counters = run_collect(tmp_path, lambda p: p | beam.Create(docs) | Dedup(cfg), argv)
    stages = {s["name"]: s for s in build_stages(counters, dedup_stage_names(cfg))}
    for stage in stages.values():
        assert stage["reconciled"], stage
    return kept, rejects, stages


def doc(doc_id: str, text: str, **fields) -> dict:
    return new_doc(id=doc_id, text=text, source="test", source_ref=f"ref:{doc_id}", **fields)


# --- connected components -------------------------------------------------------------------------------------


def _random_graph(seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    nodes = [rng.randbytes(4) for _ in range(300)]
    edges = {tuple(sorted(rng.sample(nodes, 2))) for _ in range(220)}
    # A path visiting 64 nodes in an order unrelated to their sort order: the slow case for label propagation.
    path = rng.sample(nodes, 64)
    edges |= {tuple(sorted(p)) for p in zip(path, path[1:], strict=False)}
    return sorted(edges)


def test_connected_components_equal_union_find(tmp_path):
    edges = _random_graph(1)
    (labels, unconverged), counters = run_collect(
        tmp_path, lambda p: p | beam.Create(edges) | ConnectedComponents("cc_test", max_rounds=10)
    )
    nodes = sorted({n for e in edges for n in e})
    assert dict(labels) == components(nodes, edges)
    assert unconverged == []
    changes = {k: v for k, v in counters["cc_test"].items() if k.startswith("stats.cc_round_")}
    assert changes and max(changes) < "stats.cc_round_10_changes"  # converged before the last round
    assert "stats.cc_unconverged_nodes" not in counters["cc_test"]


def test_connected_components_report_a_chain_longer_than_the_rounds(tmp_path):
    chain = [i.to_bytes(2, "big") for i in range(200)]
    edges = list(zip(chain, chain[1:], strict=False))
    (labels, unconverged), counters = run_collect(
        tmp_path, lambda p: p | beam.Create(edges) | ConnectedComponents("cc_test", max_rounds=2)
    )
    assert len(unconverged) > 0
    assert counters["cc_test"]["stats.cc_unconverged_nodes"] == len(unconverged)
    # Never wrong, only unfinished: each label is a node of the (single) true component, and merged nodes are
    # connected; at least one original edge joins two different labels.
    labels = dict(labels)
    assert set(labels) == set(chain) and len(set(labels.values())) > 1
    assert any(labels[a] != labels[b] for a, b in edges)


# --- exact and URL stages ----------------------------------------------------------------------------------------


def test_exact_keep_rule_cluster_columns_and_rejects(tmp_path):
    cfg = DedupConfig(method="exact", keep_score_field="quality")
    docs = [
        doc("b", "吾輩は猫である。", crawl_date="2024-01-01"),
        doc("a", "吾輩は猫である。\n", crawl_date="2024-02-01"),  # same normalised text
        doc("c", "ＷＷＷ 吾輩は猫である。"),
        doc("d", "www吾輩は猫である。", crawl_date="2023-12-31"),  # NFKC + lowercase + no spaces == c
        doc("e", "名前はまだ無い。", crawl_date="2020-01-01"),
        doc("f", "名前はまだ無い。", crawl_date="2021-01-01"),
    ]
    docs[4]["quality"] = 0.1
    docs[5]["quality"] = 0.9  # the score beats the earlier crawl
    kept, rejects, stages = run_dedup(tmp_path, docs, cfg)
    by_id = {d["id"]: d for d in kept}
    assert sorted(by_id) == ["b", "d", "f"]  # earliest crawl; a dated doc beats an undated one; highest score
    assert [by_id[i]["cluster_size"] for i in ("b", "d", "f")] == [2, 2, 2]
    assert {(r["id"], r["reason"], r["detail"]) for r in rejects} == {
        ("a", "exact_duplicate", by_id["b"]["cluster_id"]),
        ("c", "exact_duplicate", by_id["d"]["cluster_id"]),
        ("e", "exact_duplicate", by_id["f"]["cluster_id"]),
    }
    assert stages["dedup_exact"]["in"] == 6 and stages["dedup_exact"]["dropped"] == {"exact_duplicate": 3}
    assert doc_schema(dedup_fields(cfg)).names[-2:] == ["cluster_id", "cluster_size"]


def test_url_dedup_keeps_earliest_fetch_and_passes_docs_without_url(tmp_path):
    cfg = DedupConfig(method="exact")
    docs = [
        doc("x1", "一回目の取得", url="HTTP://Example.JP/page#top", crawl_date="2020-05-01"),
        doc("x2", "二回目の取得", url="http://example.jp/page", crawl_date="2019-05-01"),
        doc("y", "別のページ", url="http://example.jp/other"),
        doc("z", "URLなし"),
    ]
    kept, rejects, stages = run_dedup(tmp_path, docs, cfg)
    assert sorted(d["id"] for d in kept) == ["x2", "y", "z"]
    assert [(r["id"], r["reason"], r["detail"]) for r in rejects] == [
        ("x1", "duplicate_url", "http://example.jp/page")
    ]
    assert stages["dedup_url"] == {**stages["dedup_url"], "in": 4, "out": 3, "dropped": {"duplicate_url": 1}}
    no_url = dataclasses.replace(cfg, exact=ExactDedupConfig(by_url=False))
    assert dedup_stage_names(no_url) == ["dedup_exact"]


def test_method_none_is_a_pass_through(tmp_path):
    cfg = DedupConfig(method="none")
    docs = [doc("a", "同じ"), doc("b", "同じ")]
    kept, rejects, _ = run_dedup(tmp_path, docs, cfg)
    assert sorted(d["id"] for d in kept) == ["a", "b"] and rejects == [] and dedup_fields(cfg) == ()


# --- MinHash stage -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return aozora_windows(6, 1500, seed=5)


def test_minhash_clusters_near_duplicates_and_labels_every_member(tmp_path, texts):
    rng = random.Random(0)
    docs = []
    for i, text in enumerate(texts):
        docs.append(doc(f"t{i}-a", text, crawl_date=f"2020-0{i + 1}-01"))
        docs.append(doc(f"t{i}-b", edit(text, 0.01, rng)))  # J ~ 0.9
        docs.append(doc(f"t{i}-c", text))  # exact copy
        docs.append(doc(f"t{i}-d", edit(text, 0.08, rng)))  # J ~ 0.5: not a duplicate at 0.8
    kept, rejects, stages = run_dedup(tmp_path, docs, DedupConfig())
    assert sorted(d["id"] for d in kept) == sorted([f"t{i}-a" for i in range(6)] + [f"t{i}-d" for i in range(6)])
    cluster_of = {d["id"]: d["cluster_id"] for d in kept} | {r["id"]: r["detail"] for r in rejects}
    for i in range(6):
        assert cluster_of[f"t{i}-a"] == cluster_of[f"t{i}-b"] == cluster_of[f"t{i}-c"] != cluster_of[f"t{i}-d"]
    assert {(r["id"][-1], r["reason"]) for r in rejects} == {("b", "near_duplicate"), ("c", "exact_duplicate")}
    assert all(d["cluster_size"] == (3 if d["id"].endswith("a") else 1) for d in kept)
    st = stages["dedup_minhash"]
    assert st["in"] == 24 and st["out"] == 12
    assert st["dropped"] == {"exact_duplicate": 6, "near_duplicate": 6}
    assert st["stats"]["verified_pairs"] >= 6 and st["stats"]["candidate_pairs"] >= st["stats"]["verified_pairs"]
    assert st["stats"]["clusters_by_size.3-4"] == 6 and st["stats"]["clusters_by_size.1"] == 6


def test_empty_short_and_invalid_documents_are_counted_never_crash(tmp_path, texts):
    docs = [
        doc("e1", ""),
        doc("e2", "  \n"),  # normalises to "" like e1: an exact duplicate
        doc("s1", "短い"),
        doc("s2", "短い。"),  # short, different: both pass
        doc("n", texts[0]),
        {**doc("bad", "x"), "text": None},
    ]
    kept, rejects, stages = run_dedup(tmp_path, docs, DedupConfig())
    assert sorted(d["id"] for d in kept) == ["e1", "n", "s1", "s2"]
    assert {(r["id"], r["outcome"], r["reason"]) for r in rejects} == {
        ("e2", "dropped", "exact_duplicate"),
        ("bad", "failed", "invalid_text"),
    }
    st = stages["dedup_minhash"]
    assert st["stats"]["short_docs"] == 4 and st["failed"] == {"invalid_text": 1}


def _repeat(i: int, text: str) -> dict:
    return doc(f"r{i:05d}", text)


@pytest.mark.slow
def test_a_document_repeated_10000_times_is_one_cluster(tmp_path, texts):
    cfg = DedupConfig(exact=ExactDedupConfig(by_url=False), minhash=MinHashConfig(batch_docs=1024))

    def build(p):
        # Made inside the pipeline: beam.Create of 10,000 texts would time Create's graph serialisation instead.
        repeated = p | "Indices" >> beam.Create(range(10_000)) | "Repeat" >> beam.Map(_repeat, texts[1])
        docs = (repeated, p | "Other" >> beam.Create([doc("other", texts[2])])) | beam.Flatten()
        return docs | Dedup(cfg)

    (kept, rejects), counters = run_collect(tmp_path, build)
    assert sorted((d["id"], d["cluster_size"]) for d in kept) == [("other", 1), ("r00000", 10_000)]
    assert len(rejects) == 9_999 and {r["reason"] for r in rejects} == {"exact_duplicate"}
    stage = build_stages(counters, ["dedup_minhash"])[0]
    assert stage["reconciled"] and stage["in"] == 10_001
    assert stage["stats"]["clusters_by_size.8193-16384"] == 1


@pytest.mark.slow
def test_multi_process_run_equals_single_process(tmp_path, texts, monkeypatch):
    # What beam_options gives the workers, set through monkeypatch so it is undone after the test.
    for name, value in beam_fixes.LOCAL_WORKER_ENV.items():
        monkeypatch.setenv(name, value)
    rng = random.Random(1)
    docs = [doc(f"t{i}-{k}", edit(t, 0.01 * k, rng)) for i, t in enumerate(texts) for k in range(4)]
    docs += [doc(f"t{i}-copy", t) for i, t in enumerate(texts)]
    single = run_dedup(tmp_path / "single", docs, DedupConfig())
    # Bundles of at most 20 KB: each worker runs every sizeable stage as several bundles (pipeline/beam_fixes.py).
    options = beam_options(FN_API + ["--max_local_bundle_mb=0.02"], workers=2).get_all_options(drop_default=True)
    argv = [f"--{k}={v}" for k, v in options.items()]
    before = dict(beam_fixes.bundle_stats)
    multi = run_dedup(tmp_path / "multi", docs, DedupConfig(), argv)
    stages = beam_fixes.bundle_stats["stages"] - before["stages"]
    bundles = beam_fixes.bundle_stats["bundles"] - before["bundles"]
    assert stages > 10 and bundles > 2 * stages  # more bundles than one per worker and stage
    for a, b in zip(single[:2], multi[:2], strict=True):
        assert sorted(a, key=lambda r: sorted(r.items())) == sorted(b, key=lambda r: sorted(r.items()))
    assert single[2] == multi[2]
