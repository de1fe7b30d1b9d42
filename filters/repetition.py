"""Repetition filters (Rae et al. 2021, "Gopher", Table A1), adapted to text without spaces.

Two filters, because the two published Japanese adaptations measure different things under the same names:

- ``gopher_repetition_v1`` follows Gopher/datatrove ``GopherRepetitionFilter``: duplicate lines and paragraphs by
  count and by characters (later copies only), the share of characters inside the most frequent 2/3/4-gram and
  inside repeated 5..10-grams. ``unit`` picks the n-gram unit: ``"char"`` (our default; no tokenizer needed, never
  whitespace words) or ``"word"`` (SudachiPy mode A words, as FineWeb-2 does through datatrove's Japanese
  tokenizer).
- ``swallow_repetition_v1`` reproduces Swallow Corpus v1 quality.py (swallow-llm/swallow-corpus @ 2d03507,
  FILTER_RULES.md §D) exactly, including its quirks: a "paragraph" is a line rebuilt from its sentences (empty
  lines count, and repeat), the top n-gram fraction is ``top count / all n-gram occurrences`` and the
  "duplicate n-gram character fraction" is ``distinct n-grams seen twice / distinct n-grams``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from numba import njit

from filters.base import Filter, Threshold, ratio
from filters.textstats import _IS_SPACE, batch_view, code_points, ngram_hashes, segments

_TOP_NS = (2, 3, 4)
_DUP_NS = (5, 6, 7, 8, 9, 10)
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")


@dataclass(frozen=True, slots=True)
class NgramProfile:
    top_count: int  # occurrences of the most frequent n-gram
    num_occurrences: int
    num_distinct: int
    num_distinct_repeated: int
    later_copy: np.ndarray  # bool per n-gram start: an identical n-gram starts earlier
    repeated: np.ndarray  # bool per n-gram start: its n-gram occurs more than once


def ngram_profile(hashes: np.ndarray) -> NgramProfile:
    if len(hashes) == 0:
        empty = np.zeros(0, dtype=bool)
        return NgramProfile(0, 0, 0, 0, empty, empty)
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_h[1:] != sorted_h[:-1])))
    counts = np.diff(np.append(starts, len(sorted_h)))
    later = np.ones(len(hashes), dtype=bool)
    later[order[starts]] = False  # stable sort: the first of each group is the earliest occurrence
    repeated = np.empty(len(hashes), dtype=bool)
    repeated[order] = np.repeat(counts > 1, counts)
    return NgramProfile(
        int(counts.max()), len(hashes), len(starts), int(np.count_nonzero(counts > 1)), later, repeated
    )


def top_count(hashes: np.ndarray) -> int:
    """Occurrences of the most frequent value (a plain sort: cheaper than the full profile)."""
    if len(hashes) == 0:
        return 0
    sorted_h = np.sort(hashes)
    starts = np.flatnonzero(np.concatenate(([True], sorted_h[1:] != sorted_h[:-1], [True])))
    return int(np.diff(starts).max())


def nested_profiles(hashes: list[np.ndarray], ns: tuple[int, ...]) -> dict[int, NgramProfile]:
    """Profiles for increasing n, each computed only where the shortest n-gram repeats.

    Exact: if an n-gram repeats, so does its (shorter) prefix n-gram, at both occurrences; every other position
    holds an n-gram seen once. Restricting the sort to the repeated positions of the smallest n makes the larger
    n cheap on natural text, where most 5-grams are unique.
    """
    base = ngram_profile(hashes[ns[0]])
    out = {ns[0]: base}
    candidates = np.flatnonzero(base.repeated)
    for n in ns[1:]:
        h = hashes[n]
        valid = candidates[candidates < len(h)]
        sub = ngram_profile(h[valid])
        later = np.zeros(len(h), dtype=bool)
        later[valid[sub.later_copy]] = True
        repeated = np.zeros(len(h), dtype=bool)
        repeated[valid[sub.repeated]] = True
        num_unique_outside = len(h) - len(valid)
        out[n] = NgramProfile(
            max(sub.top_count, 1 if len(h) else 0),
            len(h),
            sub.num_distinct + num_unique_outside,
            sub.num_distinct_repeated,
            later,
            repeated,
        )
    return out


def later_copy_starts(hashes: list[np.ndarray], ns: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each n of ``ns`` (increasing): sorted start positions of n-grams identical to one that starts earlier.

    One ``np.sort`` per n of ``hash << b | position`` (``b`` bits hold a position): equal hashes end up adjacent and
    ordered by position, so every element of a run but the first is a later copy. A plain sort is several times
    cheaper than the stable argsort this replaces, and the low bits of the polynomial hash depend on every unit
    (its high bits barely depend on the last one), so they are the bits kept. As in :func:`nested_profiles`, a
    longer n-gram can only repeat where its prefix (n-1)-gram repeats, so each n sorts only those positions.
    """
    out: dict[int, np.ndarray] = {}
    num = len(hashes[ns[0]])
    pos_bits = np.uint64(max(1, num.bit_length()))
    pos_mask = np.uint64((1 << int(pos_bits)) - 1)
    candidates: np.ndarray | None = None  # positions where the previous n-gram repeats; None = all
    for n in ns:
        h = hashes[n]
        if candidates is None:
            pos = np.arange(len(h), dtype=np.uint64)
            values = h
        else:
            pos = candidates[candidates < len(h)]
            values = h[pos.astype(np.intp)]
        if len(values) < 2:
            out[n] = np.zeros(0, dtype=np.intp)
            candidates = np.zeros(0, dtype=np.uint64)
            continue
        keys = np.sort((values << pos_bits) | pos)
        key_hash = keys >> pos_bits
        same = key_hash[1:] == key_hash[:-1]  # same[i]: sorted element i+1 copies element i's n-gram
        positions = keys & pos_mask
        out[n] = np.sort(positions[1:][same]).astype(np.intp)
        in_run = np.zeros(len(keys), dtype=bool)
        in_run[1:] = same
        in_run[:-1] |= same
        candidates = np.sort(positions[in_run])
    return out


