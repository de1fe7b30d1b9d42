"""Per-document text analysis shared by the filters: character classes, lines, sentences, n-gram hashes.

Several filters look at the same view of a document (code points, the Swallow sentence split). Each view is a
pure function of the text, memoised for the last few texts, so running the whole filter set on one document
computes it once. Memoising on the ``str`` is cheap: CPython caches a string's hash.

Character classes follow Swallow Corpus v1 quality.py (swallow-llm/swallow-corpus @ 2d03507, see
../shared/docs/FILTER_RULES.md §D), so the Swallow thresholds mean what they meant there:
hiragana U+3041–U+3096, katakana U+30A1–U+30FA (the prolonged sound mark ー U+30FC and the middle dot ・ are NOT
counted), kanji = 々〇〻 + U+3400–U+9FFF + U+F900–U+FAFF + planes 2–3 (Swallow matches surrogate pairs in
UTF-16; in Python that is U+20000–U+3FFFF), toten 、，, kuten 。．！？.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

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
    """Several documents' code points end to end, so that a filter makes its numpy calls once per batch."""

    texts: tuple[str, ...]
    cp: np.ndarray  # uint32 code points of all documents, concatenated
    starts: np.ndarray  # intp, len(texts) + 1: document i is cp[starts[i] : starts[i + 1]]
    doc: np.ndarray  # intp document index of every code point
    room: np.ndarray  # intp, per code point: characters from it to its document's end (an n-gram fits if >= n)

    def doc_sums(self, mask: np.ndarray) -> np.ndarray:
        """Per document, the number of True values of a per-code-point mask (int64)."""
        cum = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
        return cum[self.starts[1:]] - cum[self.starts[:-1]]


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
    doc = np.repeat(np.arange(len(texts), dtype=np.intp), lengths)
    view = BatchView(texts, cp, starts, doc, starts[1:][doc] - np.arange(len(cp), dtype=np.intp))
    _last_view[:] = [view]
    return view


_last_counts: list[tuple[tuple[str, ...], list[CharCounts]]] = []


def char_counts_batch(texts: tuple[str, ...]) -> list[CharCounts]:
    """:class:`CharCounts` of every text, with one pass of array comparisons over the batch."""
    last = _last_counts[0] if _last_counts else None
    if last is not None and last[0] is texts:
        return last[1]
    view = batch_view(texts)
    cp = view.cp
    hira = view.doc_sums((cp >= 0x3041) & (cp <= 0x3096))
    kata = view.doc_sums((cp >= 0x30A1) & (cp <= 0x30FA))
    # one comparison per class boundary: np.isin sorts and costs ~50 us per call on a 2,000-character text
    kanji = view.doc_sums(
        ((cp >= 0x3400) & (cp <= 0x9FFF)) | ((cp >= 0xF900) & (cp <= 0xFAFF)) | ((cp >= 0x20000) & (cp <= 0x3FFFF))
    )
    out = []
    for i, text in enumerate(texts):
        special = text.count("々") + text.count("〇") + text.count("〻")
        kuten = text.count("。") + text.count("．") + text.count("！") + text.count("？")
        toten = text.count("、") + text.count("，")
        out.append(CharCounts(len(text), int(hira[i]), int(kata[i]), int(kanji[i]) + special, kuten, toten))
    _last_counts[:] = [(texts, out)]
    return out


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


_TERMINATORS = np.array([ord(c) for c in "。．！？!?"], dtype=np.uint32)
_ELLIPSIS = np.array([ord(c) for c in "・…"], dtype=np.uint32)
# str.isspace() over the BMP (no character above it is whitespace): what str.strip() removes
_IS_SPACE = np.array([chr(c).isspace() for c in range(0x10000)] + [False], dtype=bool)
_last_sentences: list[tuple[tuple[str, ...], SentenceStats]] = []


def sentence_stats_batch(texts: tuple[str, ...]) -> SentenceStats:
    """:class:`SentenceStats` of a batch from array operations, equal to what :func:`segments` gives per text.

    A sentence is a maximal run of characters that are neither a newline nor one of 。．！？!? (the regex
    ``[^。．！？!?]+`` inside a line), plus the terminator right after it if there is one; a terminator with no
    such run before it belongs to no sentence, as with Swallow's ``findall``.
    """
    last = _last_sentences[0] if _last_sentences else None
    if last is not None and last[0] is texts:
        return last[1]
    view = batch_view(texts)
    cp, num_docs = view.cp, len(texts)
    is_term = np.isin(cp, _TERMINATORS)
    body = ~is_term & (cp != 0x0A)
    first = np.zeros(len(cp), dtype=bool)  # first character of its document
    first[view.starts[:-1][view.starts[:-1] < len(cp)]] = True
    prev_body = np.concatenate(([False], body[:-1])) & ~first
    run_starts = np.flatnonzero(body & ~prev_body)
    last_char = np.concatenate((~first[1:], [False]))  # True where the next character is in the same document
    next_body = np.concatenate((body[1:], [False])) & last_char
    run_ends = np.flatnonzero(body & ~next_body) + 1  # exclusive
    after = np.minimum(run_ends, len(cp) - 1)
    has_term = (run_ends < len(cp)) & is_term[after] & (view.room[after] < view.room[run_ends - 1])
    lengths = run_ends - run_starts + has_term
    docs = view.doc[run_starts]
    # the last non-whitespace character of each run (a sentence with its terminator never ends in ・/…)
    not_space = ~_IS_SPACE[np.minimum(cp, 0x10000)]
    last_seen = np.maximum.accumulate(np.where(not_space, np.arange(len(cp)), -1)) if len(cp) else cp
    last_solid = last_seen[run_ends - 1] if len(run_ends) else run_ends
    ellipsis = ~has_term & (last_solid >= run_starts) & np.isin(cp[np.maximum(last_solid, 0)], _ELLIPSIS)
    max_chars = np.zeros(num_docs, dtype=np.int64)
    np.maximum.at(max_chars, docs, lengths)
    stats = SentenceStats(
        np.bincount(docs, minlength=num_docs).astype(np.int64),
        np.bincount(docs, weights=lengths, minlength=num_docs).astype(np.int64),
        max_chars,
        np.bincount(docs, weights=ellipsis, minlength=num_docs).astype(np.int64),
    )
    _last_sentences[:] = [(texts, stats)]
    return stats


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
