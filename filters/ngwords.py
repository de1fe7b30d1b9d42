"""Word-list filters: advertisement keywords and NG (adult, discriminatory, violent) words.

Lists ship as package data in filters/data/ (see filters/data/SOURCE.md for origin and licence). WARNING: the
lists contain offensive words.

Matching is literal (HojiChar ``re.escape``s every entry), leftmost-longest and non-overlapping, with one
matcher over all lists (built once per process; see :class:`WordMatcher`): a regex alternation of 1,500 words
cost 4 ms per 2,000-character document.
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

from filters.base import Filter, Threshold, ratio
from filters.textstats import batch_view, char_counts, char_counts_batch

_KATAKANA_WORD = re.compile(r"[ァ-ヴー]+")
_MAX_CODE_POINT = 0x10FFFF  # code_points() keeps lone surrogates (< 0x10FFFF) as values


_BITS = np.uint64(21)  # code points have 21 bits: three fit in one uint64 key


def _key(cps: list[int]) -> int:
    key = 0
    for c in cps:
        key = (key << 21) | c
    return key


_FILTER_BITS = 20  # a 1 Mi-entry bitmap: ~0.4% false positives with 4,000 keys, each re-checked in a dict
_FILTER_MULT = np.uint64(0x9E3779B97F4A7C15)


def _slots(keys: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (keys * _FILTER_MULT) >> np.uint64(64 - _FILTER_BITS)


def _key_filter(keys: list[int]) -> np.ndarray:
    """A one-hash Bloom filter of ``keys``: a gather per position instead of a binary search (5x cheaper)."""
    table = np.zeros(1 << _FILTER_BITS, dtype=bool)
    table[_slots(np.array(keys, dtype=np.uint64))] = True
    return table


@functools.lru_cache(maxsize=64)
def load_word_list(filename: str) -> tuple[str, ...]:
    """Non-empty stripped lines of ``filters/data/<filename>``, deduplicated, in file order."""
    text = resources.files("filters").joinpath("data", filename).read_text(encoding="utf-8")
    return tuple(dict.fromkeys(w.strip() for w in text.split("\n") if w.strip()))


_KATAKANA_CHARS = frozenset(chr(c) for c in range(ord("ァ"), ord("ヴ") + 1)) | {"ー"}


class WordMatcher:
    """Literal matching of several word lists in one vectorised pass over a document's code points.

    ``spans(text, names, katakana_boundaries)`` gives, for the union of the named lists, the leftmost-longest
    non-overlapping matches — what a regex alternation of the escaped words (longest first) finds, HojiChar's
    method. Every position's 1-, 2- and 3-character keys are looked up at once in bitmaps (a one-hash Bloom
    filter); only the few positions that pass are checked in Python (dict look-up, then ``str.startswith`` for
    entries longer than three characters). On 2,000 characters of prose this costs ~0.2 ms where an Aho-Corasick
    automaton (pyahocorasick) cost ~0.45 ms and a regex alternation 4 ms: Japanese lists start with common kana
    (いま, よう, さん), so most positions start some entry's first character and a per-position walk is slow.
    The NG, ad and Swallow filters look at the same document one after the other, so the last result is memoised.
    With ``katakana_boundaries``, a katakana-only entry ([ァ-ヴー]+) preceded or followed by katakana is not a
    candidate (HojiChar ``ignore_confused``'s lookarounds), so a shorter overlapping entry may match instead.
    """

    def __init__(self, groups: dict[str, tuple[str, ...]]) -> None:
        self._bits = {name: 1 << i for i, name in enumerate(groups)}
        entries: dict[str, int] = {}
        for name, words in groups.items():
            for w in words:
                entries[w] = entries.get(w, 0) | self._bits[name]
        # One- and two-character entries are found by table look-ups alone; longer ones by their first three
        # characters, then compared in Python at the few positions where those three match.
        singles: dict[int, tuple[int, bool]] = {}
        pairs: dict[int, tuple[int, bool]] = {}
        self._by_triple: dict[int, list[tuple[str, int, int, bool]]] = {}
        for w, mask in entries.items():
            kata = bool(_KATAKANA_WORD.fullmatch(w))
            cps = [ord(c) for c in w]
            if len(w) == 1:
                singles[cps[0]] = (mask, kata)
            elif len(w) == 2:
                pairs[_key(cps)] = (mask, kata)
            else:
                self._by_triple.setdefault(_key(cps[:3]), []).append((w, len(w), mask, kata))
        self._singles = singles
        self._single_table = np.zeros(_MAX_CODE_POINT + 1, dtype=bool)
        self._single_table[list(singles)] = True
        self._pairs = pairs
        self._pair_filter = _key_filter(list(pairs)) if pairs else None
        self._triple_filter = _key_filter(list(self._by_triple)) if self._by_triple else None
        self._empty = not entries
        self._last: tuple[str, list[tuple[int, int, int, bool]]] = ("", [])
        self._last_batch: tuple[tuple[str, ...], list[list[tuple[int, int, int, bool]]]] | None = None

    def _matches(self, text: str) -> list[tuple[int, int, int, bool]]:
        """Every occurrence of every entry (overlaps included): ``(start, end, list mask, katakana-only)``."""
        last = self._last  # one read: another thread may replace it, never half-way
        if last[0] is text:
            return last[1]
        found = self._matches_batch((text,))[0]
        self._last = (text, found)
        return found

    def _matches_batch(self, texts: tuple[str, ...]) -> list[list[tuple[int, int, int, bool]]]:
        """:meth:`_matches` of every text, with the array look-ups done once over the whole batch."""
        last = self._last_batch
        if last is not None and last[0] is texts:
            return last[1]
        view = batch_view(texts)
        cp, doc, starts = view.cp.astype(np.uint64), view.doc, view.starts
        found: list[list[tuple[int, int, int, bool]]] = [[] for _ in texts]
        for g in np.flatnonzero(self._single_table[cp]).tolist():
            mask, kata = self._singles[int(cp[g])]
            d = int(doc[g])
            found[d].append((g - int(starts[d]), g - int(starts[d]) + 1, mask, kata))
        room = view.room
        if len(cp) >= 2 and self._pair_filter is not None:
            keys = (cp[:-1] << _BITS) | cp[1:]
            for g in np.flatnonzero(self._pair_filter[_slots(keys)] & (room[:-1] >= 2)).tolist():
                entry = self._pairs.get(int(keys[g]))
                if entry is not None:
                    d = int(doc[g])
                    found[d].append((g - int(starts[d]), g - int(starts[d]) + 2, entry[0], entry[1]))
        if len(cp) >= 3 and self._triple_filter is not None:
            keys = (((cp[:-2] << _BITS) | cp[1:-1]) << _BITS) | cp[2:]
            for g in np.flatnonzero(self._triple_filter[_slots(keys)] & (room[:-2] >= 3)).tolist():
                entries = self._by_triple.get(int(keys[g]))
                if entries:
                    d = int(doc[g])
                    i = g - int(starts[d])
                    for w, length, mask, kata in entries:
                        if texts[d].startswith(w, i):
                            found[d].append((i, i + length, mask, kata))
        self._last_batch = (texts, found)
        return found

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
        return [float(len(spans)) for spans in _list_pattern(self.lists, False).spans_batch(values)]


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
            kind: _list_pattern((f,), self.katakana_boundaries).spans_batch(values) for kind, f in self._LISTS.items()
        }
        return [{kind: float(len(spans[i])) for kind, spans in per_kind.items()} for i in range(len(values))]


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
        all_spans = _list_pattern(self.lists, self.katakana_boundaries).spans_batch(values)
        counts = char_counts_batch(values)  # shared with the composition filters of the same batch
        out = []
        for spans, c in zip(all_spans, counts, strict=True):
            num_ng_chars = sum(end - start for start, end in spans)
            out.append(ratio(num_ng_chars, c.num_japanese) or float(num_ng_chars) if num_ng_chars else 0.0)
        return out
