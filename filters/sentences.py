"""Sentence statistics: Japanese prose has sentences of a few dozen characters ending in 。！？.

Sentences are split as Swallow Corpus v1 does (filters/textstats.py ``segments``): inside each line, a run of
characters up to and including one of 。．！？!?. Lengths are in characters (never whitespace "words").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from filters.base import Filter, Threshold, ratio
from filters.textstats import LINE_END_CHARS, line_punct_batch, segments, sentence_stats_batch


@dataclass(frozen=True, slots=True, kw_only=True)
class MeanSentenceLength(Filter):
    """Keeps documents whose mean sentence length is within [min_chars, max_chars] (Swallow: 20..90)."""

    name: ClassVar[str] = "mean_sentence_length_v1"
    thresholds: ClassVar = (Threshold("min_chars", "min"), Threshold("max_chars", "max"))
    min_chars: float | None = 20
    max_chars: float | None = 90

    def score(self, value: str) -> float:
        sentences = segments(value).sentences
        return ratio(sum(len(s) for s in sentences), len(sentences))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        st = sentence_stats_batch(values)
        return [ratio(c, n) for c, n in zip(st.num_chars.tolist(), st.num_sentences.tolist(), strict=True)]


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxSentenceLength(Filter):
    """Keeps documents whose longest sentence has at most ``max_chars`` characters (Swallow: 200).

    NOTE(jpcorpus, 2026-11): Swallow's ``max()`` raises on a document without sentences; we score it 0.
    """

    name: ClassVar[str] = "max_sentence_length_v1"
    thresholds: ClassVar = (Threshold("max_chars", "max"),)
    max_chars: float | None = 200

    def score(self, value: str) -> float:
        return float(max((len(s) for s in segments(value).sentences), default=0))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        return [float(m) for m in sentence_stats_batch(values).max_chars.tolist()]


@dataclass(frozen=True, slots=True, kw_only=True)
class EllipsisSentenceRatio(Filter):
    """Keeps documents where at most ``max_ratio`` of sentences end in …/・ (Swallow: 0.2; truncated snippets)."""

    name: ClassVar[str] = "ellipsis_sentence_ratio_v1"
    thresholds: ClassVar = (Threshold("max_ratio", "max"),)
    max_ratio: float | None = 0.2

    def score(self, value: str) -> float:
        sentences = segments(value).sentences
        num_ellipsis = sum(1 for s in sentences if s.strip().endswith(("・", "…")))
        return ratio(num_ellipsis, len(sentences))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        st = sentence_stats_batch(values)
        return [ratio(e, n) for e, n in zip(st.num_ellipsis.tolist(), st.num_sentences.tolist(), strict=True)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CharsPerKuten(Filter):
    """Keeps documents with at least one 。 per ``max_chars`` characters (HojiChar ``DiscardRareKuten``).

    HojiChar rejects when ``count("。") < len(text) / max_average_sentence_length``; the score is
    ``len(text) / count("。")`` (``inf`` when there is no 。 in a non-empty text), so the rule is ``score <= max``.
    LLM-jp corpus v1 uses 250 (``--strict``: 80), HojiChar's default is 100 (FILTER_RULES.md §A.6, §E).
    """

    name: ClassVar[str] = "chars_per_kuten_v1"
    thresholds: ClassVar = (Threshold("max_chars", "max"),)
    max_chars: float | None = 250

    def score(self, value: str) -> float:
        num_kuten = value.count("。")
        if num_kuten == 0:
            return math.inf if value else 0.0
        return len(value) / num_kuten


_LINE_END = tuple(LINE_END_CHARS)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinePunctRatio(Filter):
    """Keeps documents where at least ``min_ratio`` of the non-blank lines end like a sentence (。！？」』）…).

    The character-level form of FineWeb's ``line_punct_ratio`` (FineWeb-2 jpn_Jpan drops at <= 0.167, on words).
    Menus, catalogue tables and feed residue are lines without terminal punctuation. Default 0.2, calibrated:
    Aozora 5th percentile 0.50, jawiki 0.17 (list articles), real shop pages 0.08–0.18.
    """

    name: ClassVar[str] = "line_punct_ratio_v1"
    thresholds: ClassVar = (Threshold("min_ratio", "min"),)
    min_ratio: float | None = 0.2

    def score(self, value: str) -> float:
        lines = [line.rstrip() for line in value.split("\n") if line.strip()]
        return ratio(sum(1 for line in lines if line.endswith(_LINE_END)), len(lines))

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        num_lines, num_ending = line_punct_batch(values)
        return [ratio(e, n) for e, n in zip(num_ending.tolist(), num_lines.tolist(), strict=True)]
