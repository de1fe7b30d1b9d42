"""Clean-up steps: exact rewrites on full-/half-width text, boilerplate lines, whitespace; counted edits."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from filters.cleanup import (
    BoilerplateLines,
    FooterTruncate,
    InvalidChars,
    JaWidth,
    Kutoten,
    LlmjpJapaneseLines,
    Nfkc,
    SymbolLines,
    Whitespace,
)
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
SHOP = DOCS["clueweb09-ja/clueweb:clueweb09-ja0016-50-00010"]
NEWS = DOCS["ja_html_pages/html:newspaper4k/japanese_article.html"]


def test_ja_width_folds_only_width_variants():
    text = "ＡＢＣ１２３とｶﾀｶﾅ、ｶﾞｷﾞ｡「全角！？（）」〜～…①　字下げ"
    out, n = JaWidth().apply(text)
    assert out == "ABC123とカタカナ、ガギ。「全角！？（）」〜～…①　字下げ"
    assert n == 6 + 2  # six full-width alphanumerics, two half-width kana runs
    # what NFKC would have done instead (the reason it is not our default)
    nfkc, _ = Nfkc().apply(text)
    assert nfkc == unicodedata.normalize("NFKC", text) and "!?()" in nfkc and "..." in nfkc and "1" in nfkc


def test_ja_width_on_real_shop_text():
    out, n = JaWidth().apply(SHOP)
    assert "ＴＥＬ" not in out and "TEL" in out and n > 0
    assert out.count("\n") == SHOP.count("\n")


def test_kutoten_only_after_japanese():
    out, n = Kutoten().apply("これは，テストです．数値は１，０００．５と3,000.5です．")
    assert out == "これは、テストです。数値は１，０００．５と3,000.5です。" and n == 3


def test_boilerplate_lines_removed_but_prose_mentions_kept():
    text = (
        "本文です。\nツイート シェア はてブ\n続きを読む >>\n「続きを読む」を押すと全文が表示されます。\n"
        "ページトップへ戻る\nCopyright © 2024 Example Inc. All Rights Reserved."
    )
    out, n = BoilerplateLines().apply(text)
    assert out == "本文です。\n「続きを読む」を押すと全文が表示されます。" and n == 4


def test_symbol_lines_remove_table_residue_from_real_page():
    out, n = SymbolLines().apply(SHOP)
    assert n > 0 and "\n|  | \n" not in out
    assert "ヘッドポーターよりストラップMホワイトバッグ柄が登場！" in out


def test_whitespace():
    out, n = Whitespace().apply("\n\n  本文\u200b です。   \n\n\n\n\u3000次の段落。\t\t終わり  \n")
    assert out == " 本文 です。\n\n\u3000次の段落。 終わり" and n > 0
    assert Whitespace().apply("整った文。")[1] == 0


def test_invalid_chars():
    out, n = InvalidChars().apply("壊れた\ud800文字\x00列\r\nです\x1b。")
    assert out == "壊れた\ufffd文字列\nです。" and n == 4
    out.encode("utf-8")  # now writable


def test_footer_truncate_only_in_second_half():
    body = NEWS
    out, n = FooterTruncate().apply(body + "\n固定リンク | コメント (0)\nこの後ろは消える")
    assert out == body and n == 1
    assert FooterTruncate().apply("Copyright について。\n" + body) == ("Copyright について。\n" + body, 0)


def test_llmjp_line_extraction_as_released():
    text = "Home | About\n日本語の行です。https://example.com/a?b=1 を参照。\n" + "x" * 120 + "\nカタカナ行"
    out, n = LlmjpJapaneseLines().apply(text)
    assert out == "日本語の行です。 を参照。カタカナ行" and n >= 3  # joined without newline, as released
    assert LlmjpJapaneseLines(join_with="\n").apply(text)[0] == "日本語の行です。 を参照。\nカタカナ行"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(" \t\u3000\n\u00a0\u2003\u200b\ufeffあa，．。漢」1１"), max_size=30))
def test_whitespace_and_kutoten_prechecks_never_skip_a_match(text):
    """The substring pre-checks only skip regexes that cannot match: same result as running them all."""
    from filters.cleanup import _BLANK_LINES, _KUTOTEN, _SPACE_RUN, _TRAILING, _ZERO_WIDTH

    t, a = _ZERO_WIDTH.subn("", text)
    t, b = _SPACE_RUN.subn(" ", t)
    t, c = _TRAILING.subn("", t)
    t, d = _BLANK_LINES.subn("\n\n", t)
    assert Whitespace().apply(text) == (t.strip("\n"), a + b + c + d + (t.strip("\n") != t))
    assert Kutoten().apply(text) == _KUTOTEN.subn(lambda m: "、" if m.group() == "，" else "。", text)


# every character the width and whitespace steps look for, next to each other
FLAG_TEXT = st.text(
    alphabet=st.sampled_from(
        "あア a\t\n\u3000\u00a0\u2000\u200a\u200b\u200c\u200d\u2060\ufeff０９Ａｚｶﾞ\uff61\uff9f\uff60\ud800"
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(FLAG_TEXT)
def test_compiled_flags_equal_the_substring_scans_they_replace(text):
    from filters import cleanup

    flags = cleanup._char_flags(text)
    assert flags[cleanup._NUM_FULLWIDTH_ALNUM] == len(re.findall(r"[０-９Ａ-Ｚａ-ｚ]", text))
    assert flags[cleanup._HAS_HALFWIDTH_KANA] == (re.search(r"[\uff61-\uff9f]", text) is not None)
    assert flags[cleanup._HAS_ZERO_WIDTH] == any(c in text for c in "\u200b\u200c\u200d\u2060\ufeff")
    assert flags[cleanup._HAS_SPACE_RUN] == (cleanup._SPACE_RUN.search(text) is not None)
    assert flags[cleanup._HAS_TRAILING] == (cleanup._TRAILING.search(text) is not None)
    assert flags[cleanup._HAS_BLANK_LINES] == ("\n\n\n" in text)


@settings(max_examples=300, deadline=None)
@given(FLAG_TEXT)
def test_line_end_stripping_equals_the_trailing_regex(text):
    from filters import cleanup

    assert cleanup._strip_line_ends(text) == cleanup._TRAILING.subn("", text)
