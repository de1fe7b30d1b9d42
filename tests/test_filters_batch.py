"""Batched scoring equals document-by-document scoring, for every filter, on real text and on bad input.

The quality stage scores batches (``Filter.score_batch``, vectorised over the documents laid end to end); the
issue's contract — and ``select`` reproducing ``build`` — needs the same score whichever way a document is scored,
whatever its neighbours in the batch are.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import filters
from filters.apply import FilterError, score_document, score_documents

DATA = Path(__file__).parent / "data" / "filters" / "ja_docs.jsonl"
# the word-unit filters tokenize with SudachiPy (slow); the batched code paths are the character ones
FILTERS = [cls() for cls in filters.FILTERS if cls.name not in ("gopher_quality_words_v1", "fineweb_quality_v1")]
BATCHED = [f for f in FILTERS if type(f).score_batch is not filters.Filter.score_batch]

EDGE_CASES = [
    "",
    "a",
    "あいう",
    "ということ" * 120,  # one 5-gram repeated: every dup n-gram metric is high
    "壊れた\ud800文字列です。\udfffこれも\udc80。",
    "🍣🍣🍣😀👨‍👩‍👧‍👦🇯🇵",
    "マラソン大会でロリポップを配った。アナルシスト。",  # NG entries inside longer katakana words
    "同じ行\n同じ行\n\n同じ行\n\n違う行",
]


def real_texts() -> list[str]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def test_the_batched_filters_are_the_expensive_ones():
    names = {f.name for f in BATCHED}
    assert {"gopher_repetition_v1", "hiragana_ratio_v1", "ng_word_hits_v1", "ad_keywords_v1"} <= names


@pytest.mark.parametrize("f", BATCHED, ids=lambda f: f.name)
def test_score_batch_equals_score_on_real_text_and_edge_cases(f):
    texts = real_texts() + EDGE_CASES
    random.Random(0).shuffle(texts)
    for size in (1, 7, len(texts)):
        for i in range(0, len(texts), size):
            batch = tuple(texts[i : i + size])
            assert f.score_batch(batch) == [f.score(t) for t in batch]


# kana, kanji, every sentence terminator, ellipses, kinds of whitespace, emoji, a lone surrogate, an NG word
ALPHABET = st.sampled_from("あいうアイウー漢字。、！？!?・…\u3000\t\n ab😀\ud800ロリ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=ALPHABET, max_size=60), max_size=8))
def test_score_batch_equals_score_on_arbitrary_batches(texts):
    batch = tuple(texts)
    for f in BATCHED:
        assert f.score_batch(batch) == [f.score(t) for t in batch], f.name


def test_score_documents_equals_score_document_and_names_the_failing_filter(monkeypatch):
    docs = [{"id": str(i), "text": t, "url": None} for i, t in enumerate(real_texts()[:6] + EDGE_CASES[:3])]
    assert score_documents(tuple(FILTERS), docs) == [score_document(tuple(FILTERS), d) for d in docs]

    from filters import repetition

    real_batch = repetition.GopherRepetition.score_batch

    def fail_on_third(self, values):  # score(v) is score_batch((v,)): the retry fails the third document only
        if docs[2]["text"] in values:
            raise ZeroDivisionError("synthetic")
        return real_batch(self, values)

    monkeypatch.setattr(repetition.GopherRepetition, "score_batch", fail_on_third)
    out = score_documents(tuple(FILTERS), docs)
    assert isinstance(out[2], FilterError) and out[2].filter_name == "gopher_repetition_v1"
    column = "q_gopher_repetition_v1__dup_5gram_char_frac"
    assert all(isinstance(o, dict) and column in o for j, o in enumerate(out) if j != 2)
