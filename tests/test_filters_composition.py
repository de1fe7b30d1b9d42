"""Character-composition filters on real Japanese, Chinese and catalogue text (keep, and each drop reason)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.composition import HiraganaRatio, JapaneseRatio, KanaInHead, KatakanaRatio, NumChars, NumJapaneseLetters
from filters.textstats import char_counts, char_counts_batch
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
SOSEKI = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"  # 夏目漱石『吾輩は猫である』(public domain)
)
# newspaper4k test fixture chinese_article.txt (BBC 中文), first sentence: shares kanji with Japanese, has no kana
CHINESE = "香港行政长官梁振英在各方压力下就其大宅的违章建筑（僭建）问题到立法会接受质询，并向香港民众道歉。"
SHOP = DOCS["clueweb09-ja/clueweb:clueweb09-ja0016-50-00010"]  # real ClueWeb09-ja shop page


def aozora() -> list[str]:
    return [t for i, t in DOCS.items() if i.startswith("aozora/")]


def test_char_counts_follow_swallow_definitions():
    c = char_counts("吾輩は猫である。カタカナー、ＡＢＣ々𠀋")
    # ー (U+30FC) is not katakana in Swallow's ranges; 々 and the plane-2 kanji 𠀋 are kanji
    assert (c.num_hiragana, c.num_katakana, c.num_kanji, c.num_kuten, c.num_toten) == (4, 4, 5, 1, 1)
    assert c.num_chars == 19 and c.num_japanese == 15


def test_clean_prose_is_kept_by_every_composition_rule():
    for f in (HiraganaRatio(), KatakanaRatio(), JapaneseRatio(), KanaInHead()):
        kept = [t for t in aozora() if f.keep(f.score(t))]
        assert len(kept) == len(aozora()), f.name
    assert NumChars().keep(NumChars().score(aozora()[1]))
    assert NumJapaneseLetters().keep(NumJapaneseLetters().score(aozora()[1]))


def test_chinese_is_dropped_for_no_kana():
    f = KanaInHead()
    assert f.score(CHINESE) == 0 and f.violations(f.score(CHINESE))[0][0] == "kana_in_head_v1"
    assert HiraganaRatio().violations(HiraganaRatio().score(CHINESE))
    assert KanaInHead().keep(KanaInHead().score(SOSEKI))


def test_kana_in_head_looks_only_at_the_first_chars():
    text = CHINESE * 3 + SOSEKI  # kana only after 150 characters
    assert KanaInHead(lookup_chars=50).score(text) == 0
    assert KanaInHead(lookup_chars=len(text)).score(text) > 0


def test_catalogue_page_fails_hiragana_and_japanese_ratio():
    assert HiraganaRatio().score(SHOP) < 0.2 and not HiraganaRatio().keep(HiraganaRatio().score(SHOP))
    assert JapaneseRatio().score(SHOP) < 0.5


def test_katakana_heavy_text_is_dropped():
    # real product names from the ClueWeb shop page: almost only katakana
    text = "マージ 長財布 パンチングレザー ブラック ヘッドポーター カラビナ マリーン ストラップ ネイビー"
    f = KatakanaRatio()
    assert f.score(text) > 0.5 and f.violations(f.score(text))[0][0] == "katakana_ratio_v1"


def test_short_documents_are_dropped():
    assert NumChars().violations(NumChars().score(SOSEKI))[0][0] == "num_chars_v1"
    assert NumJapaneseLetters().violations(NumJapaneseLetters().score(SOSEKI))
    assert NumChars(count_whitespace=False, min_chars=1).violations(0.0)
    assert NumChars(count_whitespace=False).score(" \n\u3000あ ") == 1


def test_threshold_none_disables_and_bad_threshold_is_a_value_error():
    assert HiraganaRatio(min_ratio=None).keep(0.0)
    with pytest.raises(ValueError, match="min_ratio"):
        HiraganaRatio(min_ratio="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lookup_chars"):
        KanaInHead(lookup_chars=0)


def char_counts_reference(text: str) -> tuple[int, ...]:
    """Swallow's character classes as regular expressions over the str (filters/textstats.py docstring)."""
    kanji = r"[々〇〻\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]"
    return tuple(len(re.findall(p, text)) for p in (r"[ぁ-\u3096]", r"[ァ-\u30fa]", kanji, r"[。．！？]", r"[、，]"))


# class boundaries (U+3040/3041, U+3096/3097, U+30A0/30A1, U+30FA/30FB/30FC, U+33FF/3400, U+9FFF/A000, ...), planes
# 2-4, lone surrogates, and the characters counted by name
BOUNDARIES = "\u3040\u3041\u3096\u3097\u30a0\u30a1\u30fa\u30fb\u30fc\u33ff\u3400\u9fff\ua000\uf8ff\uf900\ufaff\ufb00"
CLASS_EDGES = st.text(
    alphabet=st.sampled_from(
        BOUNDARIES + "々〇〻。．！？、，!?\ud800\udfff\U0001ffff\U00020000\U0003ffff\U00040000ンヴ"
    ),
    max_size=100,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(CLASS_EDGES, st.text(max_size=60)), max_size=6), st.integers(1, 80))
def test_char_counts_and_kana_in_head_equal_the_definitions(texts, lookup_chars):
    batch = tuple(texts)
    for text, c in zip(batch, char_counts_batch(batch), strict=True):
        assert (c.num_hiragana, c.num_katakana, c.num_kanji, c.num_kuten, c.num_toten) == char_counts_reference(text)
        assert c.num_chars == len(text)
    f = KanaInHead(lookup_chars=lookup_chars)
    assert f.score_batch(batch) == [float(len(re.findall(r"[ぁ-んァ-ン]", t[:lookup_chars]))) for t in batch]
