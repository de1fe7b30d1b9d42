"""Word-list filters: advertisement keywords and NG (adult, discriminatory, violent) words.

Lists ship as package data in filters/data/ (see filters/data/SOURCE.md for origin and licence). WARNING: the
lists contain offensive words.

Matching is literal (HojiChar ``re.escape``s every entry), leftmost-longest and non-overlapping, with one
matcher over all lists (built once per process; see :class:`WordMatcher`): a regex alternation of 1,500 words
cost 4 ms per 2,000-character document, the compiled trie walk ~15 µs.
With ``katakana_boundaries`` (HojiChar ``NgWordsFilterJa(ignore_confused=True)``), an entry made only of katakana
(``[ァ-ヴー]+``) matches only when not directly preceded or followed by katakana, so that e.g. an NG word inside a
longer loanword does not count.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np
from numba import njit

from filters.base import Filter, Threshold, ratio
from filters.textstats import batch_view, char_counts, char_counts_batch

_KATAKANA_WORD = re.compile(r"[ァ-ヴー]+")


_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key * _MIX pick a slot
_HEAD_BITS = 16  # a 64 Ki-bit (8 KB) bitmap of hashed word heads


def _trie_table(words: list[str]) -> tuple[list[int], np.ndarray, int, np.ndarray]:
    """A trie of ``words`` as an open-addressing table: key ``node << 21 | code point`` (+1; 0 = empty slot) to the
    child node, node 0 the root. Returns the node reached by each word, the table, its size in bits and the bitmap
    of word heads (see :func:`_trie_matches`)."""
    edges: dict[int, int] = {}
    word_nodes = []
    for w in words:
        node = 0
        for ch in w:
            key = (node << 21) | ord(ch)
            child = edges.get(key)
            if child is None:
                child = edges[key] = len(edges) + 1
            node = child
        word_nodes.append(node)
    bits = max(4, (2 * len(edges)).bit_length())
    table = np.zeros(2 << bits, dtype=np.int64)
    for key, child in edges.items():
        slot = (((key + 1) * int(_MIX)) % (1 << 64)) >> (64 - bits)
        while table[2 * slot]:
            slot = (slot + 1) & ((1 << bits) - 1)
        table[2 * slot], table[2 * slot + 1] = key + 1, child
    # which (first, second) code point pairs start a word, and which single code points are words, as one bitmap of
    # hashed keys (~5% false positives with 3,000 prefixes): a trie walk starts at a few % of Japanese positions
    heads = np.zeros(1 << (_HEAD_BITS - 6), dtype=np.uint64)
    for w in words:
        key = ((ord(w[0]) << 21) | ord(w[1])) if len(w) >= 2 else ord(w[0]) | (1 << 62)
        slot = ((key * int(_MIX)) % (1 << 64)) >> (64 - _HEAD_BITS)
        heads[slot >> 6] |= np.uint64(1 << (slot & 63))
    return word_nodes, table, bits, heads


@njit(cache=True, nogil=True)
def _trie_matches(
    cp: np.ndarray, starts: np.ndarray, table: np.ndarray, bits: int, is_word: np.ndarray, heads: np.ndarray
) -> np.ndarray:
    """Every occurrence of every word (overlaps included), walking the trie from each position: rows
    ``(document, start, end, node)`` with start and end relative to the document, ordered by start then end.

    The walk starts only where the position's first two code points (or its one code point) hit the ``heads``
    bitmap: Japanese word lists start with common kana, so half the positions start some word's first character
    (a hash look-up each, mispredicted half the time), but only ~3% start a word's first two."""
    found = np.empty((64 + len(cp) // 8, 4), dtype=np.int64)
    num = 0
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    head_shift = np.uint64(64 - _HEAD_BITS)
    for d in range(len(starts) - 1):
        s, e = starts[d], starts[d + 1]
        for p in range(s, e):
            single = np.uint64(np.int64(cp[p]) | (1 << 62)) * _MIX >> head_shift
            hit = (heads[single >> np.uint64(6)] >> (single & np.uint64(63))) & np.uint64(1)
            if p + 1 < e:
                pair = np.uint64((np.int64(cp[p]) << 21) | np.int64(cp[p + 1])) * _MIX >> head_shift
                hit |= (heads[pair >> np.uint64(6)] >> (pair & np.uint64(63))) & np.uint64(1)
            if hit == 0:
                continue
            node = 0
            for q in range(p, e):
                key = ((node << 21) | np.int64(cp[q])) + 1
                slot = np.int64((np.uint64(key) * _MIX) >> shift)
                child = 0
                while True:
                    stored = table[2 * slot]
                    if stored == key:
                        child = table[2 * slot + 1]
                        break
                    if stored == 0:
                        break
                    slot = (slot + 1) & mask
                if child == 0:
                    break
                node = child
                if is_word[node]:
                    if num == len(found):
                        grown = np.empty((2 * len(found), 4), dtype=np.int64)
                        grown[:num] = found
                        found = grown
                    found[num, 0], found[num, 1], found[num, 2], found[num, 3] = d, p - s, q + 1 - s, node
                    num += 1
    return found[:num]


@njit(cache=True, nogil=True)
def _is_katakana(c: np.int64) -> bool:
    return (0x30A1 <= c <= 0x30F4) or c == 0x30FC  # [ァ-ヴー]


@njit(cache=True, nogil=True)
def _select_counts(
    found: np.ndarray,
    cp: np.ndarray,
    starts: np.ndarray,
    node_mask: np.ndarray,
    node_kata: np.ndarray,
    want: int,
    katakana_boundaries: bool,
) -> np.ndarray:
    """Per document: number and characters of the leftmost-longest non-overlapping matches of the lists in
    ``want`` among ``found`` (:func:`_trie_matches`), as ``WordMatcher._select`` picks them."""
    out = np.zeros((len(starts) - 1, 2), dtype=np.int64)
    i, last_doc, last_end = 0, -1, 0
    while i < len(found):
        d, start = found[i, 0], found[i, 1]
        if d != last_doc:
            last_doc, last_end = d, 0
        best = -1  # the longest acceptable match at this start
        while i < len(found) and found[i, 0] == d and found[i, 1] == start:
            end, node = found[i, 2], found[i, 3]
            i += 1
            if node_mask[node] & want == 0:
                continue
            if katakana_boundaries and node_kata[node]:
                s, e = starts[d], starts[d + 1]
                if (start > 0 and _is_katakana(np.int64(cp[s + start - 1]))) or (
                    s + end < e and _is_katakana(np.int64(cp[s + end]))
                ):
                    continue
            best = max(best, end)
        if best >= 0 and start >= last_end:
            out[d, 0] += 1
            out[d, 1] += best - start
            last_end = best
    return out


@functools.lru_cache(maxsize=64)
def load_word_list(filename: str) -> tuple[str, ...]:
    """Non-empty stripped lines of ``filters/data/<filename>``, deduplicated, in file order."""
    text = resources.files("filters").joinpath("data", filename).read_text(encoding="utf-8")
    return tuple(dict.fromkeys(w.strip() for w in text.split("\n") if w.strip()))


_KATAKANA_CHARS = frozenset(chr(c) for c in range(ord("ァ"), ord("ヴ") + 1)) | {"ー"}


class WordMatcher:
    """Literal matching of several word lists in one compiled pass over a batch's code points.

    ``spans(text, names, katakana_boundaries)`` gives, for the union of the named lists, the leftmost-longest
    non-overlapping matches — what a regex alternation of the escaped words (longest first) finds, HojiChar's
    method. All words of all lists are one trie (:func:`_trie_table`); :func:`_trie_matches` walks it from every
    position whose first code point or first two hit a bitmap of word heads, and finds every occurrence of every
    word once per batch (memoised: the ad, NG and Swallow filters select from the same occurrences).
    :meth:`counts_batch` then picks each filter's matches in compiled code (:func:`_select_counts`); ``spans``
    picks them in Python (the two are tested equal). On 2,000 characters of prose the NumPy bitmap version of this
    cost ~0.2 ms, pyahocorasick ~0.45 ms and a regex alternation 4 ms.
    With ``katakana_boundaries``, a katakana-only entry ([ァ-ヴー]+) preceded or followed by katakana is not a
    candidate (HojiChar ``ignore_confused``'s lookarounds), so a shorter overlapping entry may match instead.
    """

    def __init__(self, groups: dict[str, tuple[str, ...]]) -> None:
        self._bits = {name: 1 << i for i, name in enumerate(groups)}
        entries: dict[str, int] = {}
        for name, words in groups.items():
            for w in words:
                entries[w] = entries.get(w, 0) | self._bits[name]
        words = list(entries)
        word_nodes, self._table, self._table_bits, self._heads = _trie_table(words)
        num_nodes = max(word_nodes, default=0) + 1
        self._node_mask = np.zeros(num_nodes, dtype=np.int64)  # lists the word ending at a node belongs to
        self._node_kata = np.zeros(num_nodes, dtype=bool)  # the word is katakana only
        for w, node in zip(words, word_nodes, strict=True):
            self._node_mask[node] = entries[w]
            self._node_kata[node] = bool(_KATAKANA_WORD.fullmatch(w))
        self._is_word = self._node_mask != 0
        self._mask_of = self._node_mask.tolist()
        self._kata_of = self._node_kata.tolist()
        self._empty = not entries
        self._last: tuple[str, list[tuple[int, int, int, bool]]] = ("", [])
        self._last_found: tuple[tuple[str, ...], np.ndarray] | None = None

    def _found(self, texts: tuple[str, ...]) -> np.ndarray:
        """:func:`_trie_matches` of a batch, memoised on the tuple's identity (several filters select from it)."""
        last = self._last_found  # one read: another thread may replace it, never half-way
        if last is not None and last[0] is texts:
            return last[1]
        view = batch_view(texts)
        found = _trie_matches(view.cp, view.starts, self._table, self._table_bits, self._is_word, self._heads)
        self._last_found = (texts, found)
        return found

    def _matches(self, text: str) -> list[tuple[int, int, int, bool]]:
        """Every occurrence of every entry (overlaps included): ``(start, end, list mask, katakana-only)``."""
        last = self._last  # one read: another thread may replace it, never half-way
        if last[0] is text:
            return last[1]
        found = self._matches_batch((text,))[0]
        self._last = (text, found)
        return found

    def _matches_batch(self, texts: tuple[str, ...]) -> list[list[tuple[int, int, int, bool]]]:
        """:meth:`_matches` of every text, from one compiled pass over the batch."""
        out: list[list[tuple[int, int, int, bool]]] = [[] for _ in texts]
        for d, start, end, node in self._found(texts).tolist():
            out[d].append((start, end, self._mask_of[node], self._kata_of[node]))
        return out

    def counts_batch(
        self, texts: tuple[str, ...], names: tuple[str, ...] | None = None, katakana_boundaries: bool = False
    ) -> np.ndarray:
        """Per text, ``(number of spans, their characters)`` of :meth:`spans` (int64), without building them."""
        if self._empty:
            return np.zeros((len(texts), 2), dtype=np.int64)
        want = sum(self._bits[n] for n in names) if names is not None else -1
        view = batch_view(texts)
        return _select_counts(
            self._found(texts), view.cp, view.starts, self._node_mask, self._node_kata, want, katakana_boundaries
        )

    def spans(self, text: str, names: tuple[str, ...] | None = None, katakana_boundaries: bool = False):
        return self._select(self._matches(text) if text else [], text, names, katakana_boundaries)

    def spans_batch(
        self, texts: tuple[str, ...], names: tuple[str, ...] | None = None, katakana_boundaries: bool = False
    ) -> list[list[tuple[int, int]]]:
        return [
            self._select(found, text, names, katakana_boundaries)
            for found, text in zip(self._matches_batch(texts), texts, strict=True)
        ]

    def _select(
        self,
        found: list[tuple[int, int, int, bool]],
        text: str,
        names: tuple[str, ...] | None,
        katakana_boundaries: bool,
    ) -> list[tuple[int, int]]:
        """The leftmost-longest non-overlapping matches of the named lists among ``found``."""
        if self._empty or not found:
            return []
        want = sum(self._bits[n] for n in names) if names is not None else -1
        cands = []
        for start, end, mask, kata in found:
            if not mask & want:
                continue
            if (
                katakana_boundaries
                and kata
                and (
                    (start > 0 and text[start - 1] in _KATAKANA_CHARS)
                    or (end < len(text) and text[end] in _KATAKANA_CHARS)
                )
            ):
                continue
            cands.append((start, -end))
        cands.sort()  # leftmost first, then longest
        out, last_end = [], 0
        for start, neg_end in cands:
            if start >= last_end:
                out.append((start, -neg_end))
                last_end = -neg_end
        return out


@dataclass(frozen=True)
class WordSelection:
    """Some lists of a matcher, with the katakana-boundary rule on or off."""

    matcher: WordMatcher
    names: tuple[str, ...] | None
    katakana_boundaries: bool

    def spans(self, text: str) -> list[tuple[int, int]]:
        return self.matcher.spans(text, self.names, self.katakana_boundaries)

    def spans_batch(self, texts: tuple[str, ...]) -> list[list[tuple[int, int]]]:
        return self.matcher.spans_batch(texts, self.names, self.katakana_boundaries)

    def counts_batch(self, texts: tuple[str, ...]) -> np.ndarray:
        return self.matcher.counts_batch(texts, self.names, self.katakana_boundaries)


@functools.lru_cache(maxsize=32)
def compile_word_list(words: tuple[str, ...], katakana_boundaries: bool) -> WordSelection:
    """A matcher for one word list, built once per process (never pickled with a filter)."""
    return WordSelection(WordMatcher({"words": words}), None, katakana_boundaries)


def _word_list_files() -> tuple[str, ...]:
    data = resources.files("filters").joinpath("data")
    skip = ("LICENSE", "datatrove_url_", "ja_valid_domains")
    return tuple(sorted(p.name for p in data.iterdir() if p.name.endswith(".txt") and not p.name.startswith(skip)))


@functools.lru_cache(maxsize=1)
def _shared_matcher() -> WordMatcher:
    """Every document word list in filters/data in one automaton."""
    return WordMatcher({f: load_word_list(f) for f in _word_list_files()})


def _list_pattern(files: tuple[str, ...], katakana_boundaries: bool) -> WordSelection:
    return WordSelection(_shared_matcher(), files, katakana_boundaries)


def _check_lists(owner: str, files: tuple[str, ...]) -> None:
    """A misspelled list name is a config error at start-up, not a crash on the first document."""
    known = _word_list_files()
    for f in files:
        if f not in known:
            raise ValueError(f"{owner}.lists: no word list {f!r} in filters/data; known: {list(known)}")


def count_matches(matcher: WordSelection, text: str) -> tuple[int, int]:
    """(number of matches, matched characters)."""
    spans = matcher.spans(text)
    return len(spans), sum(end - start for start, end in spans)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdKeywords(Filter):
    """Keeps documents with at most ``max_hits`` advertisement-keyword hits (HojiChar ``DiscardAds``).

    List: HojiChar 0.18.1 advertisement_keywords_ja.txt. LLM-jp corpus v1 rejects on > 10 hits, HojiChar's default
    is > 14 (FILTER_RULES.md §A.4, §E).
    """

    name: ClassVar[str] = "ad_keywords_v1"
    thresholds: ClassVar = (Threshold("max_hits", "max"),)
    score_params: ClassVar = ("lists",)
    lists: tuple[str, ...] = ("hojichar_advertisement_keywords_ja.txt",)
    max_hits: float | None = 10

    def __post_init__(self) -> None:
        Filter.__post_init__(self)
        _check_lists(self.name, self.lists)

    def score(self, value: str) -> float:
        return float(count_matches(_list_pattern(self.lists, False), value)[0])

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        return [float(n) for n in _list_pattern(self.lists, False).counts_batch(values)[:, 0].tolist()]


@dataclass(frozen=True, slots=True, kw_only=True)
class NgWordHits(Filter):
    """Keeps documents with at most ``max_<list>`` hits of each NG list (LLM-jp corpus v1, FILTER_RULES.md §A.5).

    LLM-jp monkey-patches HojiChar ``NgWordsFilterJa(ignore_confused=True)`` to reject when a list has more than 3
    matches (``--strict``: 2); lists are llm-jp-corpus scripts/dict/ja_{adult,discrimination,violence}_keywords.txt.
    NOTE(jpcorpus, 2026-11): HojiChar's alternation takes the first listed word at a position, we take the longest;
    counts differ only where one list entry is a prefix of another at the same place.
    """

    name: ClassVar[str] = "ng_word_hits_v1"
    metrics: ClassVar = ("adult", "discrimination", "violence")
    thresholds: ClassVar = (
        Threshold("max_adult", "max", "adult"),
        Threshold("max_discrimination", "max", "discrimination"),
        Threshold("max_violence", "max", "violence"),
    )
    score_params: ClassVar = ("katakana_boundaries",)
    katakana_boundaries: bool = True
    max_adult: float | None = 3
    max_discrimination: float | None = 3
    max_violence: float | None = 3

    _LISTS: ClassVar = {
        "adult": "ja_adult_keywords.txt",
        "discrimination": "ja_discrimination_keywords.txt",
        "violence": "ja_violence_keywords.txt",
    }

    def score(self, value: str) -> dict[str, float]:
        return self.score_batch((value,))[0]

    def score_batch(self, values: tuple[str, ...]) -> list[dict[str, float]]:
        per_kind = {
            kind: _list_pattern((f,), self.katakana_boundaries).counts_batch(values)[:, 0].tolist()
            for kind, f in self._LISTS.items()
        }
        return [{kind: float(hits[i]) for kind, hits in per_kind.items()} for i in range(len(values))]


@dataclass(frozen=True, slots=True, kw_only=True)
class NgCharRatio(Filter):
    """Keeps documents where NG-word characters are below ``max_ratio`` of the Japanese letters (Swallow: 0.05).

    Swallow Corpus v1 ngword.py: longest match of inappropriate-words-ja {Offensive, Sexual, Sexual_with_bopo,
    Sexual_with_mask} over the text; score = matched characters / Japanese letters; keep if ``< 0.05``.
    NOTE(jpcorpus, 2026-11): Swallow also used a private list that is not published; a document with NG characters
    but no Japanese letters scores the NG character count itself (Swallow divides by zero there).
    """

    name: ClassVar[str] = "ng_char_ratio_v1"
    thresholds: ClassVar = (Threshold("max_ratio", "max", strict=True),)
    score_params: ClassVar = ("lists", "katakana_boundaries")
    lists: tuple[str, ...] = (
        "inappropriate_words_ja_Offensive.txt",
        "inappropriate_words_ja_Sexual.txt",
        "inappropriate_words_ja_Sexual_with_bopo.txt",
        "inappropriate_words_ja_Sexual_with_mask.txt",
    )
    katakana_boundaries: bool = False
    max_ratio: float | None = 0.05

    def __post_init__(self) -> None:
        Filter.__post_init__(self)
        _check_lists(self.name, self.lists)

    def score(self, value: str) -> float:
        _, num_ng_chars = count_matches(_list_pattern(self.lists, self.katakana_boundaries), value)
        if num_ng_chars == 0:
            return 0.0
        return ratio(num_ng_chars, char_counts(value).num_japanese) or float(num_ng_chars)

    def score_batch(self, values: tuple[str, ...]) -> list[float]:
        ng_chars = _list_pattern(self.lists, self.katakana_boundaries).counts_batch(values)[:, 1].tolist()
        counts = char_counts_batch(values)  # shared with the composition filters of the same batch
        out = []
        for num_ng_chars, c in zip(ng_chars, counts, strict=True):
            out.append(ratio(num_ng_chars, c.num_japanese) or float(num_ng_chars) if num_ng_chars else 0.0)
        return out
