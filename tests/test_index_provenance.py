"""The document -> training-step join on a real tiny run: 2-rank CPU FSDP (torchrun, gloo) of the debug model on
Aozora token shards, 24 of the epoch's 42 steps, one planted corrupt batch for the spike guard to skip."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from test_train_corpus import SP_MODEL, aozora_documents, write_shards
from test_train_fsdp import GLOBAL_BATCH, SEQ_LEN, torchrun

from index import ngram, provenance
from jpcorpus import cli
from jpcorpus.errors import UsageError
from pipeline.tokenize import run as tokenize
from train.data import PackedSequences, TokenCorpus

pytestmark = pytest.mark.slow

MAX_STEPS, SEED = 24, 1234


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    write_shards(root, aozora_documents())
    argv = ["--input", str(root / "shards"), "--tokenizer", str(SP_MODEL), "--output", str(root / "tokens")]
    assert tokenize([*argv, "--val-fraction", "0.1"]) == 0
    torchrun(
        {
            "data.tokens_dir": str(root / "tokens"),
            "data.micro_batch_size": 8,
            "data.seed": SEED,
            "run.output_dir": str(root / "run"),
            "run.max_steps": MAX_STEPS,
            "checkpoint.every_steps": 12,
            "eval.every_steps": 100,
            "debug.corrupt_batches": [20],
            "guard.spike_factor": 1.2,
            "guard.window_steps": 10,
        }
    )
    return root


def test_steps_per_document_match_the_log_and_the_packing_order(run):
    docs, summary = provenance.join_run(run / "run", run / "tokens")
    assert summary["total_steps"] == MAX_STEPS == summary["last_step"]
    by_id = {d.doc_id: d for d in docs}
    # Independent of the log: step s (1-based) trains global samples [(s-1)G, sG) of the seeded packing.
    corpus = TokenCorpus(run / "tokens", "train")
    packed = PackedSequences(corpus, SEQ_LEN, SEED)
    records = [
        json.loads(line) for p in sorted((run / "run" / "provenance").glob("rank-*.jsonl")) for line in p.open()
    ]
    # A skipped step's number is reused by the next batch: one record per rank per (step, sample range).
    batches = sorted({(r["step"], r["status"], tuple(r["samples"])) for r in records})
    assert len(records) == 2 * len(batches) and {b[0] for b in batches} == set(range(1, MAX_STEPS + 1))
    assert all(b - a == GLOBAL_BATCH for _s, _st, (a, b) in batches)
    expected: dict[str, set[int]] = defaultdict(set)
    expected_skipped: dict[str, set[int]] = defaultdict(set)
    for step, status, (first, end) in batches:
        for i in range(first, end):
            for doc, _lo, _hi in packed.sample(i)[1].spans:
                target = expected if status == "trained" else expected_skipped
                target[corpus.doc_ids[doc]].add(step)
    for doc_id in corpus.doc_ids:
        d = by_id[doc_id]
        assert d.split == "train"
        assert d.steps == tuple(sorted(expected.get(doc_id, ())))
        assert d.first_step == (min(expected[doc_id]) if doc_id in expected else None)
        assert d.skipped_steps == tuple(sorted(expected_skipped.get(doc_id, ())))
    seen = [d for d in docs if d.first_step is not None]
    never = [d for d in docs if d.first_step is None]
    assert seen and never and summary["num_docs_seen"] == len(seen)
    assert any(d.split == "val" for d in never) and any(d.split == "train" for d in never)
    # Every input token of a trained step is attributed to exactly one document.
    num_trained = sum(1 for b in batches if b[1] == "trained")
    assert num_trained == MAX_STEPS
    assert summary["num_tokens_trained"] == num_trained * GLOBAL_BATCH * SEQ_LEN
    assert sum(d.num_tokens_trained for d in docs) == summary["num_tokens_trained"]


def test_spike_guard_skip_is_not_counted_as_seen(run):
    docs, summary = provenance.join_run(run / "run", run / "tokens")
    # The planted random-token batch at step 20 is a spike on a model 19 steps in (as in test_train_fsdp's run D).
    assert summary["num_step_records"] == {"trained": 2 * MAX_STEPS, "skipped": 2}
    skipped_docs = [d for d in docs if d.skipped_steps]
    assert skipped_docs and all(d.skipped_steps == (20,) for d in skipped_docs)
    # Skipped tokens are not counted as trained: the trained total is exactly the 24 trained steps' inputs.
    assert summary["num_tokens_trained"] == MAX_STEPS * GLOBAL_BATCH * SEQ_LEN


def test_stored_join_round_trips_and_refuses_other_shards(run, tmp_path):
    docs, summary = provenance.join_run(run / "run", run / "tokens")
    ngram.build(run / "shards", tmp_path / "index")
    index = ngram.NgramIndex(tmp_path / "index")
    ids = set(index.docs.column("doc_id").to_pylist())
    provenance.write(tmp_path / "index", docs, summary, ids)
    stored, stored_summary = provenance.read(tmp_path / "index")
    assert stored == {d.doc_id: d for d in docs} and stored_summary == summary
    assert provenance.read(tmp_path) is None
    with pytest.raises(UsageError, match="other shards than the run's"):
        provenance.write(tmp_path / "index", docs, summary, set(list(ids)[:10]))


def test_missing_or_foreign_run_is_a_clear_error(run, tmp_path):
    with pytest.raises(UsageError, match="not a training run"):
        provenance.join_run(tmp_path)
    (tmp_path / "config.json").write_text((run / "run" / "config.json").read_text())
    with pytest.raises(UsageError, match="no rank-"):
        provenance.join_run(tmp_path, run / "tokens")
    prov = Path(tmp_path / "provenance")
    prov.mkdir()
    (prov / "rank-00000.jsonl").write_text(
        '{"step": 1, "status": "trained", "rank": 0, "samples": [0, 16], "spans": [[0, "x:1", 0, 5]]}\n'
    )
    with pytest.raises(UsageError, match="other token shards"):
        provenance.join_run(tmp_path, run / "tokens")
    (prov / "rank-00000.jsonl").write_text("not json\n")
    with pytest.raises(UsageError, match="not a provenance record"):
        provenance.join_run(tmp_path, run / "tokens")


def test_search_shows_the_iteration_from_the_log(run, tmp_path, capsys):
    index_dir = tmp_path / "index"
    argv = ["index", "build", "--shards", str(run / "shards"), "--run", str(run / "run"), "--no-vector"]
    assert cli.main([*argv, "--tokens", str(run / "tokens"), "--output", str(index_dir)]) == 0
    assert "seen in 24 / 24 steps" in capsys.readouterr().out
    # First trained step of every document, straight from the raw log.
    first: dict[str, int] = {}
    for path in (run / "run" / "provenance").glob("rank-*.jsonl"):
        for rec in map(json.loads, path.open()):
            if rec["status"] == "trained":
                for _epoch, doc_id, _lo, _hi in rec["spans"]:
                    first[doc_id] = min(first.get(doc_id, rec["step"]), rec["step"])
    docs = {d["id"]: d["text"] for d in aozora_documents()}
    seen_id = max(first, key=first.get)  # the latest-seen document: step > 1
    val_id = next(d.doc_id for d in provenance.join_run(run / "run", run / "tokens")[0] if d.split == "val")
    for doc_id, expected in ((seen_id, f"Iteration: {first[seen_id]:,} / 24"), (val_id, "not seen in training")):
        # 30 characters from the middle: long enough to be unique in this corpus.
        text = docs[doc_id]
        query = text[len(text) // 2 : len(text) // 2 + 30]
        assert cli.main(["search", query, "--index", str(index_dir), "-k", "1", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["ngram"]["located_span"] == {"text": query, "count": 1}
        (hit,) = result["ngram"]["hits"]
        assert hit["doc_id"] == doc_id and hit["snippet"]["match"] == query
        assert text[hit["char_offset"] :].startswith(query)
        assert cli.main(["search", query, "--index", str(index_dir), "-k", "1"]) == 0
        out = capsys.readouterr().out
        assert expected in out and f"«{query.replace(chr(10), ' ')}»" in out
    assert hit["training"] == {"seen": False, "first_step": None, "steps": [], "total_steps": 24, "split": "val"}


def test_contamination_reports_training_step_of_the_overlap(run, tmp_path, capsys):
    index_dir = tmp_path / "index"
    argv = ["index", "build", "--shards", str(run / "shards"), "--run", str(run / "run"), "--no-vector"]
    assert cli.main([*argv, "--tokens", str(run / "tokens"), "--output", str(index_dir)]) == 0
    capsys.readouterr()
    joined = {d.doc_id: d for d in provenance.join_run(run / "run", run / "tokens")[0]}
    texts = {d["id"]: d["text"] for d in aozora_documents()}
    seen_id = next(i for i, d in joined.items() if d.first_step is not None and d.first_step > 1)
    val_id = next(i for i, d in joined.items() if d.split == "val")
    items = [{"id": doc_id, "text": texts[doc_id][50:110]} for doc_id in (seen_id, val_id)]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    out = tmp_path / "report.jsonl"
    assert cli.main(["contamination", "--index", str(index_dir), "--eval", str(eval_file), "--output", str(out)]) == 0
    assert "2 with an overlap of >= 25 characters, 1 of them seen in training" in capsys.readouterr().out
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert rows[seen_id]["seen_in_training"] is True and rows[seen_id]["doc_ids"] == [seen_id]
    assert rows[seen_id]["first_step"] == joined[seen_id].first_step and rows[seen_id]["total_steps"] == 24
    assert rows[val_id]["seen_in_training"] is False and rows[val_id]["first_step"] is None
