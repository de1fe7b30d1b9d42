"""Word-based filters as FineWeb-2 applies them to Japanese (huggingface/fineweb-2 @ 7ee60b3, configs/jpn_Jpan.yml).

Words come from one tokenizer interface, :func:`words`: SudachiPy (sudachidict-core) split mode A, the
tokenizer behind datatrove's Japanese word tokenizer (spaCy ``ja`` wraps SudachiPy). Whitespace tokens are
dropped. The dictionary is loaded once per process and thread on first use, never pickled.

These filters are the ``fineweb2_jpn`` preset's; the default preset uses character statistics instead (10x
faster, no dictionary).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from filters.base import Filter, Threshold, ratio

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CHUNK_CHARS = 4000  # SudachiPy refuses very long inputs; datatrove likewise chunks Japanese text before splitting
_local = threading.local()


def _tokenizer():
    tok = getattr(_local, "tokenizer", None)
    if tok is None:
        from sudachipy import Dictionary, SplitMode

        tok = Dictionary(dict="core").tokenizer(mode=SplitMode.A)
        _local.tokenizer = tok
    return tok


def _chunks(text: str) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = min(start + _CHUNK_CHARS, len(text))
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        out.append(text[start:end])
        start = end
    return out


@functools.lru_cache(maxsize=8)
def words(text: str) -> tuple[str, ...]:
    """SudachiPy mode-A surface forms, whitespace dropped."""
    tok = _tokenizer()
    out: list[str] = []
    # SudachiPy takes UTF-8: lone surrogates (bad decoding upstream) become U+FFFD, one for one
    text = _SURROGATE.sub("\ufffd", text)
    for chunk in _chunks(text):
        out.extend(m.surface() for m in tok.tokenize(chunk))
    return tuple(w for w in out if w.strip())


def word_ids(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(per-document word ids in first-seen order, word lengths in characters) for n-gram statistics."""
    vocab: dict[str, int] = {}
    ws = words(text)
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in ws), dtype=np.int64, count=len(ws))
    lengths = np.fromiter((len(w) for w in ws), dtype=np.int64, count=len(ws))
    return ids, lengths


# datatrove's PUNCTUATION_SET is Unicode punctuation; a "symbol word" has no character outside it.
def _is_symbol_word(word: str) -> bool:
    import unicodedata

    return all(unicodedata.category(c)[0] in "PSZ" for c in word)


_BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "・", "-", "*", "‣", "⁃", "◦")
_LINE_END = tuple("。！？.!?」』）)…\"'")  # NOTE(jpcorpus, 2026-11): Japanese terminal punctuation, our choice


