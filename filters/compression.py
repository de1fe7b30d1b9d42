"""Compression ratio: text that zlib squeezes a lot is repetitive; text it cannot squeeze is often not prose."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
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


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h mallopt parameters


def keep_heap_between_compressions(mmap_threshold_bytes: int = 4 << 20) -> bool:
    """Stop glibc from handing the heap back to the OS after every ``zlib.compress``; True if it applied.

    A level-9 compressor allocates ~256 KB of state (window, hash chains) and frees it at the end of the call; with
    glibc's default thresholds (mmap 128 KB, trim 128 KB) the freed top of the heap is returned to the OS and the
    next call page-faults it back in: ~60 µs of a ~200 µs call on a 2,000-character document (18 minor faults per
    call on the development VM). This sets what glibc's own dynamic threshold would set after freeing one block of
    ``mmap_threshold_bytes`` (mmap threshold = that size, trim threshold = twice it), so at most ~8 MB of free
    heap stays mapped. Scores do not change; it is a process-wide setting, so the quality stage calls it in
    ``setup()`` of its worker processes and the bench calls it before timing. Elsewhere (musl, macOS) it is a no-op.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold_bytes) and mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold_bytes)
    )
