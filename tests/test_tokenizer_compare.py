"""jpcorpus tokenizer compare: figures checked against independent counts on two small real models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sentencepiece as spm
import tiktoken

from jpcorpus import cli
from tests.conftest import TEST_DATA
from tokenizer.compare import SCRIPT_CLASSES, TextSet, compare, load_text_set, measure, script_class
from tokenizer.corpus import strip_aozora
from tokenizer.loaders import CL100K_PAT, load_tiktoken_ranks, load_tokenizer

DATA = TEST_DATA / "tokenizer"
SP_MODEL = DATA / "test_ja_model.model"  # google/sentencepiece's 8k Japanese unigram
TIKTOKEN = DATA / "cl100k_base.first8000.tiktoken"  # a real prefix of cl100k_base
GSD = DATA / "ja_gsd-ud-dev.head50.conllu"
HELDOUT = DATA / "heldout_aozora_abababa.txt"


@pytest.fixture(scope="module")
def gsd() -> TextSet:
    return load_text_set(f"gsd={GSD}", max_chars=10**6)


def gold_from_conllu(path: Path) -> list[tuple[str, list[str]]]:
    """Independent reading of the CoNLL-U: (text, forms) per sentence."""
    out, text, forms = [], None, []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("# text = "):
            text = line[9:]
        elif line and line[0].isdigit():
            forms.append(line.split("\t")[1])
        elif not line and text is not None:
            out.append((text, forms))
            text, forms = None, []
    return out


def test_sentencepiece_figures_match_independent_counts(gsd: TextSet) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(SP_MODEL))
    res = measure(load_tokenizer("ja8k", SP_MODEL), gsd).row()
    sentences = gold_from_conllu(GSD)
    assert gsd.docs == [t for t, _ in sentences]
    num_tokens = sum(len(sp.encode(t)) for t, _ in sentences)
    num_chars = sum(len(t) for t, _ in sentences)
    assert res["num_tokens"] == num_tokens and res["num_chars"] == num_chars
    assert res["chars_per_token"] == pytest.approx(num_chars / num_tokens)
    assert res["bytes_per_token"] == pytest.approx(sum(len(t.encode()) for t, _ in sentences) / num_tokens)
    assert res["tokens_per_1k_chars"] == pytest.approx(1000 * num_tokens / num_chars)
    num_unk = sum(i == sp.unk_id() for t, _ in sentences for i in sp.encode(t))
    assert res["unk_rate"] == pytest.approx(num_unk / num_tokens) and num_unk > 0  # no byte fallback here
    assert res["byte_token_rate"] == 0.0
    # NFKC model with <unk>: round trip is exact only for sentences it neither normalises nor loses.
    num_exact = sum(sp.decode(sp.encode(t)) == t for t, _ in sentences)
    assert res["roundtrip_rate"] == pytest.approx(num_exact / len(sentences)) and num_exact < len(sentences)

    # Word boundaries, counted independently: the model's pieces (NFKC output, "▁" = space) against the gold
    # forms, both as positions in the text with spaces removed.
    tp = n_pred = n_gold = 0
    for text, forms in sentences:
        gold, n = set(), 0
        for form in forms[:-1]:
            n += len(form)
            gold.add(n)
        pred, n = set(), 0
        total = len("".join(text.split()))
        for piece in sp.encode(text, out_type=str):
            n += len(piece.replace("▁", ""))
            if 0 < n < total:
                pred.add(n)
        tp += len(pred & gold)
        n_pred += len(pred)
        n_gold += len(gold)
    assert res["boundary_precision"] == pytest.approx(tp / n_pred, abs=1e-9)
    assert res["boundary_recall"] == pytest.approx(tp / n_gold, abs=1e-9)
    assert 0.5 < res["boundary_f1"] < 1.0


def test_tiktoken_figures_and_byte_level_tokens() -> None:
    text = strip_aozora(HELDOUT.read_text(encoding="utf-8"))[:4000]
    ts = TextSet("aozora", [text])
    tok = load_tokenizer("cl8k", TIKTOKEN)
    res = measure(tok, ts).row()
    enc = tiktoken.Encoding(
        "ref", pat_str=CL100K_PAT, mergeable_ranks=load_tiktoken_ranks(TIKTOKEN), special_tokens={}
    )
    ids = enc.encode_ordinary(text)
    assert res["num_tokens"] == len(ids) and res["vocab_size"] == 8000
    # Independent byte-level count: a token is byte-level when its bytes are not whole UTF-8 characters.
    num_partial = 0
    for i in ids:
        try:
            enc.decode_single_token_bytes(i).decode("utf-8")
        except UnicodeDecodeError:
            num_partial += 1
    assert res["byte_token_rate"] == pytest.approx(num_partial / len(ids))
    assert res["byte_token_rate"] > 0.3  # a small GPT vocabulary turns Japanese into bytes
    assert res["roundtrip_rate"] == 1.0


def test_script_classes_account_for_every_char_and_token(gsd: TextSet) -> None:
    for path in (SP_MODEL, TIKTOKEN):
        res = measure(load_tokenizer(path.stem, path), gsd)
        assert sum(res.script_chars.values()) == res.num_chars
        assert sum(res.script_tokens.values()) == pytest.approx(res.num_tokens)
    # Pure hiragana: chars/token of the hiragana class is the plain chars/token.
    hira = TextSet("hira", ["ひらがなだけでかかれたぶんしょうです", "これもそうです"])
    res = measure(load_tokenizer("ja8k", SP_MODEL), hira).row()
    sp = spm.SentencePieceProcessor(model_file=str(SP_MODEL))
    # The dummy-prefix "▁" pieces cover no character: they count as space tokens.
    num_prefix = sum(p == "▁" for d in hira.docs for p in sp.encode(d, out_type=str))
    num_tokens = sum(len(sp.encode(d)) for d in hira.docs)
    assert res["chars_per_token_hiragana"] == pytest.approx(res["num_chars"] / (num_tokens - num_prefix))
    assert [script_class(c) for c in "漢かナＡ1 。é𠮷ｶ"] == [
        "kanji", "hiragana", "katakana", "latin", "digit", "space", "symbol", "latin", "kanji", "katakana"
    ]  # fmt: skip
    assert set(SCRIPT_CLASSES) >= {"kanji", "hiragana", "katakana", "latin", "digit", "symbol"}


def test_overlap_is_jaccard_of_vocabularies(gsd: TextSet) -> None:
    a, b = load_tokenizer("ja8k", SP_MODEL), load_tokenizer("cl8k", TIKTOKEN)
    result = compare([a, b], [gsd], num_samples=2)
    va, vb = a.vocabulary(), b.vocabulary()
    row = next(o for o in result.overlap if o["a"] == "ja8k")
    assert row["jaccard"] == pytest.approx(len(va & vb) / len(va | vb))
    assert all(m["piece"] not in vb for m in row["a_frequent_missing_in_b"])
    counts = [m["count"] for m in row["a_frequent_missing_in_b"]]
    assert counts == sorted(counts, reverse=True) and counts
    assert len(result.samples) == 2 and set(result.samples[0]["tokens"]) == {"ja8k", "cl8k"}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_cli_writes_table_csv_json_and_self_contained_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "tokenizer", "compare", "--text", f"gsd={GSD}", f"aozora={HELDOUT}",
        "--tokenizer", f"ja8k={SP_MODEL}", f"cl8k={TIKTOKEN}",
        "--report", str(tmp_path / "r.html"), "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"),
    ]  # fmt: skip
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    assert "chars/tok" in out and "ja8k" in out and "cl8k" in out and "word F1" in out
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert {(r["text_set"], r["tokenizer"]) for r in rows} == {
        (s, t) for s in ("gsd", "aozora") for t in ("ja8k", "cl8k")
    }
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert len(data["results"]) == 4 and data["results"][0]["boundary"]["num_gold"] > 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3  # overall + one per text set
    assert 'class="tok byte"' in page  # cl8k's byte-level tokens on Japanese are marked
    assert "src=" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(
    "make_bad, expect",
    [
        (lambda p: p / "missing.model", "not found"),
        (lambda p: _write(p / "corrupt.model", b"\x0a\x05hello this is not a model"), "corrupt.model"),
        (lambda p: _write(p / "bad.tiktoken", b"IQ== 0\nIg== 1\n!!notbase64 2\n"), "bad.tiktoken:3"),
        (lambda p: _write(p / "bad.json", b'{"model": '), "bad.json"),
    ],
)
def test_bad_tokenizer_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], make_bad, expect: str) -> None:
    bad = make_bad(tmp_path)
    code, _, err = run_cli(["tokenizer", "compare", "--text", str(GSD), "--tokenizer", f"x={bad}"], capsys)
    assert code == 2 and expect in err


def test_bad_text_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sjis = _write(tmp_path / "sjis.txt", "吾輩は猫である。".encode("cp932"))
    code, _, err = run_cli(["tokenizer", "compare", "--text", str(sjis), "--tokenizer", f"x={SP_MODEL}"], capsys)
    assert code == 2 and str(sjis) in err and "not UTF-8" in err


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
