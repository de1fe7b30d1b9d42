"""Cut a document into passages of a few hundred characters for the dense vector index.

A passage is a ``(char_start, char_end)`` span of the document text, so a hit points back at the exact
characters (the snippet and the n-gram engine use the same offsets). The cut is deterministic and pure:
the same text and config always give the same spans, on any runner.

Japanese has no spaces between words, so passages end after a sentence end (``。！？!?`` or a newline) when
one falls in the second half of the window; else after a clause mark (``、，,`` or a space); else the window is
cut hard. Consecutive passages overlap a little so a sentence cut by a hard break is still whole in one of
them: after a sentence break the next passage restarts at the last sentence if it is short, after a hard cut
``overlap_chars`` back.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTENCE_ENDS = frozenset("。！？!?\n")
CLAUSE_ENDS = frozenset("、，,　 \t")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkConfig:
    """Passage size for the vector index."""

    max_chars: int = 300  # characters per passage at most (multilingual-e5 reads 512 tokens; ~300 ja chars ~ 160)
    min_chars: int = 150  # a break is looked for only after this many characters
    overlap_chars: int = 40  # characters repeated from the previous passage after a hard cut (and the most kept
    # after a sentence break)

    def __post_init__(self) -> None:
        if self.max_chars < 2:
            raise ValueError(f"chunking.max_chars must be >= 2, got {self.max_chars}")
        if not 1 <= self.min_chars <= self.max_chars:
            raise ValueError(f"chunking.min_chars must be in [1, max_chars={self.max_chars}], got {self.min_chars}")
        if not 0 <= self.overlap_chars < self.min_chars:
            raise ValueError(
                f"chunking.overlap_chars must be in [0, min_chars={self.min_chars}), got {self.overlap_chars}"
            )


def _last_break(text: str, lo: int, hi: int, marks: frozenset[str]) -> int:
    """Index just after the last character of ``marks`` in ``text[lo:hi]``, or -1."""
    for i in range(hi - 1, lo - 1, -1):
        if text[i] in marks:
            return i + 1
    return -1


DEFAULT_CHUNKING = ChunkConfig()


def chunk_spans(text: str, cfg: ChunkConfig = DEFAULT_CHUNKING) -> list[tuple[int, int]]:
    """``(char_start, char_end)`` of each passage of ``text``, in order; whitespace-only text gives none.

    Every passage starts and ends on a non-whitespace character, is at most ``max_chars`` long, and together
    they cover every non-whitespace character of the text.

    >>> chunk_spans("一文目。二文目。", ChunkConfig(max_chars=5, min_chars=2, overlap_chars=1))
    [(0, 4), (4, 8)]
    """
    n = len(text)
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            return spans
        limit = start + cfg.max_chars
        if limit >= n:
            end, kind = n, "end"
        else:
            lo = start + cfg.min_chars
            end = _last_break(text, lo, limit, SENTENCE_ENDS)
            kind = "sentence"
            if end < 0:
                end, kind = _last_break(text, lo, limit, CLAUSE_ENDS), "clause"
            if end < 0:
                end, kind = limit, "hard"
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        spans.append((start, stop))
        if kind == "end":
            return spans
        if kind == "hard":
            start = end - cfg.overlap_chars
        else:
            # Restart at the passage's last sentence when it is short: the idea that ends one passage opens the
            # next. The previous sentence end must lie after ``start`` so that the text always moves forward.
            prev = _last_break(text, max(start + 1, end - cfg.overlap_chars - 1), end - 1, SENTENCE_ENDS)
            start = prev if prev > start and end - prev <= cfg.overlap_chars else end