@dataclass(frozen=True, slots=True, kw_only=True)
class GopherQualityWords(Filter):
    """Keeps documents that look like prose by word statistics (datatrove ``GopherQualityFilter``).

    Defaults: FineWeb-2 jpn_Jpan (mean word length 1..5 characters, >= 2 stop words from its list,
    ``max_non_alpha_words_ratio`` 0.759) plus datatrove's defaults (50..100,000 words, # and ellipsis <= 0.1 per
    word, bullet lines <= 0.9, ellipsis-ending lines <= 0.3). Despite its name, datatrove drops a document when the
    share of words WITH an alphabetic character is below ``max_non_alpha_words_ratio``; hence our field name
    ``min_alpha_word_frac``.
    """

    name: ClassVar[str] = "gopher_quality_words_v1"
    metrics: ClassVar = (
        "num_words",
        "mean_word_chars",
        "hash_per_word",
        "ellipsis_per_word",
        "bullet_line_frac",
        "ellipsis_line_frac",
        "alpha_word_frac",
        "num_stop_words",
    )
    thresholds: ClassVar = (
        Threshold("min_words", "min", "num_words"),
        Threshold("max_words", "max", "num_words"),
        Threshold("min_mean_word_chars", "min", "mean_word_chars"),
        Threshold("max_mean_word_chars", "max", "mean_word_chars"),
        Threshold("max_hash_per_word", "max", "hash_per_word"),
        Threshold("max_ellipsis_per_word", "max", "ellipsis_per_word"),
        Threshold("max_bullet_line_frac", "max", "bullet_line_frac"),
        Threshold("max_ellipsis_line_frac", "max", "ellipsis_line_frac"),
        Threshold("min_alpha_word_frac", "min", "alpha_word_frac"),
        Threshold("min_stop_words", "min", "num_stop_words"),
    )
    score_params: ClassVar = ("stop_words",)
    # FineWeb-2 configs/jpn_Jpan.yml stopwords
    stop_words: tuple[str, ...] = tuple("のにをはたてがとで年し・月れさ")
    min_words: float | None = 50
    max_words: float | None = 100_000
    min_mean_word_chars: float | None = 1
    max_mean_word_chars: float | None = 5
    max_hash_per_word: float | None = 0.1
    max_ellipsis_per_word: float | None = 0.1
    max_bullet_line_frac: float | None = 0.9
    max_ellipsis_line_frac: float | None = 0.3
    min_alpha_word_frac: float | None = 0.759
    min_stop_words: float | None = 2

    def score(self, value: str) -> dict[str, float]:
        ws = words(value)
        content = [w for w in ws if not _is_symbol_word(w)]
        lines = value.splitlines()
        stop = set(self.stop_words)
        return {
            "num_words": float(len(content)),
            "mean_word_chars": float(np.mean([len(w) for w in content])) if content else 0.0,
            "hash_per_word": ratio(value.count("#"), len(ws)),
            "ellipsis_per_word": ratio(value.count("...") + value.count("…"), len(ws)),
            "bullet_line_frac": ratio(sum(1 for li in lines if li.lstrip().startswith(_BULLETS)), len(lines)),
            "ellipsis_line_frac": ratio(sum(1 for li in lines if li.rstrip().endswith(("...", "…"))), len(lines)),
            "alpha_word_frac": ratio(sum(1 for w in ws if any(c.isalpha() for c in w)), len(ws)),
            "num_stop_words": float(sum(1 for w in ws if w in stop)),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FineWebQuality(Filter):
    """Keeps documents whose lines end like sentences and do not repeat (datatrove ``FineWebQualityFilter``).

    FineWeb-2 jpn_Jpan: drop if the share of lines ending in terminal punctuation is <= 0.167, if repeated lines
    hold >= 10% of the (newline-free) characters, or if there are more than 0.162 newlines per word; the short-line
    rule is disabled (``short_line_thr=999``). A document with no non-blank line scores 0 and is dropped.
    """

    name: ClassVar[str] = "fineweb_quality_v1"
    metrics: ClassVar = ("line_punct_frac", "dup_line_char_frac", "newline_per_word")
    thresholds: ClassVar = (
        Threshold("min_line_punct_frac", "min", "line_punct_frac", strict=True),
        Threshold("max_dup_line_char_frac", "max", "dup_line_char_frac", strict=True),
        Threshold("max_newline_per_word", "max", "newline_per_word"),
    )
    min_line_punct_frac: float | None = 0.167
    max_dup_line_char_frac: float | None = 0.1
    max_newline_per_word: float | None = 0.162

    def score(self, value: str) -> dict[str, float]:
        lines = [li for li in value.split("\n") if li.strip()]
        seen: set[str] = set()
        dup_chars = 0
        for li in lines:
            if li in seen:
                dup_chars += len(li)
            seen.add(li)
        return {
            "line_punct_frac": ratio(sum(1 for li in lines if li.rstrip().endswith(_LINE_END)), len(lines)),
            "dup_line_char_frac": ratio(dup_chars, len(value) - value.count("\n")),
            "newline_per_word": ratio(value.count("\n"), len(words(value))),
        }
