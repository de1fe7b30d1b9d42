"""pipeline.wikitext: wikitext -> plain text, on constructs from real jawiki pages and on the real dump sample."""

from __future__ import annotations

import bz2
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.config import WikipediaConfig
from pipeline.wikitext import clean_wikitext, render_links, strip_templates

SAMPLE = Path(__file__).resolve().parent.parent / "demo" / "sample" / "jawiki_pages-articles_head262.xml.bz2"
CUT = WikipediaConfig().cut_sections


def clean(text: str) -> str:
    return clean_wikitext(text, cut_sections=CUT)


@pytest.fixture(scope="module")
def articles() -> dict[str, str]:
    """Raw wikitext of the sample's ns-0 pages, by title (read with a plain parser, independent of the reader)."""
    pages: dict[str, str] = {}
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    with bz2.open(SAMPLE, "rb") as f:
        try:
            for _event, elem in ET.iterparse(f):
                if elem.tag == ns + "page":
                    if elem.findtext(ns + "ns") == "0" and elem.find(ns + "redirect") is None:
                        pages[elem.findtext(ns + "title")] = elem.findtext(f"{ns}revision/{ns}text") or ""
                    elem.clear()
        except ET.ParseError:  # the sample ends without </mediawiki>
            pass
    return pages


# --- templates and tables ---------------------------------------------------------------------------------------


def test_nested_templates_and_parameters_are_removed():
    text = "前{{Infobox|name={{lang|en|X}}|image=[[File:a.png|thumb|{{small|説明}}]]|p={{{1|}}}}}後"
    assert strip_templates(text) == "前後"


def test_inline_templates_keep_their_running_text():
    assert clean("{{仮リンク|ギリシア文字|en|Greek alphabet}}の一つ") == "ギリシア文字の一つ"
    assert clean("{{仮リンク|X|en|Y|label=表示名}}") == "表示名"
    assert clean("パリ（{{lang-fr-short|Paris}}）") == "パリ（Paris）"
    assert clean("{{lang|en|''per se''}}") == "per se"
    assert clean("{{読み仮名|漢字|かんじ}}") == "漢字（かんじ）"
    assert clean("人口は{{formatnum:1234}}人") == "人口は1234人"
    assert clean("{{要出典範囲|一説には誤りとされる|date=2020年1月}}。") == "一説には誤りとされる。"


def test_tables_nested_and_inside_templates_are_removed():
    text = '前文。\n{| class="wikitable"\n|-\n! 見出し\n|-\n| {{flag|JPN}} ||\n{|\n| 入れ子\n|}\n|}\n後文。'
    assert clean(text) == "前文。\n後文。"


def test_template_closed_by_triple_brace_and_by_table_like_pipe():
    assert clean("a{{x|{{{1}}}}}b") == "ab"
    assert clean("a{{Navbox\n|list1=項目\n|}}b") == "ab"


def test_unbalanced_markup_leaves_no_markers():
    assert clean("本文{{未閉じ テンプレート") == "本文未閉じ テンプレート"
    assert clean("本文}}と]]") == "本文と"
    assert clean("本文[[未閉じリンク") == "本文未閉じリンク"
    # MediaWiki closes an unclosed table at the end of the page
    assert clean("本文\n{|\n| セル") == "本文"


# --- references, comments, tags ---------------------------------------------------------------------------------


def test_references_are_removed_with_their_content():
    text = (
        "約1億3千万人以上と考えられている<ref>{{cite web|url=https://x.example|title=T}}</ref>。"
        '<ref name="a" />上位10位<ref group="注">[[日本国語大辞典]]等</ref>。\n<references />'
    )
    assert clean(text) == "約1億3千万人以上と考えられている。上位10位。"


def test_unclosed_reference_does_not_swallow_the_page():
    assert clean("前<ref name=x>出典の途中\n\n次の段落。") == "前出典の途中\n次の段落。"


def test_comments_tags_and_entities():
    text = "A<!-- 編集者向け -->B<br />C<span style='x'>D</span>&amp;&nbsp;E&lt;F&gt;<math>x^2</math>"
    assert clean(text) == "AB\nCD& E<F>"


# --- links ------------------------------------------------------------------------------------------------------


def test_links_keep_label_files_and_categories_vanish_with_nested_captions():
    text = (
        "[[File:Trebuchet MS ampersand.svg|thumb|100px|[[Trebuchet MS]] フォント]]"
        "[[ファイル:A.jpg|thumb|[[画像:B.png|10px]]説明]][[画像:C.png]]"
        "[[日本語の音韻]]は[[音節|開音節]]を[[#系統|系統]]で[[パリ (小惑星)|]]"
        "[[Category:日本語]][[カテゴリ:言語]][[:Category:言語|言語カテゴリ]][[en:Japanese language]]"
    )
    assert clean(text) == "日本語の音韻は開音節を系統でパリ言語カテゴリ"


def test_namespace_names_from_siteinfo_are_hidden_too():
    assert render_links("a[[Datei:X.png|thumb|y]]b", frozenset({"datei"})) == "ab"


