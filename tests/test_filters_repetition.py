"""Repetition filters: compiled n-gram statistics equal brute-force references on real and arbitrary text; each drop
reason."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters.repetition import GopherRepetition, SwallowRepetition
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
WIKI = DOCS["wikipedia/jawiki:jawiki/391"]  # 熊本県
AOZORA = [t for i, t in DOCS.items() if i.startswith("aozora/")]


def swallow_reference(text: str) -> dict[str, float]:
    """Swallow Corpus v1 quality.py duplicate_fraction, restated with plain Counters (the published definitions)."""
    sent_re = re.compile(r"[^。．！？!?]+[。．！？!?]?")
    per_line = [sent_re.findall(line) for line in text.split("\n")]
    paragraphs = ["".join(s) for s in per_line]
    sentences = [s for ss in per_line for s in ss]

    def dups(items):
        c = Counter(items)
        return sum(f - 1 for f in c.values()), sum(len(x) * (f - 1) for x, f in c.items())

    dp, dpl = dups(paragraphs)
    ds, dsl = dups(sentences)
    r = {
        "dup_para_frac": dp / len(paragraphs) if paragraphs else 0.0,
        "dup_para_char_frac": dpl / sum(map(len, paragraphs)) if sum(map(len, paragraphs)) else 0.0,
        "dup_sent_frac": ds / len(sentences) if sentences else 0.0,
        "dup_sent_char_frac": dsl / sum(map(len, sentences)) if sum(map(len, sentences)) else 0.0,
    }
    for n in (2, 3, 4):
        c = Counter(text[i : i + n] for i in range(len(text) - n + 1))
        r[f"top_{n}gram_frac"] = max(c.values()) / sum(c.values()) if c else 0.0
    for n in range(5, 11):
        c = Counter(text[i : i + n] for i in range(len(text) - n + 1))
        r[f"dup_{n}gram_frac"] = sum(1 for f in c.values() if f > 1) / len(c) if c else 0.0
    return r


def gopher_ngram_reference(text: str, n: int) -> float:
    """Characters covered by a later copy of an n-gram, over len(text) (brute force)."""
    seen, covered = set(), [False] * len(text)
    for i in range(len(text) - n + 1):
        g = text[i : i + n]
        if g in seen:
            covered[i : i + n] = [True] * n
        seen.add(g)
    return sum(covered) / len(text) if text else 0.0


@pytest.mark.parametrize("doc_id", sorted(DOCS)[::3])
def test_swallow_repetition_equals_the_published_definitions(doc_id):
    text = DOCS[doc_id]
    assert SwallowRepetition().score(text) == pytest.approx(swallow_reference(text), abs=0, rel=1e-12)


@pytest.mark.parametrize("doc_id", sorted(DOCS)[1::4])
def test_gopher_char_ngram_coverage_equals_brute_force(doc_id):
    text = DOCS[doc_id]
    score = GopherRepetition().score(text)
    for n in range(5, 11):
        assert score[f"dup_{n}gram_char_frac"] == pytest.approx(gopher_ngram_reference(text, n), rel=1e-12)
    top2 = Counter(text[i : i + 2] for i in range(len(text) - 1)).most_common(1)[0][1] * 2 / len(text)
    assert score["top_2gram_char_frac"] == pytest.approx(top2)


def test_clean_aozora_and_wikipedia_keep_under_the_default_thresholds():
    f = GopherRepetition()
    for text in [*AOZORA, WIKI]:
        assert f.keep(f.score(text)), f.violations(f.score(text))


def test_repeated_lines_are_dropped_with_the_line_rule_first():
    lines = WIKI.split("\n")[:3]
    text = "\n".join(lines * 4)  # the same three real lines four times
    failed = GopherRepetition().violations(GopherRepetition().score(text))
    assert failed[0][0] == "gopher_repetition_v1.dup_para_frac" or failed[0][0].startswith(
        "gopher_repetition_v1.dup_line"
    )
    assert any(r == "gopher_repetition_v1.dup_line_frac" for r, _ in failed)
    assert SwallowRepetition().violations(SwallowRepetition().score(text))


def test_character_spam_fails_top_ngram():
    text = WIKI[:300] + "ｗｗｗｗ" * 200  # a real opening followed by laughter spam
    failed = dict(GopherRepetition().violations(GopherRepetition().score(text)))
    assert "gopher_repetition_v1.top_2gram_char_frac" in failed


def test_word_unit_uses_sudachi_words():
    score = GopherRepetition(unit="word").score(WIKI)
    assert 0.0 <= score["dup_5gram_char_frac"] <= 1.0
    spam = "この商品は送料無料です。" * 30
    word = GopherRepetition(unit="word").score(spam)
    assert word["dup_5gram_char_frac"] > 0.9


def test_empty_and_tiny_texts_score_zero():
    for text in ("", "あ"):
        assert all(v == 0.0 for v in GopherRepetition().score(text).values())
        assert all(v == 0.0 for v in SwallowRepetition().score(text).values())


def gopher_top_reference(text: str, n: int) -> float:
    c = Counter(text[i : i + n] for i in range(len(text) - n + 1))
    return max(c.values()) * n / len(text) if c else 0.0


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("", id="few-distinct"),
        # ~35,000 distinct characters in one batch, planes 0 and 2 (the earlier numpy code switched paths here)
        pytest.param(
            "".join(map(chr, range(0x4E00, 0x9FFF))) + "".join(map(chr, range(0x20000, 0x23A98))), id="many-distinct"
        ),
    ],
)
def test_gopher_batch_equals_brute_force_on_both_top_count_paths(extra):
    texts = (*AOZORA[:3], WIKI[:3000], "ということ" * 40 + "、", "", "ab", extra + "漢字漢字", "ありがとう" * 3)
    for text, score in zip(texts, GopherRepetition().score_batch(texts), strict=True):
        for n in (2, 3, 4):
            assert score[f"top_{n}gram_char_frac"] == pytest.approx(gopher_top_reference(text, n), rel=1e-12)
        for n in range(5, 11):
            assert score[f"dup_{n}gram_char_frac"] == pytest.approx(gopher_ngram_reference(text, n), rel=1e-12)


def gopher_reference(text: str) -> dict[str, float]:
    """Every gopher_repetition_v1 (char) metric from its definition: Python strings, sets and Counters."""
    f = GopherRepetition()
    out = f._lines_and_paragraphs(text)  # re.split and a set of seen strings (datatrove find_duplicates)
    for n in (2, 3, 4):
        out[f"top_{n}gram_char_frac"] = gopher_top_reference(text, n)
    for n in range(5, 11):
        out[f"dup_{n}gram_char_frac"] = gopher_ngram_reference(text, n)
    return out


# repeats are the point: few characters, newlines (blank lines, paragraphs), whitespace str.strip() removes,
# lone surrogates, planes 0-2, and NUL (code point 0 must not look like an empty slot)
REPEATS = st.text(alphabet=st.sampled_from("あいア漢。\n\n \u3000\t\x85\u2028\ud800\udfff😀\x00a"), max_size=120)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(REPEATS, st.text(max_size=80)), min_size=1, max_size=6))
def test_gopher_scores_equal_the_definitions_on_arbitrary_batches(texts):
    scores = GopherRepetition().score_batch(tuple(texts))
    for text, score in zip(texts, scores, strict=True):
        assert score == gopher_reference(text)  # exact: the same integers divided the same way


def test_gopher_on_one_megabyte_line_and_lines_repeated():
    text = "あ" * 1_000_000  # every n-gram is one n-gram; every position but the first is in a later copy
    score = GopherRepetition().score(text)
    for n in (2, 3, 4):
        assert score[f"top_{n}gram_char_frac"] == (1_000_000 - n + 1) * n / 1_000_000
    for n in range(5, 11):
        assert score[f"dup_{n}gram_char_frac"] == 999_999 / 1_000_000
    assert score["dup_line_frac"] == 0.0 and score["dup_para_frac"] == 0.0
    text = "\n\n".join(["同じ段落。\n二行目"] * 3 + ["違う"])
    assert GopherRepetition().score(text) == gopher_reference(text)
