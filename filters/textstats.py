"""Per-document text analysis shared by the filters: character classes, lines, sentences, n-gram hashes.

Several filters look at the same view of a document (code points, the Swallow sentence split). Each view is a
pure function of the text, memoised for the last few texts, so running the whole filter set on one document
computes it once. Memoising on the ``str`` is cheap: CPython caches a string's hash. Batches (``score_batch``) lay
their documents' code points end to end (:class:`BatchView`) and run one numba-compiled loop over them
(:func:`_text_stats_kernel`: classes, sentences and lines in a single pass); the loops are compiled on first use
and cached on disk (``@njit(cache=True)``), so a process pays that once.

Character classes follow Swallow Corpus v1 quality.py (swallow-llm/swallow-corpus @ 2d03507, see
../shared/docs/FILTER_RULES.md §D), so the Swallow thresholds mean what they meant there:
hiragana U+3041–U+3096, katakana U+30A1–U+30FA (the prolonged sound mark ー U+30FC and the middle dot ・ are NOT
counted), kanji = 々〇〻 + U+3400–U+9FFF + U+F900–U+FAFF + planes 2–3 (Swallow matches surrogate pairs in
UTF-16; in Python that is U+20000–U+3FFFF), toten 、，, kuten 。．！？.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numba import njit

_CACHE_TEXTS = 8  # a filter set scores one document at a time; a few slots cover nested callers


@dataclass(frozen=True, slots=True)
class CharCounts:
    """Counts of character classes in a document (Swallow definitions)."""

    num_chars: int
    num_hiragana: int
    num_katakana: int
    num_kanji: int
    num_kuten: int
    num_toten: int

    @property
    def num_japanese(self) -> int:
        """Japanese letters as Swallow counts them: hiragana + katakana + kanji + kuten + toten."""
        return self.num_hiragana + self.num_katakana + self.num_kanji + self.num_kuten + self.num_toten


T = TypeVar("T")


def memo_last_text(fn: Callable[[str], T]) -> Callable[[str], T]:
    """Memoise ``fn(text)`` for the last text object it saw (identity, not equality): steps that pass the same
    text on unchanged while they edit nothing get the result back without recomputing it."""
    slot: list[tuple[str, T]] = []

    @functools.wraps(fn)
    def wrapper(text: str) -> T:
        last = slot[0] if slot else None  # one read: another thread may replace it, never half-way
        if last is not None and last[0] is text:
            return last[1]
        value = fn(text)
        slot[:] = [(text, value)]
        return value

    return wrapper


@functools.lru_cache(maxsize=_CACHE_TEXTS)
def code_points(text: str) -> np.ndarray:
    """The text as a uint32 array of code points; lone surrogates (invalid UTF-16 halves) are kept as values."""
    # surrogatepass: a str may hold lone surrogates (bad decoding upstream); they must not make a filter raise.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@functools.lru_cache(maxsize=_CACHE_TEXTS)
def char_counts(text: str) -> CharCounts:
    return char_counts_batch((text,))[0]


@dataclass(frozen=True, slots=True)
class BatchView:
    """Several documents' code points end to end: the input of the compiled kernels, one call per batch."""

    texts: tuple[str, ...]
    cp: np.ndarray  # uint32 code points of all documents, concatenated
    starts: np.ndarray  # intp, len(texts) + 1: document i is cp[starts[i] : starts[i + 1]]


_last_view: list[BatchView] = []


def batch_view(texts: tuple[str, ...]) -> BatchView:
    """The :class:`BatchView` of ``texts``, memoised on the tuple's identity (the filters of a batch share it)."""
    last = _last_view[0] if _last_view else None  # one read: another thread may replace it, never half-way
    if last is not None and last.texts is texts:
        return last
    # surrogatepass: a str may hold lone surrogates (bad decoding upstream); they must not make a filter raise
    cp = np.frombuffer(b"".join(t.encode("utf-32-le", "surrogatepass") for t in texts), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.intp, count=len(texts))
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.intp)
    view = BatchView(texts, cp, starts)
    _last_view[:] = [view]
    return view