def covered_weight(starts: np.ndarray, n: int, cum_weights: np.ndarray) -> float:
    """Total weight of units covered by at least one n-gram starting at the sorted positions ``starts``.

    ``cum_weights`` is ``[0, w0, w0+w1, ...]``. The union of [i, i+n) over sorted starts: each interval counts up
    to the next start (n-gram starts are at most len - n, so no interval runs past the text).
    """
    if len(starts) == 0:
        return 0.0
    ends = np.minimum(starts + n, np.append(starts[1:], starts[-1] + n))
    return float((cum_weights[ends] - cum_weights[starts]).sum())


def _duplicates(items: Sequence[str]) -> tuple[int, int]:
    """(number of later copies, their characters) — datatrove ``find_duplicates``."""
    seen: set[str] = set()
    num_dup = num_dup_chars = 0
    for item in items:
        if item in seen:
            num_dup += 1
            num_dup_chars += len(item)
        else:
            seen.add(item)
    return num_dup, num_dup_chars


GOPHER_METRICS = (
    "dup_para_frac",
    "dup_para_char_frac",
    "dup_line_frac",
    "dup_line_char_frac",
    *(f"top_{n}gram_char_frac" for n in _TOP_NS),
    *(f"dup_{n}gram_char_frac" for n in _DUP_NS),
)


def _gopher_thresholds() -> tuple[Threshold, ...]:
    return tuple(Threshold(f"max_{m}", "max", m) for m in GOPHER_METRICS)


