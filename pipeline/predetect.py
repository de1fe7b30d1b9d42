"""Charset decoding and cheap Japanese pre-detection of raw HTML records, before trafilatura.

Two counted stages run between ``read_warc`` and ``extract`` (:func:`html_stages`):

- ``decode``: raw record (``payload`` bytes) -> record with ``html: str`` and ``charset`` (``pipeline.decode``);
  ``failed.decode`` when no charset turns the bytes into text. Stats: ``stats.charset_from_<source>``
  (http, meta, detected, bom, jis_escape, fallback) and ``stats.lossy_decode``.
- ``predetect``: keeps likely-Japanese pages, ``dropped.not_japanese`` otherwise. Extraction costs one to two
  orders of magnitude more than this check, and in a Common Crawl snapshot about 5% of pages are Japanese, so
  skipping the rest is most of the pipeline's speed (Swallow corpus, Okazaki et al. 2024, filters the same way
  before extraction).

:func:`looks_japanese` keeps a page on the first of these signals:
1. ``lang_ja``: ``<html lang="ja">`` / ``xml:lang`` / ``<meta http-equiv="content-language" content="ja">``;
2. ``title_kana``: at least ``min_title_kana`` hiragana/katakana in ``<title>`` (entities unescaped);
3. ``kana_density``: in ``scan_chars`` characters from ``<body>`` on, at least ``min_kana_chars`` kana that are at
   least ``min_kana_ratio`` of kana + kanji. Kana are what separates Japanese from Chinese, whose pages share
   the kanji (and sometimes a stray の); tags are ASCII, so no HTML parsing is needed to count them.
A ``lang`` attribute naming another language is not a negative signal: many Japanese sites ship a template with
``lang="en"``. fastText language id after extraction makes the final call, so a false positive here only costs
extraction time, while a false negative loses a page for good: the thresholds lean to keeping.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

from pipeline.config import PipelineConfig, PredetectConfig
from pipeline.decode import UndecodableError, decode_html
from pipeline.stage import CountedDoFn, Drop, Fail, count

_HTML_TAG_RE = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_LANG_ATTR_RE = re.compile(r"""\b(?:xml:)?lang\s*=\s*["']?\s*([A-Za-z]{2,3})""", re.IGNORECASE)
_CONTENT_LANGUAGE_RE = re.compile(
    r"""<meta\b[^>]*?http-equiv\s*=\s*["']?content-language["']?[^>]*?content\s*=\s*["']?\s*([A-Za-z]{2,3})"""
    r"""|<meta\b[^>]*?content\s*=\s*["']?\s*([A-Za-z]{2,3})\b[^>]*?http-equiv\s*=\s*["']?content-language""",
    re.IGNORECASE,
)
_TITLE_RE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_BODY_RE = re.compile(r"<body\b", re.IGNORECASE)
# Hiragana (ぁ-ゟ), katakana (ァ-ヺ, ー), half-width katakana (ｦ-ﾝ).
_KANA_RE = re.compile("[\u3041-\u309f\u30a1-\u30fa\u30fc\uff66-\uff9d]")
_KANJI_RE = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]")
_MAX_TITLE_CHARS = 1000


def html_lang(head: str) -> str | None:
    """The primary language subtag the page declares (``ja`` for ``lang="ja-JP"``), lower-cased."""
    tag = _HTML_TAG_RE.search(head)
    if tag is not None:
        attr = _LANG_ATTR_RE.search(tag.group(0))
        if attr is not None:
            return attr.group(1).lower()
    meta = _CONTENT_LANGUAGE_RE.search(head)
    if meta is not None:
        return next(g for g in meta.groups() if g).lower()
    return None


def html_title(head: str) -> str | None:
    match = _TITLE_RE.search(head)
    if match is None:
        return None
    return html_lib.unescape(match.group(1)[:_MAX_TITLE_CHARS]).strip()


def looks_japanese(html: str, cfg: PredetectConfig) -> tuple[bool, str]:
    """Whether ``html`` is likely Japanese, and the signal that decided it (see module docstring)."""
    head = html[: cfg.scan_chars]
    lang = html_lang(head)
    if lang == "ja":
        return True, "lang_ja"
    title = html_title(head)
    num_title_kana = len(_KANA_RE.findall(title)) if title else 0
    if num_title_kana >= cfg.min_title_kana:
        return True, "title_kana"
    body = _BODY_RE.search(html)
    start = body.start() if body is not None else 0
    window = html[start : start + cfg.scan_chars]
    num_kana = len(_KANA_RE.findall(window))
    if num_kana < cfg.min_kana_chars:  # most non-Japanese pages stop here, before the costlier kanji count
        return False, f"lang={lang} title_kana={num_title_kana} kana={num_kana}"
    num_kanji = len(_KANJI_RE.findall(window))
    ratio = num_kana / (num_kana + num_kanji)
    if ratio >= cfg.min_kana_ratio:
        return True, "kana_density"
    return False, f"lang={lang} title_kana={num_title_kana} kana={num_kana} kanji={num_kanji} ratio={ratio:.3f}"


class Decode(CountedDoFn):
    """Raw HTML record -> record with ``html`` (str) and ``charset``; the payload bytes are dropped."""

    stage = "decode"

    def apply(self, rec: dict[str, Any]) -> dict[str, Any] | Fail:
        try:
            decoded = decode_html(rec["payload"], rec.get("http_charset"))
        except UndecodableError as exc:
            return Fail("decode", str(exc))
        count(self.stage, f"stats.charset_from_{decoded.source}")
        if decoded.num_replaced:
            count(self.stage, "stats.lossy_decode")
        out = {k: v for k, v in rec.items() if k not in ("payload", "http_charset")}
        out["html"] = decoded.text
        out["charset"] = decoded.charset
        return out


class Predetect(CountedDoFn):
    """Keep likely-Japanese pages (:func:`looks_japanese`); the rest are ``dropped.not_japanese``."""

    stage = "predetect"

    def __init__(self, cfg: PredetectConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def apply(self, rec: dict[str, Any]) -> dict[str, Any] | Drop:
        keep, reason = looks_japanese(rec["html"], self._cfg)
        if not keep:
            title = html_title(rec["html"][: self._cfg.scan_chars])
            return Drop("not_japanese", f"{reason} title={title!r}" if title else reason)
        count(self.stage, f"stats.{reason}")
        return rec


def html_stages(cfg: PipelineConfig) -> list[CountedDoFn]:
    """The counted stages between ``read_warc`` and ``extract``, in order (predetect only when enabled)."""
    stages: list[CountedDoFn] = [Decode()]
    if cfg.predetect.enabled:
        stages.append(Predetect(cfg.predetect))
    return stages