# what str.isspace() says of each code point (none above the BMP is whitespace): what str.strip() removes
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x10000)] + [False], dtype=bool)
# characters a line may end with to count as a sentence-like line (sentences.py LinePunctRatio)
LINE_END_CHARS = "。！？!?」』）)…"
_LINE_END = np.array(sorted(ord(c) for c in LINE_END_CHARS), dtype=np.int64)

# columns of :func:`_text_stats_kernel`'s output
(_HIRA, _KATA, _KANJI, _KUTEN, _TOTEN, _SENTS, _SENT_CHARS, _SENT_MAX, _SENT_ELLIPSIS, _LINES, _LINES_END) = range(11)


@njit(cache=True, nogil=True)
def _text_stats_kernel(cp: np.ndarray, starts: np.ndarray, is_space: np.ndarray, line_end: np.ndarray) -> np.ndarray:
    """One pass over each document: Swallow character classes, sentences, sentence-like lines (int64 columns).

    Sentences are what :func:`segments` finds: inside a line (split on "\\n"), a maximal run of characters that
    are not one of 。．！？!? plus the terminator right after it, if any; a terminator with no run before it
    belongs to no sentence. A sentence "ends in an ellipsis" when its last non-whitespace character is ・ or …
    (``s.strip().endswith(("・", "…"))``). A line counts for the line-punctuation ratio when it has a
    non-whitespace character (``line.strip()``); it "ends like a sentence" when its last one is in ``line_end``.
    """
    num_docs = len(starts) - 1
    out = np.zeros((num_docs, 11), dtype=np.int64)
    for d in range(num_docs):
        hira = kata = kanji = kuten = toten = 0
        num_sents = sent_chars = sent_max = num_ellipsis = 0
        num_lines = num_lines_end = 0
        run = 0  # length of the current run of sentence body characters
        last_solid = -1  # last non-whitespace character of the current run (a code point), -1 if none yet
        line_last = -1  # last non-whitespace character of the current line, -1 if none yet
        for i in range(starts[d], starts[d + 1] + 1):
            c = np.int64(cp[i]) if i < starts[d + 1] else np.int64(0x0A)  # the end closes a line
            if 0x3041 <= c <= 0x3096:
                hira += 1
            elif 0x30A1 <= c <= 0x30FA:
                kata += 1
            elif (
                (0x3400 <= c <= 0x9FFF)
                or (0xF900 <= c <= 0xFAFF)
                or (0x20000 <= c <= 0x3FFFF)
                or c == 0x3005
                or c == 0x3007
                or c == 0x303B
            ):
                kanji += 1
            terminator = c == 0x3002 or c == 0xFF0E or c == 0xFF01 or c == 0xFF1F or c == 0x21 or c == 0x3F
            if terminator:
                if c != 0x21 and c != 0x3F:
                    kuten += 1
            elif c == 0x3001 or c == 0xFF0C:
                toten += 1
            if terminator or c == 0x0A:
                if run > 0:  # a sentence ends here, with this terminator or without one (newline, end)
                    length = run + 1 if terminator else run
                    num_sents += 1
                    sent_chars += length
                    if length > sent_max:
                        sent_max = length
                    if not terminator and (last_solid == 0x30FB or last_solid == 0x2026):
                        num_ellipsis += 1
                run = 0
                last_solid = -1
            else:
                run += 1
                if not is_space[min(c, 0x10000)]:
                    last_solid = c
            if c == 0x0A:
                if line_last >= 0:
                    num_lines += 1
                    k = np.searchsorted(line_end, line_last)
                    if k < len(line_end) and line_end[k] == line_last:
                        num_lines_end += 1
                line_last = -1
            elif not is_space[min(c, 0x10000)]:
                line_last = c
        row = out[d]
        row[_HIRA], row[_KATA], row[_KANJI], row[_KUTEN], row[_TOTEN] = hira, kata, kanji, kuten, toten
        row[_SENTS], row[_SENT_CHARS], row[_SENT_MAX] = num_sents, sent_chars, sent_max
        row[_SENT_ELLIPSIS], row[_LINES], row[_LINES_END] = num_ellipsis, num_lines, num_lines_end
    return out