@dataclass(frozen=True, slots=True, kw_only=True)
class GopherRepetition(Filter):
    """Keeps documents without heavy repetition of lines, paragraphs or n-grams (Gopher, Rae et al. 2021).

    Defaults are for ``unit="char"``, calibrated on Aozora Bunko and jawiki text (tests/test_filters_repetition.py
    prints the distribution): Gopher's word thresholds (top 2/3/4-gram 0.20/0.18/0.16, repeated 5..10-gram
    0.15..0.10) are far too strict for characters — a 5-character n-gram such as "ということ" repeats in any long
    Japanese text — so the n-gram bounds are raised; the line/paragraph bounds are Gopher's (0.30/0.30/0.20/0.20).

    NOTE(jpcorpus, 2026-11): repeated n-gram coverage counts the characters covered by any later copy of an n-gram
    (exact, compiled: :func:`_gopher_char_kernel`); datatrove scans greedily and skips n units after each copy.
    The two agree on clean text and differ by a few percent on heavily repeated text.
    """

    name: ClassVar[str] = "gopher_repetition_v1"
    metrics: ClassVar = GOPHER_METRICS
    thresholds: ClassVar = _gopher_thresholds()
    score_params: ClassVar = ("unit",)
    unit: Literal["char", "word"] = "char"
    max_dup_para_frac: float | None = 0.30
    max_dup_para_char_frac: float | None = 0.20
    max_dup_line_frac: float | None = 0.30
    max_dup_line_char_frac: float | None = 0.20
    max_top_2gram_char_frac: float | None = 0.20
    max_top_3gram_char_frac: float | None = 0.18
    max_top_4gram_char_frac: float | None = 0.16
    max_dup_5gram_char_frac: float | None = 0.50
    max_dup_6gram_char_frac: float | None = 0.45
    max_dup_7gram_char_frac: float | None = 0.40
    max_dup_8gram_char_frac: float | None = 0.37
    max_dup_9gram_char_frac: float | None = 0.34
    max_dup_10gram_char_frac: float | None = 0.32

    def __post_init__(self) -> None:
        Filter.__post_init__(self)
        if self.unit not in ("char", "word"):
            raise ValueError(f"{self.name}.unit must be 'char' or 'word', got {self.unit!r}")

    def _lines_and_paragraphs(self, value: str) -> dict[str, float]:
        num_chars = len(value)
        paragraphs = [p for p in _PARAGRAPH_SPLIT.split(value.strip()) if p]
        lines = [line for line in value.split("\n") if line]  # = re.split(r"\n+") without the empty pieces
        num_para_dup, num_para_dup_chars = _duplicates(paragraphs)
        num_line_dup, num_line_dup_chars = _duplicates(lines)
        return {
            "dup_para_frac": ratio(num_para_dup, len(paragraphs)),
            "dup_para_char_frac": ratio(num_para_dup_chars, num_chars),
            "dup_line_frac": ratio(num_line_dup, len(lines)),
            "dup_line_char_frac": ratio(num_line_dup_chars, num_chars),
        }

    def score(self, value: str) -> dict[str, float]:
        return self.score_batch((value,))[0]

    def score_batch(self, values: tuple[str, ...]) -> list[dict[str, float]]:
        if self.unit == "word":
            return [self._score_words(v) for v in values]
        view = batch_view(values)
        counts = _gopher_char_kernel(view.cp, view.starts, _IS_SPACE)
        num_chars = np.diff(view.starts)
        # numerators and denominators in GOPHER_METRICS order; float64 division is the one ratio() does (the
        # integers are far below 2**53, so converting them is exact), 0.0 where the denominator is 0
        num = np.empty((len(values), len(GOPHER_METRICS)), dtype=np.float64)
        den = np.empty_like(num)
        num[:, :4] = counts[:, [_PARA_DUP, _PARA_DUP_CHARS, _LINE_DUP, _LINE_DUP_CHARS]]
        den[:, 0], den[:, 1], den[:, 2], den[:, 3] = counts[:, _NUM_PARA], num_chars, counts[:, _NUM_LINES], num_chars
        num[:, 4 : 4 + len(_TOP_NS)] = counts[:, [_TOP_COL[n] for n in _TOP_NS]] * np.array(_TOP_NS)
        num[:, 4 + len(_TOP_NS) :] = counts[:, [_DUP_COL[n] for n in _DUP_NS]]
        den[:, 4:] = num_chars[:, None]
        fracs = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
        return [dict(zip(GOPHER_METRICS, row, strict=True)) for row in fracs.tolist()]

    def _score_words(self, value: str) -> dict[str, float]:
        from filters.words import word_ids

        out = self._lines_and_paragraphs(value)
        ids, weights = word_ids(value)
        cum_weights = np.concatenate(([0], np.cumsum(weights)))
        hashes = ngram_hashes(ids, max(_DUP_NS))
        for n in _TOP_NS:
            # characters of the most frequent n-gram times its count (its first occurrence's length)
            out[f"top_{n}gram_char_frac"] = ratio(_top_chars_words(hashes[n], weights, n), len(value))
        if len(ids) >= _DUP_NS[0]:
            for n, starts in later_copy_starts(hashes, _DUP_NS).items():
                out[f"dup_{n}gram_char_frac"] = ratio(covered_weight(starts, n, cum_weights), len(value))
        else:
            out.update({f"dup_{n}gram_char_frac": 0.0 for n in _DUP_NS})
        return out


