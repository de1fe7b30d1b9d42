"""Japanese quality filters, clean-up steps and PII masking: pure Python, no Beam.

The registries below are explicit tuples; a duplicate name raises at import, and looking up an unknown name
lists the known ones (dolma's tagger registry). Presets (``swallow_v1``, ``llmjp_v1``, ``fineweb2_jpn``,
``default``) are in filters/presets.py; the config that selects one is ``filters.config.FiltersConfig``.
"""

from __future__ import annotations

from filters.base import Filter, Threshold
from filters.cleanup import (
    BoilerplateLines,
    CleanupStep,
    FooterTruncate,
    InvalidChars,
    JaWidth,
    Kutoten,
    LlmjpJapaneseLines,
    Nfkc,
    SymbolLines,
    Whitespace,
)
from filters.composition import HiraganaRatio, JapaneseRatio, KanaInHead, KatakanaRatio, NumChars, NumJapaneseLetters
from filters.compression import ZlibRatio
from filters.ngwords import AdKeywords, NgCharRatio, NgWordHits
from filters.repetition import GopherRepetition, SwallowRepetition
from filters.sentences import (
    CharsPerKuten,
    EllipsisSentenceRatio,
    LinePunctRatio,
    MaxSentenceLength,
    MeanSentenceLength,
)
from filters.url import UrlBlocklist, UrlTld, UrlWords
from filters.words import FineWebQuality, GopherQualityWords

FILTERS: tuple[type[Filter], ...] = (
    NumChars,
    NumJapaneseLetters,
    HiraganaRatio,
    KatakanaRatio,
    JapaneseRatio,
    KanaInHead,
    MeanSentenceLength,
    MaxSentenceLength,
    EllipsisSentenceRatio,
    CharsPerKuten,
    LinePunctRatio,
    GopherRepetition,
    SwallowRepetition,
    ZlibRatio,
    AdKeywords,
    NgWordHits,
    NgCharRatio,
    UrlBlocklist,
    UrlTld,
    UrlWords,
    GopherQualityWords,
    FineWebQuality,
)

CLEANUP_STEPS: tuple[type[CleanupStep], ...] = (
    InvalidChars,
    JaWidth,
    Nfkc,
    Kutoten,
    BoilerplateLines,
    FooterTruncate,
    Whitespace,
    LlmjpJapaneseLines,
    SymbolLines,
)


def _index(classes: tuple[type, ...], what: str) -> dict[str, type]:
    out: dict[str, type] = {}
    for cls in classes:
        if cls.name in out:
            raise ValueError(f"duplicate {what} name {cls.name!r}: {out[cls.name].__name__} and {cls.__name__}")
        out[cls.name] = cls
    return out


FILTERS_BY_NAME: dict[str, type[Filter]] = _index(FILTERS, "filter")
CLEANUP_BY_NAME: dict[str, type[CleanupStep]] = _index(CLEANUP_STEPS, "clean-up step")


def get_filter(name: str) -> type[Filter]:
    try:
        return FILTERS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown filter {name!r}; known: {sorted(FILTERS_BY_NAME)}") from None


def get_cleanup(name: str) -> type[CleanupStep]:
    try:
        return CLEANUP_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown clean-up step {name!r}; known: {sorted(CLEANUP_BY_NAME)}") from None


__all__ = [
    "CLEANUP_STEPS",
    "FILTERS",
    "FILTERS_BY_NAME",
    "CleanupStep",
    "Filter",
    "Threshold",
    "get_cleanup",
    "get_filter",
]