_last_stats: list[tuple[tuple[str, ...], np.ndarray]] = []


def text_stats_batch(texts: tuple[str, ...]) -> np.ndarray:
    """:func:`_text_stats_kernel` of a batch, memoised on the tuple's identity (several filters read it)."""
    last = _last_stats[0] if _last_stats else None  # one read: another thread may replace it, never half-way
    if last is not None and last[0] is texts:
        return last[1]
    view = batch_view(texts)
    stats = _text_stats_kernel(view.cp, view.starts, _IS_SPACE, _LINE_END)
    _last_stats[:] = [(texts, stats)]
    return stats


def char_counts_batch(texts: tuple[str, ...]) -> list[CharCounts]:
    """:class:`CharCounts` of every text (one compiled pass over the batch)."""
    stats = text_stats_batch(texts).tolist()
    return [
        CharCounts(len(text), row[_HIRA], row[_KATA], row[_KANJI], row[_KUTEN], row[_TOTEN])
        for text, row in zip(texts, stats, strict=True)
    ]


# Swallow quality.py: a sentence is a run of non-terminators plus its terminator, inside one line.
_SENTENCE = re.compile(r"[^。．！？!?]+[。．！？!?]?")


@dataclass(frozen=True, slots=True)
class Segments:
    lines: tuple[str, ...]  # text.split("\n"), empty lines included
    line_sentences: tuple[tuple[str, ...], ...]  # the sentences of each line (Swallow's "paragraphs")
    sentences: tuple[str, ...]  # all sentences, in order


@functools.lru_cache(maxsize=_CACHE_TEXTS)
def segments(text: str) -> Segments:
    lines = tuple(text.split("\n"))
    per_line = tuple(tuple(_SENTENCE.findall(line)) for line in lines)
    return Segments(lines, per_line, tuple(s for sents in per_line for s in sents))


@dataclass(frozen=True, slots=True)
class SentenceStats:
    """Per document of a batch (int64 arrays): sentences as :func:`segments` splits them, their summed and
    maximal length in characters, and how many end in ・ or … once stripped of whitespace."""

    num_sentences: np.ndarray
    num_chars: np.ndarray
    max_chars: np.ndarray
    num_ellipsis: np.ndarray


def sentence_stats_batch(texts: tuple[str, ...]) -> SentenceStats:
    """:class:`SentenceStats` of a batch (one compiled pass), equal to what :func:`segments` gives per text."""
    stats = text_stats_batch(texts)
    return SentenceStats(stats[:, _SENTS], stats[:, _SENT_CHARS], stats[:, _SENT_MAX], stats[:, _SENT_ELLIPSIS])


def line_punct_batch(texts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per document: lines with a non-whitespace character, and those whose last one is in ``LINE_END_CHARS``."""
    stats = text_stats_batch(texts)
    return stats[:, _LINES], stats[:, _LINES_END]


# Polynomial rolling hash of n-grams over code points (or token ids). 64-bit wrap-around arithmetic; with ids
# below 2**32 two different n-grams of the same length collide with probability ~n / 2**64 — negligible next to
# the thresholds' resolution, and it lets numpy count n-grams without building Python strings.
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)


def ngram_hashes(ids: np.ndarray, max_n: int) -> list[np.ndarray]:
    """``out[n]`` = hashes of the ``len(ids) - n + 1`` n-grams, for n = 1..max_n (``out[0]`` is unused, empty)."""
    ids64 = ids.astype(np.uint64)
    out: list[np.ndarray] = [np.empty(0, dtype=np.uint64)]
    h = ids64 + np.uint64(1)  # +1 so that id 0 still contributes
    out.append(h)
    with np.errstate(over="ignore"):
        for n in range(2, max_n + 1):
            if len(ids64) < n:
                out.append(np.empty(0, dtype=np.uint64))
                continue
            h = h[:-1] * _HASH_MULT + ids64[n - 1 :] + np.uint64(1)
            out.append(h)
    return out