def test_external_links_keep_label_and_bare_bracketed_urls_vanish():
    text = "[http://www.nawosan.com/index.shtml からまん] - 公式。[https://example.org]残り"
    assert clean(text) == "からまん - 公式。残り"


# --- lines: headings, lists, cut sections, whitespace -----------------------------------------------------------


def test_headings_become_lines_and_cut_sections_end_the_text():
    text = "本文。\n== 概要 ==\n概要文。\n=== 注釈 ===\n注。\n== 外部リンク ==\n* [http://x y]"
    assert clean(text) == "本文。\n概要\n概要文。"
    assert clean("本文。\n== 出典・脚注 ==\n出典。") == "本文。"
    assert clean("本文。\n==関連文献==\n本。") == "本文。\n関連文献\n本。"  # not a cut section


def test_lists_bold_and_whitespace():
    text = (
        "*「[[ら行]]」音が語頭に立たない。\n#  番号 付き\n: 字下げ\n; 用語\n'''太字'''と''斜体''\n\n\n　全角　\n----"
    )
    assert clean(text) == "「ら行」音が語頭に立たない。\n番号 付き\n字下げ\n用語\n太字と斜体\n全角"


def test_headings_without_text_left_are_dropped():
    text = "== 画像 ==\n<gallery>\nA.jpg\n</gallery>\n== 歴史 ==\n=== 古代 ===\n古代の話。"
    assert clean(text) == "歴史\n古代\n古代の話。"


def test_brackets_emptied_by_removed_markup_are_tidied():
    assert clean("パリ（{{IPA-fr|paʁi}}、'''巴里'''）は") == "パリ（巴里）は"
    assert clean("記号（<ref>x</ref>）である") == "記号である"
    assert clean("関数 printf() を呼ぶ (<ref>x</ref>)。") == "関数 printf() を呼ぶ 。"


# --- the real sample --------------------------------------------------------------------------------------------


def test_known_articles_first_sentences_come_out_clean(articles):
    assert clean(articles["日本語"]).split("\n")[0] == (
        "日本語（にほんご、にっぽんご）は、主に日本国内や、日本人同士の間で使用されている言語で、"
        "事実上日本の唯一の公用語である。"
    )
    assert clean(articles["パリ"]).startswith(
        "パリ（Paris、巴里）は、フランスの首都。イル＝ド＝フランス地域圏の首府。"
    )
    assert clean(articles["アンパサンド"]).startswith(
        "アンパサンド（&, ampersand）は、並立助詞「…と…」を意味する記号である。"
    )


def test_no_markup_survives_on_any_sample_article(articles):
    assert len(articles) == 204
    for title, wikitext in articles.items():
        text = clean(wikitext)
        for marker in ("{{", "}}", "[[", "]]", "<ref", "{|", "|}", "'''", "<!--", "thumb|"):
            assert marker not in text, (title, marker)
        lines = text.split("\n")
        assert not set(lines) & set(CUT), title
        assert all(line == line.strip() and line for line in lines), title


def test_cut_sections_really_cut_the_tail(articles):
    num_cut = 0
    for title, wikitext in articles.items():
        uncut = clean_wikitext(wikitext).split("\n")
        kept = clean(wikitext).split("\n")
        assert uncut[: len(kept)] == kept, title  # cutting only ever removes a tail
        num_cut += len(kept) < len(uncut)
    assert num_cut >= 150  # most sample articles end with 脚注/関連項目/外部リンク
    # 液晶 has a normal section (用途) after 出典/注釈: the cut is at the first cut heading, so it goes too
    assert "用途" in clean_wikitext(articles["液晶"]).split("\n")
    assert "用途" not in clean(articles["液晶"]).split("\n")


# --- linear time on pathological input (a hang guard, not a timing assertion) -------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "page",
    [
        "{{" * 500_000,
        "[[" * 500_000,
        "{{{" * 300_000 + "}}" * 100_000,
        "<ref>" * 200_000,
        "[http://x" + " " * 1_000_000,
        "[http://x" * 100_000,
        "{{lang|en|" * 100_000 + "x" + "}}" * 100_000,
        "{|\n" * 300_000,
        "<!--" + "-" * 1_000_000,
        "'" * 1_000_000,
        "=" * 1_000_000,
        "（、" * 500_000,
    ],
    ids=[
        "open_braces",
        "open_links",
        "params",
        "refs",
        "ext_spaces",
        "ext_starts",
        "nested_inline",
        "tables",
        "comment",
        "quotes",
        "heading",
        "brackets",
    ],
)
def test_pathological_pages_finish(page):
    assert "{{" not in clean(page)


@pytest.mark.timeout(120)
def test_two_megabyte_real_page_is_cleaned(articles):
    page = "\n".join([articles["日本語"]] * 8)
    assert len(page.encode()) > 2_000_000
    text = clean_wikitext(page)  # no cut: the whole 2 MB is processed
    assert text.startswith("日本語（にほんご、にっぽんご）は")
