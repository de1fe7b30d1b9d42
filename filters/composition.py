"""Character-composition filters: is this Japanese prose, judged from which characters it is made of.

Definitions of the classes: filters/textstats.py (Swallow Corpus v1). Default thresholds are Swallow's
``apply_v1`` (swallow-llm/swallow-corpus @ 2d03507 quality.py; FILTER_RULES.md §D) unless noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit

from filters.base import Filter, Threshold, ratio
from filters.textstats import CharCounts, batch_view, char_counts, char_counts_batch


class _FromCharCounts(Filter):
    """A filter whose score is a function of the document's :class:`CharCounts` (batched: one pass per batch)."""

    __slots__ = ()

    def from_counts(self, c: CharCounts) -> float:
        raise NotImplementedError

    def score(self, value: str) -> float:
        return self.from_counts(char_counts(value))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        return [self.from_counts(c) for c in char_counts_batch(values)]


@dataclass(frozen=True, slots=True, kw_only=True)
class NumChars(Filter):
    """Keeps documents with at least ``min_chars`` characters (Swallow ``num_letters`` = len(text) >= 400).

    ``count_whitespace=False`` counts non-whitespace characters only: LLM-jp's ``is_not_empty`` is
    ``text.strip() != ""``, i.e. at least one such character.
    """

    name: ClassVar[str] = "num_chars_v1"
    thresholds: ClassVar = (Threshold("min_chars", "min"), Threshold("max_chars", "max"))
    score_params: ClassVar = ("count_whitespace",)
    count_whitespace: bool = True
    min_chars: float | None = 400
    max_chars: float | None = None

    def score(self, value: str) -> float:
        if self.count_whitespace:
            return float(len(value))
        return float(len(value) - sum(1 for c in value if c.isspace()))


@dataclass(frozen=True, slots=True, kw_only=True)
class NumJapaneseLetters(_FromCharCounts):
    """Keeps documents with at least ``min_letters`` Japanese letters (hiragana+katakana+kanji+、。; Swallow 400)."""

    name: ClassVar[str] = "num_japanese_letters_v1"
    thresholds: ClassVar = (Threshold("min_letters", "min"),)
    min_letters: float | None = 400

    def from_counts(self, c: CharCounts) -> float:
        return float(c.num_japanese)


@dataclass(frozen=True, slots=True, kw_only=True)
class HiraganaRatio(_FromCharCounts):
    """Keeps documents whose Japanese letters are at least ``min_ratio`` hiragana (Swallow 0.2).

    Hiragana carries Japanese grammar; lists of names, product catalogues and Chinese text have little of it.
    """

    name: ClassVar[str] = "hiragana_ratio_v1"
    thresholds: ClassVar = (Threshold("min_ratio", "min"),)
    min_ratio: float | None = 0.2

    def from_counts(self, c: CharCounts) -> float:
        return ratio(c.num_hiragana, c.num_japanese)


@dataclass(frozen=True, slots=True, kw_only=True)
class KatakanaRatio(_FromCharCounts):
    """Keeps documents whose Japanese letters are at most ``max_ratio`` katakana (Swallow 0.5)."""

    name: ClassVar[str] = "katakana_ratio_v1"
    thresholds: ClassVar = (Threshold("max_ratio", "max"),)
    max_ratio: float | None = 0.5

    def from_counts(self, c: CharCounts) -> float:
        return ratio(c.num_katakana, c.num_japanese)


@dataclass(frozen=True, slots=True, kw_only=True)
class JapaneseRatio(_FromCharCounts):
    """Keeps documents where Japanese letters are at least ``min_ratio`` of all characters (Swallow 0.5).

    Swallow divides by ``len(text)``, so whitespace, digits and Latin letters all dilute the ratio.
    """

    name: ClassVar[str] = "japanese_ratio_v1"
    thresholds: ClassVar = (Threshold("min_ratio", "min"),)
    min_ratio: float | None = 0.5

    def from_counts(self, c: CharCounts) -> float:
        return ratio(c.num_japanese, c.num_chars)


# HojiChar AcceptJapanese: regex [ぁ-んァ-ン] (U+3041–U+3093, U+30A1–U+30F3).
_KANA = re.compile(r"[ぁ-んァ-ン]")


@njit(cache=True, nogil=True)
def _kana_in_head_kernel(cp: np.ndarray, starts: np.ndarray, lookup_chars: int) -> np.ndarray:
    """Per document: code points in U+3041–U+3093 or U+30A1–U+30F3 among its first ``lookup_chars``."""
    out = np.zeros(len(starts) - 1, dtype=np.int64)
    for d in range(len(starts) - 1):
        for i in range(starts[d], min(starts[d + 1], starts[d] + lookup_chars)):
            c = cp[i]
            if (0x3041 <= c <= 0x3093) or (0x30A1 <= c <= 0x30F3):
                out[d] += 1
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class KanaInHead(Filter):
    """Keeps documents with at least ``min_kana`` kana among their first ``lookup_chars`` characters.

    HojiChar ``AcceptJapanese(lookup_size=50)`` as LLM-jp corpus v1 uses it (``is_japanese``; FILTER_RULES.md §A.3):
    one kana in the first 50 characters. Kana separates Japanese from Chinese, which shares the kanji.
    """

    name: ClassVar[str] = "kana_in_head_v1"
    thresholds: ClassVar = (Threshold("min_kana", "min"),)
    score_params: ClassVar = ("lookup_chars",)
    lookup_chars: int = 50
    min_kana: float | None = 1

    def __post_init__(self) -> None:
        Filter.__post_init__(self)
        if self.lookup_chars <= 0:
            raise ValueError(f"{self.name}.lookup_chars must be > 0, got {self.lookup_chars}")

    def score(self, value: str) -> float:
        return float(len(_KANA.findall(value, 0, self.lookup_chars)))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        view = batch_view(values)
        return [float(n) for n in _kana_in_head_kernel(view.cp, view.starts, self.lookup_chars).tolist()]