# columns of :func:`_gopher_char_kernel`'s output
_NUM_PARA, _PARA_DUP, _PARA_DUP_CHARS, _NUM_LINES, _LINE_DUP, _LINE_DUP_CHARS = range(6)
_TOP_COL = {n: 6 + i for i, n in enumerate(_TOP_NS)}
_DUP_COL = {n: 6 + len(_TOP_NS) + i for i, n in enumerate(_DUP_NS)}
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key * _MIX pick a slot


@njit(cache=True, nogil=True, inline="always")
def _first_equal_range(cp, a, length, bits, table):
    """Start of the first range stored in ``table`` with the code points of ``cp[a : a + length]``, or ``a`` after
    storing it. ``table`` holds (key + 1, start, length) triples, open addressing, 0 = empty slot; the key is a
    cheap digest (length, first, middle and last code point) because equal keys are compared in full anyway."""
    key = (
        (length << 42) ^ (np.int64(cp[a]) << 21) ^ np.int64(cp[a + length // 2]) ^ (np.int64(cp[a + length - 1]) << 7)
    )
    mask = (1 << bits) - 1
    slot = np.int64((np.uint64(key + 1) * _MIX) >> np.uint64(64 - bits))
    while table[3 * slot] != 0:
        if table[3 * slot] == key + 1 and table[3 * slot + 2] == length:
            b = table[3 * slot + 1]
            same = True
            for k in range(length):
                if cp[a + k] != cp[b + k]:
                    same = False
                    break
            if same:
                return b
        slot = (slot + 1) & mask
    table[3 * slot] = key + 1
    table[3 * slot + 1] = a
    table[3 * slot + 2] = length
    return a


@njit(cache=True, nogil=True)
def _table_bits(num_items: int) -> int:
    """log2 of an open-addressing table size that keeps the load at or below one half."""
    bits = 4
    while (1 << bits) < 2 * num_items:
        bits += 1
    return bits


@njit(cache=True, nogil=True)
def _gopher_char_kernel(cp: np.ndarray, starts: np.ndarray, is_space: np.ndarray) -> np.ndarray:
    """Per document (int64 columns, see ``_NUM_PARA`` .. ``_DUP_COL``): paragraphs and non-empty lines with the
    number and characters of their later copies; occurrences of the most frequent n-gram (n in ``_TOP_NS``);
    characters covered by later copies of a repeated n-gram (n in ``_DUP_NS``).

    Exact, with no hash collisions: lines and paragraphs are compared code point by code point when their digests
    agree, and the n-grams of each n are numbered by their first occurrence: the (n+1)-gram at p is the pair
    (number of the n-gram at p, code point p + n), one 64-bit key. A longer n-gram can only repeat where its
    prefix repeats, so each n looks only at the positions whose (n-1)-gram occurs twice or more (a fifth of them
    at n = 5 on prose). Paragraphs are the non-empty pieces of ``text.strip()`` split on runs of two or more
    newlines, lines the non-empty pieces of ``text.split("\\n")`` (``_lines_and_paragraphs``).
    """
    num_docs = len(starts) - 1
    out = np.zeros((num_docs, 6 + len(_TOP_NS) + len(_DUP_NS)), dtype=np.int64)
    max_len = 0
    for d in range(num_docs):
        max_len = max(max_len, starts[d + 1] - starts[d])
    table = np.zeros(3 << _table_bits(max_len + 1), dtype=np.int64)
    ident = np.empty(max_len, dtype=np.int64)  # per position: first occurrence of its n-gram (document-relative)
    count = np.empty(max_len, dtype=np.int64)  # per first occurrence: occurrences of its n-gram
    cand = np.empty(max_len, dtype=np.int64)  # positions whose n-gram may repeat, ascending
    for d in range(num_docs):
        s, e = starts[d], starts[d + 1]
        length = e - s
        row = out[d]
        # lines: the non-empty pieces between newlines
        num_lines = 0
        for i in range(s, e):
            num_lines += cp[i] == 0x0A
        bits = _table_bits(num_lines + 1)
        table[: 3 << bits] = 0
        a = s
        for i in range(s, e + 1):
            if i == e or cp[i] == 0x0A:
                if i > a:
                    row[_NUM_LINES] += 1
                    if _first_equal_range(cp, a, i - a, bits, table) != a:
                        row[_LINE_DUP] += 1
                        row[_LINE_DUP_CHARS] += i - a
                a = i + 1
        # paragraphs: text.strip(), split on runs of >= 2 newlines (every piece is then non-empty)
        table[: 3 << bits] = 0
        lo, hi = s, e
        while lo < hi and is_space[min(np.int64(cp[lo]), 0x10000)]:
            lo += 1
        while hi > lo and is_space[min(np.int64(cp[hi - 1]), 0x10000)]:
            hi -= 1
        a = lo
        i = lo
        while i <= hi:
            run = 0
            while i + run < hi and cp[i + run] == 0x0A:
                run += 1
            if i == hi or run >= 2:
                if i > a:
                    row[_NUM_PARA] += 1
                    if _first_equal_range(cp, a, i - a, bits, table) != a:
                        row[_PARA_DUP] += 1
                        row[_PARA_DUP_CHARS] += i - a
                a = i + run
            i += max(run, 1)
        # n-grams, n = 2, 3, ...: number each n-gram by its first occurrence among the candidate positions
        num_cand = 0
        for p in range(length - 1):  # n = 2: every position where a 2-gram fits
            cand[num_cand] = p
            num_cand += 1
        for n in range(2, _DUP_NS[-1] + 1):
            if num_cand == 0:
                break  # no n-gram repeats, so no longer one does (a top count is 1 where an n-gram fits)
            bits = _table_bits(num_cand)
            mask = (1 << bits) - 1
            shift = np.uint64(64 - bits)
            table[: 2 << bits] = 0  # (key + 1, first occurrence) pairs
            for k in range(num_cand):
                count[cand[k]] = 0
            top = 0
            for k in range(num_cand):
                p = cand[k]
                if n == 2:
                    key = (np.int64(cp[s + p]) << 21) | np.int64(cp[s + p + 1])
                else:
                    key = (ident[p] << 21) | np.int64(cp[s + p + n - 1])
                key += 1
                slot = np.int64((np.uint64(key) * _MIX) >> shift)
                stored = table[2 * slot]
                while stored != key and stored != 0:
                    slot = (slot + 1) & mask
                    stored = table[2 * slot]
                # found or inserted without a branch on which: a repeated n-gram is a coin flip on Japanese text,
                # and the mispredicted branch cost three times the rest of the loop
                first = p if stored == 0 else table[2 * slot + 1]
                table[2 * slot] = key
                table[2 * slot + 1] = first
                ident[p] = first
                c = count[first] + 1
                count[first] = c
                top = max(top, c)
            for j in range(len(_TOP_NS)):
                if _TOP_NS[j] == n:
                    row[6 + j] = top
            for j in range(len(_DUP_NS)):
                if _DUP_NS[j] == n:
                    covered = 0
                    end = 0  # the union of [p, p + n) over the later copies p, in ascending order
                    for k in range(num_cand):
                        p = cand[k]
                        later = ident[p] != p
                        covered += later * (p + n - max(p, end))
                        end = p + n if later else end
                    row[6 + len(_TOP_NS) + j] = covered
            kept = 0  # positions where the (n+1)-gram fits and the n-gram occurs twice or more
            for k in range(num_cand):  # branch-free: whether it is kept is a coin flip at n = 2
                p = cand[k]
                cand[kept] = p
                kept += (p + n + 1 <= length) & (count[ident[p]] >= 2)
            num_cand = kept
        for j in range(len(_TOP_NS)):  # an n-gram that fits and was never counted twice occurs once
            if row[6 + j] == 0 and length >= _TOP_NS[j]:
                row[6 + j] = 1
    return out


def _top_chars_words(hashes: np.ndarray, weights: np.ndarray, n: int) -> float:
    if len(hashes) == 0:
        return 0.0
    values, counts = np.unique(hashes, return_counts=True)
    top = values[np.argmax(counts)]
    first = int(np.flatnonzero(hashes == top)[0])
    return float(weights[first : first + n].sum()) * int(counts.max())


SWALLOW_METRICS = (
    "dup_para_frac",
    "dup_para_char_frac",
    "dup_sent_frac",
    "dup_sent_char_frac",
    *(f"top_{n}gram_frac" for n in _TOP_NS),
    *(f"dup_{n}gram_frac" for n in _DUP_NS),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwallowRepetition(Filter):
    """Keeps documents under Swallow Corpus v1's repetition bounds (quality.py ``apply_v1``, reject if ``>``)."""

    name: ClassVar[str] = "swallow_repetition_v1"
    metrics: ClassVar = SWALLOW_METRICS
    thresholds: ClassVar = tuple(Threshold(f"max_{m}", "max", m) for m in SWALLOW_METRICS)
    max_dup_para_frac: float | None = 0.30
    max_dup_para_char_frac: float | None = 0.20
    max_dup_sent_frac: float | None = 0.30
    max_dup_sent_char_frac: float | None = 0.20
    max_top_2gram_frac: float | None = 0.20
    max_top_3gram_frac: float | None = 0.18
    max_top_4gram_frac: float | None = 0.16
    max_dup_5gram_frac: float | None = 0.15
    max_dup_6gram_frac: float | None = 0.14
    max_dup_7gram_frac: float | None = 0.13
    max_dup_8gram_frac: float | None = 0.12
    max_dup_9gram_frac: float | None = 0.11
    max_dup_10gram_frac: float | None = 0.10

    def score(self, value: str) -> dict[str, float]:
        seg = segments(value)
        paragraphs = ["".join(sents) for sents in seg.line_sentences]
        sentences = seg.sentences
        para_counts = Counter(paragraphs)
        sent_counts = Counter(sentences)
        dup_para = sum(f - 1 for f in para_counts.values())
        dup_para_chars = sum(len(p) * (f - 1) for p, f in para_counts.items())
        dup_sent = sum(f - 1 for f in sent_counts.values())
        dup_sent_chars = sum(len(s) * (f - 1) for s, f in sent_counts.items())
        out = {
            "dup_para_frac": ratio(dup_para, len(paragraphs)),
            "dup_para_char_frac": ratio(dup_para_chars, sum(len(p) for p in paragraphs)),
            "dup_sent_frac": ratio(dup_sent, len(sentences)),
            "dup_sent_char_frac": ratio(dup_sent_chars, sum(len(s) for s in sentences)),
        }
        hashes = ngram_hashes(code_points(value), max(_DUP_NS))
        for n in _TOP_NS:
            out[f"top_{n}gram_frac"] = ratio(top_count(hashes[n]), len(hashes[n]))
        for n, prof in nested_profiles(hashes, _DUP_NS).items():
            out[f"dup_{n}gram_frac"] = ratio(prof.num_distinct_repeated, prof.num_distinct)
        return out
