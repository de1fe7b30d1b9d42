"""Clean-up steps: the only places where filters/ rewrites text. They never decide whether to keep a document.

Each step is a frozen dataclass with a stable versioned ``name`` and ``apply(text) -> (text, num_edits)``; the
Beam stage counts, per step, the documents it changed and the edits it made.

Unicode policy (``ja_width_v1``, our default) — why not plain NFKC: NFKC folds full-width ASCII (ＡＢＣ１２３ ->
ABC123) and half-width katakana (ｶﾀｶﾅ -> カタカナ), which we want, but it also rewrites Japanese typography that
carries meaning or that other rules depend on: ！？（）： become !?(): (Swallow counts ！？ as kuten, not !?),
～ becomes ~, … becomes ..., ① becomes 1, ㈱ becomes (株), the ideographic space U+3000 used to indent paragraphs
becomes a plain space, and ㍻ becomes 平成. So ``ja_width_v1`` folds exactly the two width variants and nothing
else; ``nfkc_v1`` is there for who wants the full fold (it is what many English-first pipelines do).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit

from filters.textstats import memo_last_text


class CleanupStep:
    """Mixin for clean-up step dataclasses."""

    __slots__ = ()
    name: ClassVar[str]

    def apply(self, text: str) -> tuple[str, int]:
        raise NotImplementedError


# Lone surrogates cannot be encoded as UTF-8 (the shard writer would fail); C0/C1 controls other than tab and
# newline are invisible garbage from bad decoding.
_INVALID = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidChars(CleanupStep):
    """Replace lone surrogates with U+FFFD, delete control characters (except tab/newline), map CR/CRLF to LF."""

    name: ClassVar[str] = "invalid_chars_v1"

    def apply(self, text: str) -> tuple[str, int]:
        num = 0
        if "\r" in text:
            num += text.count("\r")
            text = text.replace("\r\n", "\n").replace("\r", "\n")

        def repl(m: re.Match[str]) -> str:
            return "\ufffd" if "\ud800" <= m.group() <= "\udfff" else ""

        text, n = _INVALID.subn(repl, text)
        return text, num + n


# columns of :func:`_char_flags`
_NUM_FULLWIDTH_ALNUM, _HAS_HALFWIDTH_KANA, _HAS_ZERO_WIDTH, _HAS_SPACE_RUN, _HAS_TRAILING, _HAS_BLANK_LINES = range(6)


@njit(cache=True, nogil=True)
def _char_flags_kernel(cp: np.ndarray) -> np.ndarray:
    """One pass over a text's code points: what the width and whitespace steps look for (see ``_char_flags``)."""
    out = np.zeros(6, dtype=np.int64)
    newlines = 0
    for i in range(len(cp)):
        c = np.int64(cp[i])
        nxt = np.int64(cp[i + 1]) if i + 1 < len(cp) else -1
        if (0xFF10 <= c <= 0xFF19) or (0xFF21 <= c <= 0xFF3A) or (0xFF41 <= c <= 0xFF5A):
            out[_NUM_FULLWIDTH_ALNUM] += 1
        elif 0xFF61 <= c <= 0xFF9F:
            out[_HAS_HALFWIDTH_KANA] = 1
        elif c == 0x200B or c == 0x200C or c == 0x200D or c == 0x2060 or c == 0xFEFF:
            out[_HAS_ZERO_WIDTH] = 1
        if (c == 0x20 and nxt == 0x20) or c == 0x09 or c == 0xA0 or (0x2000 <= c <= 0x200A):
            out[_HAS_SPACE_RUN] = 1
        if (c == 0x20 or c == 0x09 or c == 0x3000) and (nxt == 0x0A or nxt == -1):
            out[_HAS_TRAILING] = 1
        newlines = newlines + 1 if c == 0x0A else 0
        if newlines >= 3:
            out[_HAS_BLANK_LINES] = 1
    return out


@memo_last_text
def _char_flags(text: str) -> list[int]:
    """For ``text``: full-width ASCII letters/digits ([０-９Ａ-Ｚａ-ｚ]); whether it has half-width katakana
    (U+FF61–U+FF9F), a zero-width character, a run ``_SPACE_RUN`` matches (two spaces, or one tab, NBSP or
    U+2000–U+200A), a space/tab/U+3000 before a newline or at the end, three newlines in a row.

    One compiled pass instead of ~20 ``in`` scans and two regex scans (Python's re tries every position of a
    character class): memoised for the last text, which the next step gets back unchanged when it edits nothing.
    """
    return _char_flags_kernel(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)).tolist()


