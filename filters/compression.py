"""Compression ratio: text that zlib squeezes a lot is repetitive; text it cannot squeeze is often not prose."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

from filters.base import Filter, Threshold, ratio


@dataclass(frozen=True, slots=True, kw_only=True)
class ZlibRatio(Filter):
    """Keeps documents whose zlib-compressed size is within [min_ratio, max_ratio] of their UTF-8 size.

    llm-jp-corpus scripts/filters.py ``has_good_compression_ratio(min_score=0.30, max_score=0.70)`` (``--strict``:
    min 0.375), zlib level 9, ``length_factor=0`` (no length penalty); FILTER_RULES.md §A.7. Lone surrogates are
    encoded with ``surrogatepass`` so that a damaged text still gets a score.
    """

    name: ClassVar[str] = "zlib_ratio_v1"
    thresholds: ClassVar = (Threshold("min_ratio", "min"), Threshold("max_ratio", "max"))
    min_ratio: float | None = 0.30
    max_ratio: float | None = 0.70

    def score(self, value: str) -> float:
        data = value.encode("utf-8", "surrogatepass")
        return ratio(len(zlib.compress(data, 9)), len(data))
