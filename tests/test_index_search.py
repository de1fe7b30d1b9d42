"""`jpcorpus index build` / `jpcorpus search` on real Aozora shards without a run: output fields, counts equal to
brute force, and exit status 2 with a clear message for every kind of bad input."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_train_corpus import aozora_documents, write_shards

from jpcorpus import cli
from pipeline.schema import doc_schema


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    docs = aozora_documents()[:60]
    write_shards(root, docs, num_shards=2)
    # n-gram part only: the vector engine has its own tests (test_index_vector.py); embedding costs ~0.25 s a passage.
    argv = ["index", "build", "--shards", str(root / "shards"), "--output", str(root / "index"), "--no-vector"]
    assert cli.main(argv) == 0
    return root, docs


def search(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["search", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_output_has_spans_hits_and_no_run_note(built, capsys):
    root, docs = built
    query = docs[3]["text"][5:25] + "🍣🍣"
    code, out, _ = search(capsys, query, "--index", str(root / "index"), "-k", "2")
    assert code == 0
    assert "longest matching spans" in out and "'🍣'" in out
    assert "#1 [ngram] aozora: aozora_" in out and "training: no run joined" in out
    assert f"«{docs[3]['text'][5:25]}»".replace("\n", " ") in out


def test_json_counts_equal_brute_force(built, capsys):
    root, docs = built
    for query in ["ところ", "した。", "ＸＹＺ"]:
        code, out, _ = search(capsys, query, "--index", str(root / "index"), "--json", "-k", "5")
        assert code == 0
        result = json.loads(out)
        expected = sum(d["text"].count(query) for d in docs)  # no overlaps possible in these three
        assert sum(s["count"] for s in result["ngram"]["spans"] if s["text"] == query) == expected
        assert len(result["ngram"]["hits"]) == min(5, expected)
        for hit in result["ngram"]["hits"]:
            text = next(d["text"] for d in docs if d["id"] == hit["doc_id"])
            assert text[hit["char_offset"] :].startswith(query) and hit["engine"] == "ngram"


def test_query_from_stdin(built, capsys, monkeypatch):
    root, docs = built
    monkeypatch.setattr("sys.stdin", io.StringIO(docs[0]["text"][:15]))
    code, out, _ = search(capsys, "-", "--index", str(root / "index"), "--json")
    assert code == 0 and json.loads(out)["ngram"]["located_span"]["text"] == docs[0]["text"][:15]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["   "], "query is empty"),
        (["x" * 30, "--max-query-chars", "20"], "more than --max-query-chars"),
        (["の", "-k", "0"], "-k must be at least 1"),
        (["\ud800"], "not valid Unicode"),
    ],
)
def test_bad_queries_exit_2(built, capsys, argv, message):
    root, _ = built
    code, _, err = search(capsys, *argv, "--index", str(root / "index"))
    assert code == 2 and message in err


def test_missing_index_and_changed_shards_exit_2(built, capsys, tmp_path):
    root, docs = built
    code, _, err = search(capsys, "の", "--index", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err
    write_shards(tmp_path, docs[:10], num_shards=1)
    argv = ["index", "build", "--shards", str(tmp_path / "shards"), "--output", str(tmp_path / "i"), "--no-vector"]
    assert cli.main(argv) == 0
    shard = next((tmp_path / "shards").glob("*.parquet"))
    rows = pq.read_table(shard).to_pylist()[:-1]
    pq.write_table(pa.Table.from_pylist(rows, schema=doc_schema()), shard)
    code, _, err = search(capsys, "の", "--index", str(tmp_path / "i"))
    assert code == 2 and "changed since the index was built" in err
    code, _, _ = search(capsys, "の", "--index", str(tmp_path / "i"), "--no-verify")
    assert code == 0


def test_index_build_bad_input_exit_2(tmp_path, capsys):
    assert cli.main(["index", "build", "--shards", str(tmp_path / "none"), "--output", str(tmp_path / "i")]) == 2
    assert "does not exist" in capsys.readouterr().err
    argv = ["index", "build", "--shards", str(tmp_path), "--output", str(tmp_path / "i"), "--run", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "not a training run" in capsys.readouterr().err


def test_index_without_vector_part_defaults_to_ngram_and_refuses_vector_modes(built, capsys):
    root, docs = built
    code, out, _ = search(capsys, docs[0]["text"][:10], "--index", str(root / "index"), "--json")
    result = json.loads(out)
    assert code == 0 and result["mode"] == "ngram" and result["vector"] is None and result["ngram"]["hits"]
    for mode in ("vector", "both"):
        code, _, err = search(capsys, docs[0]["text"][:10], "--index", str(root / "index"), "--mode", mode)
        assert code == 2 and "has no vector part (built with --no-vector)" in err
