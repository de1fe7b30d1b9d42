"""FineWeb-2 word filters on SudachiPy words: real prose keeps; feed residue and list pages drop."""

from __future__ import annotations

from filters.words import FineWebQuality, GopherQualityWords, words
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
NEWS = DOCS["ja_html_pages/html:newspaper4k/japanese_article.html"]
FEED = DOCS["ja_html_pages/html:chardet_feeds/EUC-JP/furusatonoeki.cutegirl.jp.xml"]


def test_sudachi_words_never_whitespace_and_long_text_is_chunked():
    ws = words("東京都に住んでいます。 今日は\n晴れ。")
    assert "東京" in ws and all(w.strip() for w in ws)
    long_text = "あ" * 20_000  # one line beyond SudachiPy's input limit: chunked, not an error
    assert sum(len(w) for w in words(long_text)) == 20_000


def test_wikipedia_keeps():
    for text in (DOCS["wikipedia/jawiki:jawiki/316"], DOCS["wikipedia/jawiki:jawiki/42"]):
        for f in (GopherQualityWords(), FineWebQuality()):
            assert f.keep(f.score(text)), (f.name, f.violations(f.score(text)))


def test_paywalled_news_snippet_fails_gopher_ellipsis_lines():
    # the Nikkei page ends "その判断は…" + a members-only notice: a truncated teaser, 1 of 3 lines ends in …
    f = GopherQualityWords()
    assert f.keep(f.score(NEWS)) is False
    assert [r for r, _ in f.violations(f.score(NEWS))] == ["gopher_quality_words_v1.ellipsis_line_frac"]
    assert FineWebQuality().keep(FineWebQuality().score(NEWS))


def test_feed_residue_fails_fineweb_line_punctuation():
    f = FineWebQuality()
    failed = [r for r, _ in f.violations(f.score(FEED))]
    assert "fineweb_quality_v1.line_punct_frac" in failed


def test_gopher_quality_needs_stop_words_and_enough_words():
    f = GopherQualityWords()
    short = f.score("東京都。")
    assert "gopher_quality_words_v1.num_words" in [r for r, _ in f.violations(short)]
    no_stop = f.score("東京 大阪 名古屋 札幌 福岡 " * 20)
    assert "gopher_quality_words_v1.num_stop_words" in [r for r, _ in f.violations(no_stop)]
