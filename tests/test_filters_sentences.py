"""Sentence statistics on real text: Swallow's split, mean/max length, ellipsis share, HojiChar's rare kuten."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from filters.sentences import (
    CharsPerKuten,
    EllipsisSentenceRatio,
    LinePunctRatio,
    MaxSentenceLength,
    MeanSentenceLength,
)
from filters.textstats import segments
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
WIKI = DOCS["wikipedia/jawiki:jawiki/316"]  # 飲む
LIST_ARTICLE = DOCS["wikipedia/jawiki:jawiki/464"]  # 東京を舞台とした映画作品一覧: a list, few sentences
NEWS = DOCS["ja_html_pages/html:newspaper4k/japanese_article.html"]
FEED = DOCS["ja_html_pages/html:chardet_feeds/EUC-JP/furusatonoeki.cutegirl.jp.xml"]


def test_swallow_sentence_split():
    seg = segments("吾輩は猫である。名前はまだ無い！\nどこで生れたか？とんと見当がつかぬ")
    assert seg.sentences == ("吾輩は猫である。", "名前はまだ無い！", "どこで生れたか？", "とんと見当がつかぬ")
    assert seg.line_sentences == (("吾輩は猫である。", "名前はまだ無い！"), ("どこで生れたか？", "とんと見当がつかぬ"))
    # a terminator with nothing before it is not a sentence (Swallow's regex needs one non-terminator)
    assert segments("。。あ。").sentences == ("あ。",)


def test_encyclopedia_and_news_prose_keep():
    for text in (WIKI, NEWS):
        for f in (MeanSentenceLength(), EllipsisSentenceRatio(), LinePunctRatio()):
            assert f.keep(f.score(text)), (f.name, f.score(text))


def test_list_article_has_too_short_sentences_and_too_few_sentence_lines():
    f = MeanSentenceLength()
    assert f.score(LIST_ARTICLE) < 20 and f.violations(f.score(LIST_ARTICLE))[0][0] == "mean_sentence_length_v1"
    assert not LinePunctRatio().keep(LinePunctRatio().score(LIST_ARTICLE))


def test_max_sentence_length_drops_unpunctuated_runs():
    text = WIKI.replace("。", "、").replace("\n", "")  # one endless sentence
    f = MaxSentenceLength()
    assert f.score(text) > 200 and f.violations(f.score(text))
    assert f.score("") == 0.0


def test_ellipsis_sentences():
    text = "続きはこちら…\n詳しくは本文で…\n今日は晴れた。\n" * 5
    f = EllipsisSentenceRatio()
    assert math.isclose(f.score(text), 2 / 3) and f.violations(f.score(text))


def test_chars_per_kuten_matches_hojichar_rule():
    f = CharsPerKuten(max_chars=100)  # HojiChar default
    # HojiChar: reject iff count("。") < len(text) / 100
    for text in (WIKI, NEWS, FEED, "", "あ" * 150 + "。", "あ" * 99 + "。"):
        hojichar_rejects = text.count("。") < len(text) / 100
        assert (not f.keep(f.score(text))) == hojichar_rejects
    assert f.score("句点なしの文") == math.inf and f.score("") == 0.0


def test_feed_residue_fails_line_punctuation():
    f = LinePunctRatio()
    assert f.score(FEED) < 0.2 and f.violations(f.score(FEED))[0][0] == "line_punct_ratio_v1"


# terminators, line ends, ellipses, newlines and the whitespace str.strip() removes (\r, \x85, \u2028, \u3000, ...)
PUNCT_TEXT = st.text(
    alphabet=st.sampled_from("あ漢ア。．！？!?」』）)…・\n\n\r\x85\u2028\u3000\t \x1c\ud800😀"), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(PUNCT_TEXT, st.text(max_size=40)), max_size=6))
def test_batched_sentence_and_line_statistics_equal_the_python_definitions(texts):
    batch = tuple(texts)
    for f in (MeanSentenceLength(), MaxSentenceLength(), EllipsisSentenceRatio(), LinePunctRatio()):
        assert f.score_batch(batch) == [f.score(t) for t in batch], f.name