_FULLWIDTH_ALNUM = {c: c - 0xFEE0 for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class JaWidth(CleanupStep):
    """Full-width ASCII letters/digits -> ASCII; half-width katakana (with dakuten) -> full-width. Nothing else."""

    name: ClassVar[str] = "ja_width_v1"

    def apply(self, text: str) -> tuple[str, int]:
        flags = _char_flags(text)
        num = flags[_NUM_FULLWIDTH_ALNUM]  # most Japanese text has nothing to fold
        folded = text.translate(_FULLWIDTH_ALNUM) if num else text
        if not flags[_HAS_HALFWIDTH_KANA]:  # the fold above neither adds nor removes half-width katakana
            return folded, num
        folded, n = _HALFWIDTH_KANA.subn(lambda m: unicodedata.normalize("NFKC", m.group()), folded)
        return folded, num + n


@dataclass(frozen=True, slots=True, kw_only=True)
class Nfkc(CleanupStep):
    """Full Unicode NFKC (see the module docstring for what it does to Japanese text)."""

    name: ClassVar[str] = "nfkc_v1"

    def apply(self, text: str) -> tuple[str, int]:
        if unicodedata.is_normalized("NFKC", text):
            return text, 0
        out = unicodedata.normalize("NFKC", text)
        return out, sum(1 for c in set(text) if unicodedata.normalize("NFKC", c) != c)


# Swallow Corpus v1 modify/kutoten.py: ，． become 、。 after a Japanese character (not between full-width digits or
# letters, where they are a thousands separator or a decimal point).
_KUTOTEN = re.compile(r"(?<=[ぁ-ゖァ-ヺー々〆〇\u3400-\u9fff\uf900-\ufaff」』）])[，．]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Kutoten(CleanupStep):
    """``，``/``．`` right after a Japanese character become ``、``/``。`` (academic-style punctuation)."""

    name: ClassVar[str] = "kutoten_v1"

    def apply(self, text: str) -> tuple[str, int]:
        if "，" not in text and "．" not in text:  # a C scan; the regex with its look-behind is 10x slower
            return text, 0
        return _KUTOTEN.subn(lambda m: "、" if m.group() == "，" else "。", text)


_SEP = r"[\s|｜/／・:：>＞»→]*"
_SHARE = (
    r"ツイート|ツイートする|シェア|シェアする|いいね[!！]?|LINEで送る|LINE|はてブ|はてなブックマーク|Pocket|Tweet|Share|"
    r"Facebook|Twitter|Instagram|X|B!|Feedly|このエントリーをはてなブックマークに追加|この記事をシェアする|送る|"
    r"Google\+|Hatena|Follow|フォローする|コメント|RSS"
)
_NAV = (
    r"続きを読む|もっと見る|もっと読む|さらに表示|詳しくはこちら|詳細はこちら|前の記事|次の記事|前へ|次へ|"
    r"(?:ページの?)?(?:先頭|トップ|TOP|上)へ(?:戻る)?|(?:ページ)?トップに戻る|トップへ戻る|▲(?:ページ)?(?:TOP|トップ)|"
    r"関連記事|人気記事|おすすめ記事|スポンサーリンク|スポンサードリンク|PR|広告|Advertisement|印刷する|印刷|"
    r"ホーム|HOME|メニュー|MENU|閉じる|戻る|一覧へ戻る|一覧に戻る"
)
_BOILERPLATE_LINE = re.compile(
    rf"{_SEP}(?:(?:{_SHARE}|{_NAV}){_SEP})+"
    r"|\s*(?:Copyright|\(c\)|©|Ⓒ)[^\n]{0,100}"
    r"|[^\n]{0,100}All Rights Reserved\.?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BoilerplateLines(CleanupStep):
    """Delete whole lines that are only share buttons, navigation ("続きを読む", "ページトップへ") or a copyright.

    A line is deleted only if it consists entirely of such items (and separators), so prose that mentions
    "続きを読む" stays. Matching is on the stripped line and at most ``max_line_chars`` long.
    """

    name: ClassVar[str] = "boilerplate_lines_v1"
    max_line_chars: int = 120

    def apply(self, text: str) -> tuple[str, int]:
        lines = text.split("\n")
        kept = [
            line
            for line in lines
            if not (line.strip() and len(line) <= self.max_line_chars and _BOILERPLATE_LINE.fullmatch(line.strip()))
        ]
        return ("\n".join(kept), len(lines) - len(kept)) if len(kept) != len(lines) else (text, 0)


# Swallow Corpus v1 modify/footer.py keywords as far as FILTER_RULES.md §D lists them.
# NOTE(jpcorpus, 2026-11): the full published list was not available to us; this is its documented part.
SWALLOW_FOOTER_KEYWORDS = (
    "この記事へのトラックバック一覧",
    "無断転載を禁じ",
    "Copyright",
    "All rights reserved",
    "スポンサー",
    "固定リンク",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FooterTruncate(CleanupStep):
    """Cut the text at the first short line containing a footer keyword (Swallow Corpus v1 footer.py).

    Only lines of at most ``max_line_chars`` characters in the second half of the document trigger the cut, so
    an article that discusses copyright in its body is not truncated (our guard; Swallow cuts at any line).
    """

    name: ClassVar[str] = "footer_truncate_v1"
    keywords: tuple[str, ...] = SWALLOW_FOOTER_KEYWORDS
    max_line_chars: int = 200

    def apply(self, text: str) -> tuple[str, int]:
        pos = 0
        half = len(text) // 2
        for line in text.split("\n"):
            if pos >= half and len(line) <= self.max_line_chars and any(k in line for k in self.keywords):
                return text[:pos].rstrip("\n"), 1
            pos += len(line) + 1
        return text, 0


_SPACE_RUN = re.compile(r"[ \t\u00a0\u2000-\u200a]{2,}|[\t\u00a0\u2000-\u200a]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_TRAILING = re.compile(r"[ \t\u3000]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def _strip_line_ends(text: str) -> tuple[str, int]:
    """``_TRAILING.subn("", text)`` by str.rstrip per line (the regex tries every position: ~40 µs a document)."""
    lines = text.split("\n")
    stripped = [line.rstrip(" \t\u3000") for line in lines]
    num = sum(1 for a, b in zip(lines, stripped, strict=True) if len(a) != len(b))
    return ("\n".join(stripped), num) if num else (text, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Whitespace(CleanupStep):
    """Collapse runs of spaces/tabs to one space, drop zero-width characters and trailing spaces, keep at most
    one blank line between paragraphs. A leading ideographic space (paragraph indent) is kept."""

    name: ClassVar[str] = "whitespace_v1"

    def apply(self, text: str) -> tuple[str, int]:
        # Each regex runs only when the flags of the text as it is by then say it can match: most documents need
        # none of them (an edit makes a new str, whose flags are computed afresh).
        a = b = c = d = 0
        if _char_flags(text)[_HAS_ZERO_WIDTH]:
            text, a = _ZERO_WIDTH.subn("", text)
        if _char_flags(text)[_HAS_SPACE_RUN]:
            text, b = _SPACE_RUN.subn(" ", text)
        if _char_flags(text)[_HAS_TRAILING]:
            text, c = _strip_line_ends(text)
        if _char_flags(text)[_HAS_BLANK_LINES]:
            text, d = _BLANK_LINES.subn("\n\n", text)
        stripped = text.strip("\n")
        return stripped, a + b + c + d + (stripped != text)


_JA_LINE = re.compile(r"[\u3041-\u309f\u30a0-\u30ffー]")
_LLMJP_URL = re.compile(r"https?://[\w/:%#\$&\?\(\)~\.=\+\-]+")
_LONG_ASCII = re.compile(r"[\x00-\x7f]{100,}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmjpJapaneseLines(CleanupStep):
    """Keep only lines with kana; inside them delete URLs and runs of >= 100 ASCII characters.

    llm-jp-corpus scripts/filters.py ``extract_japanese_text`` (FILTER_RULES.md §A.8). The released code joins the
    kept lines WITHOUT a newline; ``join_with=""`` reproduces that, set it to "\\n" to keep line structure.
    """

    name: ClassVar[str] = "llmjp_japanese_lines_v1"
    join_with: str = ""

    def apply(self, text: str) -> tuple[str, int]:
        lines = text.split("\n")
        kept, num = [], 0
        for line in lines:
            if not _JA_LINE.search(line):
                num += 1
                continue
            line, a = _LLMJP_URL.subn("", line)
            line, b = _LONG_ASCII.subn("", line)
            num += a + b
            kept.append(line)
        out = self.join_with.join(kept)
        if out == text:
            return text, 0
        return out, max(num, 1)  # joining without newlines is an edit even when no line was removed


_PIPE_ONLY = re.compile(r"[|\s]*\|[|\s]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolLines(CleanupStep):
    """Delete lines made only of ``|`` (trafilatura table residue; datatrove ``SymbolLinesFormatter`` as FineWeb-2
    configures it, ``symbols_to_remove=["|"]``)."""

    name: ClassVar[str] = "symbol_lines_v1"

    def apply(self, text: str) -> tuple[str, int]:
        lines = text.split("\n")
        kept = [line for line in lines if not _PIPE_ONLY.fullmatch(line)]
        return ("\n".join(kept), len(lines) - len(kept)) if len(kept) != len(lines) else (text, 0)
