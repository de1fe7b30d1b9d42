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

from filters.base import Filter, Threshold, ratio
from filters.textstats import _HASH_MULT, BatchView, batch_view, code_points, ngram_hashes, segments

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
    (vectorised); datatrove scans greedily and skips n units after each copy. The two agree on clean text and
    differ by a few percent on heavily repeated text.
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
        top, dup = char_repetition(batch_view(values))
        out = []
        for i, value in enumerate(values):
            scores = self._lines_and_paragraphs(value)
            for n in _TOP_NS:
                scores[f"top_{n}gram_char_frac"] = ratio(float(top[n][i] * n), len(value))
            for n in _DUP_NS:
                scores[f"dup_{n}gram_char_frac"] = ratio(float(dup[n][i]), len(value))
            out.append(scores)
        return out

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


def char_repetition(view: BatchView) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per document of a batch: occurrences of its most frequent character n-gram (n in 2, 3, 4), and characters
    covered by later copies of a repeated n-gram (n in 5..10) — the n-gram part of ``gopher_repetition_v1``.

    All documents are laid end to end; an n-gram is valid where it fits inside its document.

    - Top counts, exactly: characters are replaced by their dense rank in the batch (1..R, 0 = past the end), and
      ``document | r0 | r1 | r2 | r3`` packed in one uint64 is sorted once. Every 2-, 3- and 4-gram of a document
      is then a run of equal key prefixes, so the three counts come from one sort (a batch whose ranks do not fit
      64 bits falls back to one sort of ``document | hash`` per n).
    - Later copies: ``hash << b | position`` is sorted per n; equal neighbours of the same document are an n-gram
      and a later copy (positions sort within a run, so the first is the original). The low bits of the polynomial
      hash are kept (they depend on every character; its high bits hardly depend on the last one): with ``b`` = 16
      bits of position in a 32-document batch, two different n-grams of one 2,000-character document share a key
      with probability ~1e-9. A longer n-gram can only repeat where its (n-1)-gram prefix repeats, so each n
      re-sorts only those positions.
    A plain ``np.sort`` of packed keys is several times cheaper than an (arg)sort with a tie-break.
    """
    num_docs, num = len(view.texts), len(view.cp)
    cp = view.cp.astype(np.uint64)
    room = view.room
    top = _top_counts(view, cp)
    dup = {n: np.zeros(num_docs, dtype=np.int64) for n in _DUP_NS}
    pos_bits = np.uint64(max(1, num.bit_length()))
    pos_mask = np.uint64((1 << int(pos_bits)) - 1)
    one = np.uint64(1)
    first_n = _DUP_NS[0]
    if num < first_n:
        return top, dup
    # h[i]: hash of the first_n-gram at i, rolled up in place (no temporaries of the batch's size)
    h = cp + one  # +1 so that code point 0 still contributes
    with np.errstate(over="ignore"):
        for n in range(2, first_n + 1):
            h = h[:-1]
            h *= _HASH_MULT
            h += cp[n - 1 :]
            h += one
        pos = np.flatnonzero(room[: len(h)] >= first_n)
        for n in _DUP_NS:
            if n > first_n:
                # extend the hashes where the previous n-gram repeats only; h keeps each position's latest hash
                pos = pos[room[pos] >= n]
                h[pos] = h[pos] * _HASH_MULT + cp[pos + (n - 1)] + one
            if len(pos) < 2:
                break  # no copies at this n, so none at larger n
            keys = np.sort((h[pos] << pos_bits) | pos.astype(np.uint64))
            key_pos = (keys & pos_mask).astype(np.intp)
            key_doc = view.doc[key_pos]
            same = ((keys[1:] >> pos_bits) == (keys[:-1] >> pos_bits)) & (key_doc[1:] == key_doc[:-1])
            later = np.sort(key_pos[1:][same])
            if len(later):
                # union of [s, s+n) over sorted starts: each interval counts up to the next start; a start in the
                # next document is at least n past a valid start of this one, so documents never bleed
                ends = np.minimum(later + n, np.append(later[1:], later[-1] + n))
                dup[n] += np.bincount(view.doc[later], weights=ends - later, minlength=num_docs).astype(np.int64)
            in_run = np.zeros(len(keys), dtype=bool)
            in_run[1:] = same
            in_run[:-1] |= same
            pos = key_pos[in_run]  # any order: the next n sorts its keys anyway
    return top, dup


_RANK_SEEN = np.zeros(0x110000, dtype=bool)  # scratch tables for dense character ranks (reset after each use)
_RANK_OF = np.zeros(0x110000, dtype=np.uint64)


def _top_counts(view: BatchView, cp: np.ndarray) -> dict[int, np.ndarray]:
    """Occurrences of each document's most frequent n-gram, n in 2, 3, 4 (see :func:`char_repetition`)."""
    num_docs, num = len(view.texts), len(cp)
    top = {n: np.zeros(num_docs, dtype=np.int64) for n in _TOP_NS}
    if num == 0:
        return top
    max_n = max(_TOP_NS)
    _RANK_SEEN[view.cp] = True
    distinct = np.flatnonzero(_RANK_SEEN)
    _RANK_SEEN[distinct] = False
    rank_bits = max(1, (len(distinct) + 1).bit_length())
    doc_bits = max(1, num_docs.bit_length())
    if doc_bits + max_n * rank_bits > 64:  # a batch of very many distinct characters: one hash sort per n
        return _top_counts_hashed(view, cp)
    _RANK_OF[distinct] = np.arange(1, len(distinct) + 1, dtype=np.uint64)
    ranks = np.zeros(num + max_n, dtype=np.uint64)
    ranks[:num] = _RANK_OF[view.cp]
    _RANK_OF[distinct] = 0
    bits = np.uint64(rank_bits)
    key = view.doc.astype(np.uint64) << np.uint64(64 - doc_bits)
    for j in range(max_n):
        chars = ranks[j : j + num].copy()
        chars[view.room <= j] = 0  # past its document's end a window reads rank 0, which no character has
        key |= chars << (bits * np.uint64(max_n - 1 - j))
    key = np.sort(key)
    doc_of = (key >> np.uint64(64 - doc_bits)).astype(np.intp)
    for n in _TOP_NS:
        prefix = key >> (bits * np.uint64(max_n - n))
        starts = np.flatnonzero(np.concatenate(([True], prefix[1:] != prefix[:-1])))
        lengths = np.diff(np.append(starts, num))  # (np.diff(append=) is 20x slower than this)
        # a run is valid when its n-th character is a real one (rank > 0): the n-gram fits in its document
        valid = (prefix[starts] & np.uint64((1 << rank_bits) - 1)) != 0
        _max_per_doc(top[n], doc_of[starts[valid]], lengths[valid])
    return top


