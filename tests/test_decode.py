"""pipeline.decode on real pages in Shift_JIS, CP932, EUC-JP and ISO-2022-JP (chardet's test files), ClueWeb09
EUC-JP records, and CC pages in gb2312/cp1251/utf-8."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline.config import WarcConfig
from pipeline.decode import UndecodableError, codecs_for, decode_html, meta_charset, normalize_charset
from pipeline.read_warc import iter_warc
from tests.conftest import TEST_DATA

HTML = TEST_DATA / "html"
# The folder names the page's true encoding; this is the codec that reads it exactly.
TRUE_CODEC = {"SHIFT_JIS": "cp932", "CP932": "cp932", "EUC-JP": "euc_jp", "iso-2022-jp": "iso2022_jp"}
PAGES = sorted(p for enc in TRUE_CODEC for p in (HTML / enc).iterdir())


def kana(text: str) -> int:
    return sum(1 for c in text if "\u3041" <= c <= "\u30ff")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_japanese_encodings_come_out_exact(path: Path):
    data = path.read_bytes()
    decoded = decode_html(data)  # no HTTP header: meta tag or detection must find it
    assert decoded.text == data.decode(TRUE_CODEC[path.parent.name])
    assert decoded.num_replaced == 0 and kana(decoded.text) >= 4
    assert codecs_for(decoded.charset)[0] == TRUE_CODEC[path.parent.name] or decoded.charset == "iso2022_jp"


def test_sources_of_evidence():
    ooganemochi = (HTML / "SHIFT_JIS" / "ooganemochi.com.xml").read_bytes()
    assert meta_charset(ooganemochi) == "Shift_JIS"  # from the XML declaration
    assert decode_html(ooganemochi).source == "meta"
    assert decode_html(ooganemochi, "Shift_JIS").source == "http"
    # A header that lies (utf-8) does not win over bytes that are not utf-8: the meta tag is next.
    lied = decode_html(ooganemochi, "utf-8")
    assert lied.source == "meta" and lied.charset == "cp932"
    # Servers that default to latin-1 are cross-checked with detection.
    latin = decode_html(ooganemochi, "ISO-8859-1")
    assert latin.charset == "cp932" and latin.source == "detected"
    chromium = (HTML / "SHIFT_JIS" / "_chromium_Shift-JIS_with_no_encoding_specified.html").read_bytes()
    assert decode_html(chromium).source == "detected"
    jis = (HTML / "iso-2022-jp" / "_ude_1.txt").read_bytes()
    # ISO-2022-JP is 7-bit and decodes as utf-8 without error; its escapes must win over a utf-8 label.
    assert decode_html(jis, "utf-8").charset == "iso2022_jp" and decode_html(jis, "utf-8").source == "jis_escape"
    nhk = (HTML / "nhk.or.jp.k100.html").read_bytes()
    assert decode_html(nhk).source == "bom" and not decode_html(nhk).text.startswith("\ufeff")


def test_short_euc_jp_page_is_read_as_japanese():
    # 39 bytes: too short for the statistical detector (it answers windows-1252).
    data = (HTML / "EUC-JP" / "_mozilla_bug431054_text.html").read_bytes()
    assert "ログイン" in decode_html(data).text


def test_clueweb_euc_jp_records():
    items = [
        o
        for o in iter_warc(
            io.BytesIO((TEST_DATA / "warc" / "clueweb09_ja_head4.warc.gz").read_bytes()), "cw", WarcConfig()
        )
        if o.kind == "html"
    ]
    for o in items:
        decoded = decode_html(o.record["payload"], o.record["http_charset"])
        assert decoded.charset == "euc_jp" and decoded.source == "http" and decoded.num_replaced == 0
        assert "ヘッドポーター" in decoded.text


def test_cc_pages_in_other_charsets():
    items = [
        o.record
        for o in iter_warc(io.BytesIO((TEST_DATA / "warc" / "cc2020_head13.warc.gz").read_bytes()), "cc", WarcConfig())
        if o.kind == "html"
    ]
    got = [(d.charset, d.source) for d in (decode_html(r["payload"], r["http_charset"]) for r in items)]
    assert got == [("utf-8", "meta"), ("cp1251", "http"), ("utf-8", "http"), ("gb18030", "http")]
    assert "О компании" in decode_html(items[1]["payload"], "windows-1251").text


def test_aliases():
    assert normalize_charset("Shift_JIS") == "shift_jis"
    for label in ("Shift_JIS", "SJIS", "x-sjis", "Windows-31J", "MS_Kanji", "cp932"):
        assert codecs_for(label)[0] == "cp932", label
    for label in ("EUC-JP", "x-euc-jp", "eucJP"):
        assert codecs_for(label) == ("euc_jp", "euc_jis_2004"), label
    assert codecs_for("ISO-2022-JP")[0] == "iso2022_jp"
    assert codecs_for("gb2312") == ("gb18030",) and codecs_for("GBK") == ("gb18030",)
    assert codecs_for("iso-8859-1")[0] == "cp1252" and codecs_for("no-such-charset") == () and codecs_for(None) == ()


def test_jis_x_0213_page_falls_back_to_euc_jis_2004():
    # ゔ, ㇰ, 〘〙 and ㈱ exist in JIS X 0213 but not in JIS X 0208: plain euc_jp cannot read them.
    text = "<html><head><meta charset=EUC-JP></head><body>ゔぁいおりん教室〘ㇰ〙㈱</body></html>"
    data = text.encode("euc_jis_2004")
    with pytest.raises(UnicodeDecodeError):
        data.decode("euc_jp")
    decoded = decode_html(data)
    assert decoded.text == text and decoded.charset == "euc_jis_2004"


def test_a_stray_byte_is_replaced_and_garbage_is_undecodable():
    page = (HTML / "SHIFT_JIS" / "ooganemochi.com.xml").read_bytes()
    damaged = page + b"\x82"  # cut inside a character (a truncated record): strict decoding fails everywhere
    decoded = decode_html(damaged, "Shift_JIS")
    assert decoded.num_replaced >= 1 and decoded.charset == "cp932" and kana(decoded.text) > 100
    with pytest.raises(UndecodableError):
        decode_html(bytes(range(128, 256)) * 40 + b"\x81\xff" * 500, "utf-8")
