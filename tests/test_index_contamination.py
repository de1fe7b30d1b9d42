"""`jpcorpus contamination` on real Aozora shards: longest overlap equals brute force, threshold, failed lines
counted with their line numbers (lines = checked + failed), bad input exits 2."""

from __future__ import annotations

import json

import pytest
from test_index_ngram import brute_longest
from test_train_corpus import aozora_documents, write_shards

from jpcorpus import cli


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("contam")
    docs = aozora_documents()[:50]
    write_shards(root, docs, num_shards=2)
    argv = ["index", "build", "--shards", str(root / "shards"), "--output", str(root / "index"), "--no-vector"]
    assert cli.main(argv) == 0  # the n-gram index is what contamination reads
    return root, docs


def test_items_are_checked_and_failures_counted(built, tmp_path, capsys):
    root, docs = built
    copied = docs[7]["text"][100:160]
    items = [
        {"id": "copied", "question": "次の文の続きを書け。", "text": copied},
        {"id": "clean", "question": "量子色力学の漸近的自由性を説明せよ。", "text": "ＱＣＤ🍣"},
        "a bare string",
        {"id": "nofield", "answer": "x"},
    ]
    lines = [json.dumps(i, ensure_ascii=False) for i in items] + ["{not json", ""]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "report.jsonl"
    argv = ["contamination", "--index", str(root / "index"), "--eval", str(eval_file), "--output", str(out)]
    assert cli.main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_lines"] == 5 == summary["num_checked"] + sum(summary["num_failed"].values())
    assert summary["num_failed"] == {"bad_item": 2, "bad_json": 1}
    assert summary["num_contaminated"] == 1 and summary["run_joined"] is False
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_id = {r.get("id", r["line"]): r for r in rows}
    assert by_id["copied"]["longest_overlap"]["num_chars"] == 60 and by_id["copied"]["contaminated"]
    assert docs[7]["id"] in by_id["copied"]["doc_ids"] and by_id["copied"]["seen_in_training"] is None
    clean = by_id["clean"]
    assert not clean["contaminated"]
    overlap = clean["longest_overlap"]["num_chars"] if clean["longest_overlap"] else 0
    assert overlap == brute_longest(docs, "ＱＣＤ🍣")
    assert [r["line"] for r in rows if "error" in r] == [3, 4, 5]
    # Several fields: the question is prepended, the copied passage still overlaps in full.
    assert cli.main([*argv, "--field", "question", "--field", "text"]) == 0
    text_out = capsys.readouterr().out
    assert "copied: CONTAMINATED, longest overlap 60 chars" in text_out and "line 5: not checked (bad_json" in text_out


def test_bad_input_exits_2(built, tmp_path, capsys):
    root, _ = built
    argv = ["contamination", "--index", str(root / "index"), "--eval"]
    assert cli.main([*argv, str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    sjis = tmp_path / "sjis.jsonl"
    sjis.write_bytes('{"text": "日本語"}\n'.encode("shift_jis"))
    assert cli.main([*argv, str(sjis)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert cli.main([*argv, str(sjis), "--min-chars", "0"]) == 2