def _max_per_doc(out: np.ndarray, docs: np.ndarray, values: np.ndarray) -> None:
    """``out[d] = max(values where docs == d)`` for ``docs`` sorted ascending (runs of a sorted key).

    One ``np.maximum.reduceat`` over the documents' segments: ``np.maximum.at`` costs tens of nanoseconds per
    element, and there is about one run per character.
    """
    if len(docs) == 0:
        return
    seg_starts = np.concatenate(([0], np.flatnonzero(docs[1:] != docs[:-1]) + 1))
    out[docs[seg_starts]] = np.maximum.reduceat(values, seg_starts)


def _top_counts_hashed(view: BatchView, cp: np.ndarray) -> dict[int, np.ndarray]:
    num_docs = len(view.texts)
    top = {n: np.zeros(num_docs, dtype=np.int64) for n in _TOP_NS}
    doc_bits = np.uint64(max(1, num_docs.bit_length()))
    h = cp + np.uint64(1)
    with np.errstate(over="ignore"):
        for n in range(2, max(_TOP_NS) + 1):
            h = h[:-1] * _HASH_MULT + cp[n - 1 :] + np.uint64(1)
            valid = np.flatnonzero(view.room[: len(h)] >= n)
            if len(valid) == 0:
                continue
            doc = view.doc[valid].astype(np.uint64) << (np.uint64(64) - doc_bits)
            keys = np.sort(doc | ((h[valid] << doc_bits) >> doc_bits))
            starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            lengths = np.diff(np.append(starts, len(keys)))
            _max_per_doc(top[n], (keys[starts] >> (np.uint64(64) - doc_bits)).astype(np.intp), lengths)
    return top


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
