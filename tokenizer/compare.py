"""``jpcorpus tokenizer compare``: the same measurements for every tokenizer on every text set.

Per tokenizer and text set: vocabulary size; characters, bytes and tokens (chars/token and bytes/token: higher
is better; tokens per 1,000 characters); byte-level token and <unk> rates; round-trip exactness; chars/token
per script class; word-boundary precision/recall/F1 against gold segmentation (UD .conllu text sets); encode
throughput (one core). Across tokenizers: vocabulary Jaccard overlap and the most frequent pieces one uses that
the other lacks.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np

from jpcorpus.errors import UsageError
from tokenizer.corpus import TextInput, expand_inputs, read_documents
from tokenizer.loaders import LoadedTokenizer, Token

logger = logging.getLogger(__name__)

SCRIPT_CLASSES: tuple[str, ...] = ("kanji", "hiragana", "katakana", "latin", "digit", "space", "symbol", "other")
_CLASS_INDEX = {c: i for i, c in enumerate(SCRIPT_CLASSES)}


def script_class(ch: str) -> str:
    """Script class of one character (full-width Latin and digits count as Latin and digits)."""
    cp = ord(ch)
    if 0x3040 <= cp <= 0x309F:
        return "hiragana"
    if 0x30A0 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9F:
        return "katakana"  # includes ー and half-width katakana
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF:
        return "kanji"
    if ch in "々〆〇ヶ":
        return "kanji"
    if ch.isspace():
        return "space"
    category = unicodedata.category(ch)
    if category == "Nd":
        return "digit"
    if category.startswith("L"):
        return "latin" if "LATIN" in unicodedata.name(ch, "") else "other"
    if category[0] in "PS":
        return "symbol"
    return "other"


@dataclass(slots=True)
class TextSet:
    """Documents to measure on; ``gold`` holds, per document, its gold word boundaries (or None)."""

    name: str
    docs: list[str]
    gold: list[set[int]] | None = None  # boundaries as offsets into the document with whitespace removed
    num_gold_skipped: int = 0
    # Per-byte script class of every document, computed once and shared by all tokenizers.
    byte_classes: list[np.ndarray] | None = None
    script_chars: np.ndarray | None = None

    def classes(self) -> tuple[list[np.ndarray], np.ndarray]:
        if self.byte_classes is None or self.script_chars is None:
            self.byte_classes = [_byte_classes(doc) for doc in self.docs]
            counts = Counter(script_class(ch) for doc in self.docs for ch in doc)
            self.script_chars = np.asarray([counts.get(c, 0) for c in SCRIPT_CLASSES], dtype=np.int64)
        return self.byte_classes, self.script_chars


def _nonspace_offsets(text: str) -> list[int]:
    """For every char offset 0..len, the number of non-space characters before it."""
    out = [0] * (len(text) + 1)
    n = 0
    for i, ch in enumerate(text):
        out[i] = n
        if not ch.isspace():
            n += 1
    out[len(text)] = n
    return out


def read_conllu(path: Path, *, max_chars: int) -> TextSet:
    """Sentences (``# text =``) and gold word boundaries from a CoNLL-U file (UD Japanese-GSD)."""
    docs: list[str] = []
    gold: list[set[int]] = []
    num_skipped = 0
    text, forms = None, []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 ({exc})") from exc
    num_chars = 0
    for line in lines + [""]:
        if line.startswith("# text = "):
            text = line[len("# text = ") :]
        elif line and line[0].isdigit():
            cols = line.split("\t")
            if len(cols) < 2:
                raise UsageError(f"{path}: malformed CoNLL-U token line {line[:60]!r}")
            if "-" in cols[0] or "." in cols[0]:
                continue  # multi-word ranges and empty nodes carry no surface of their own
            forms.append(cols[1])
        elif not line.strip() and text is not None:
            if "".join(forms) == "".join(text.split()):
                bounds, n = set(), 0
                for form in forms[:-1]:
                    n += len(form)
                    bounds.add(n)
                docs.append(text)
                gold.append(bounds)
                num_chars += len(text)
            else:
                num_skipped += 1
            text, forms = None, []
            if num_chars >= max_chars:
                break
    if not docs:
        raise UsageError(f"{path}: no '# text =' sentences with matching token forms")
    return TextSet(path.stem, docs, gold, num_skipped)


def load_text_set(spec: str, *, max_chars: int) -> TextSet:
    """``[NAME=]PATH``: a .conllu file, or text/JSONL/Parquet files or a directory of them (first max_chars)."""
    name, sep, path_s = spec.partition("=")
    if not sep:
        name, path_s = "", spec
    path = Path(path_s)
    if not path.exists():
        raise UsageError(f"text set not found: {path}")
    if path.suffix == ".conllu":
        ts = read_conllu(path, max_chars=max_chars)
        ts.name = name or ts.name
        return ts
    docs: list[str] = []
    num_chars = 0
    for item in expand_inputs([TextInput(path)]):
        for doc in read_documents(item):
            docs.append(doc.text[: max_chars - num_chars])
            num_chars += len(docs[-1])
            if num_chars >= max_chars:
                break
        if num_chars >= max_chars:
            break
    if not docs:
        raise UsageError(f"text set {path}: no non-empty text")
    return TextSet(name or path.stem, docs)


@dataclass(slots=True)
class Result:
    tokenizer: str
    kind: str
    text_set: str
    vocab_size: int
    num_docs: int = 0
    num_chars: int = 0
    num_bytes: int = 0
    num_tokens: int = 0
    num_byte_tokens: int = 0
    num_unk_tokens: int = 0
    num_roundtrip_ok: int = 0
    encode_s: float = 0.0
    script_chars: dict[str, int] = field(default_factory=dict)
    script_tokens: dict[str, float] = field(default_factory=dict)
    boundary: dict[str, float] | None = None

    def row(self) -> dict[str, Any]:
        """Flat dict of the headline figures (CSV/JSON/table)."""
        t = max(self.num_tokens, 1)
        row: dict[str, Any] = {
            "tokenizer": self.tokenizer,
            "kind": self.kind,
            "text_set": self.text_set,
            "vocab_size": self.vocab_size,
            "num_docs": self.num_docs,
            "num_chars": self.num_chars,
            "num_bytes": self.num_bytes,
            "num_tokens": self.num_tokens,
            "chars_per_token": self.num_chars / t,
            "bytes_per_token": self.num_bytes / t,
            "tokens_per_1k_chars": 1000 * self.num_tokens / max(self.num_chars, 1),
            "byte_token_rate": self.num_byte_tokens / t,
            "unk_rate": self.num_unk_tokens / t,
            "roundtrip_rate": self.num_roundtrip_ok / max(self.num_docs, 1),
            "encode_tokens_per_s": self.num_tokens / self.encode_s if self.encode_s else float("nan"),
        }
        for c in SCRIPT_CLASSES:
            tokens = self.script_tokens.get(c, 0.0)
            row[f"chars_per_token_{c}"] = self.script_chars.get(c, 0) / tokens if tokens else float("nan")
        for k in ("precision", "recall", "f1"):
            row[f"boundary_{k}"] = self.boundary[k] if self.boundary else float("nan")
        return row


def _byte_classes(text: str) -> np.ndarray:
    classes = [_CLASS_INDEX[script_class(ch)] for ch in text]
    widths = [len(ch.encode("utf-8")) for ch in text]
    return np.repeat(np.asarray(classes, dtype=np.int8), widths)


def measure(tok: LoadedTokenizer, text_set: TextSet, piece_counts: Counter[str] | None = None) -> Result:
    """All per-(tokenizer, text set) figures. ``piece_counts`` collects piece frequencies for overlap."""
    res = Result(tok.name, tok.kind, text_set.name, tok.vocab_size)
    # Throughput first, on its own: encode ids only, as a training data loader would.
    t0 = time.perf_counter()
    all_ids = [tok.encode_ids(doc) for doc in text_set.docs]
    res.encode_s = time.perf_counter() - t0
    tp = fp = fn = 0
    num_classes = len(SCRIPT_CLASSES)
    script_tokens = np.zeros(num_classes)
    byte_classes, script_chars = text_set.classes()
    for k, (doc, ids) in enumerate(zip(text_set.docs, all_ids, strict=True)):
        res.num_docs += 1
        res.num_chars += len(doc)
        res.num_bytes += len(doc.encode("utf-8"))
        res.num_tokens += len(ids)
        res.num_roundtrip_ok += _roundtrip(tok, ids) == doc
        tokens = tok.tokens(doc)
        assert len(tokens) == len(ids), f"{tok.name}: token spans disagree with encode()"
        res.num_byte_tokens += sum(t.is_byte for t in tokens)
        res.num_unk_tokens += sum(t.is_unk for t in tokens)
        if piece_counts is not None:
            piece_counts.update(t.piece.replace("▁", " ") for t in tokens if not t.is_byte and not t.is_unk)
        script_tokens += _script_token_weights(tokens, byte_classes[k], num_classes)
        if text_set.gold is not None:
            pred = _token_boundaries(doc, tokens)
            gold = text_set.gold[k]
            tp += len(pred & gold)
            fp += len(pred - gold)
            fn += len(gold - pred)
    res.script_chars = {c: int(script_chars[i]) for i, c in enumerate(SCRIPT_CLASSES) if script_chars[i]}
    res.script_tokens = {c: float(script_tokens[i]) for i, c in enumerate(SCRIPT_CLASSES) if script_tokens[i]}
    if text_set.gold is not None:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        res.boundary = {"precision": precision, "recall": recall, "f1": f1, "num_match": tp, "num_pred": tp + fp}
        res.boundary["num_gold"] = tp + fn
    return res


def _roundtrip(tok: LoadedTokenizer, ids: list[int]) -> str | None:
    try:
        return tok.decode(ids)
    except UnicodeDecodeError:
        return None  # a byte-level tokenizer produced bytes that are not UTF-8: not a round trip


def _script_token_weights(tokens: list[Token], classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Each token counts 1, split over script classes by the share of its bytes in each (empty spans: space)."""
    weights = np.zeros(num_classes)
    if not tokens:
        return weights
    starts = np.fromiter((t.start for t in tokens), dtype=np.int64, count=len(tokens))
    ends = np.fromiter((t.end for t in tokens), dtype=np.int64, count=len(tokens))
    lengths = ends - starts
    empty = lengths <= 0
    weights[_CLASS_INDEX["space"]] += empty.sum()
    safe = np.where(empty, 1, lengths)
    for c in np.unique(classes):
        cum = np.concatenate([[0], np.cumsum(classes == c)])
        share = (cum[ends] - cum[starts]) / safe
        weights[c] += share[~empty].sum()
    return weights


def _token_boundaries(doc: str, tokens: list[Token]) -> set[int]:
    """Token ends that fall between characters, as offsets into ``doc`` with whitespace removed (internal)."""
    char_at_byte: dict[int, int] = {}
    pos = 0
    for i, ch in enumerate(doc):
        char_at_byte[pos] = i
        pos += len(ch.encode("utf-8"))
    char_at_byte[pos] = len(doc)
    nonspace = _nonspace_offsets(doc)
    total = nonspace[-1]
    out = set()
    for t in tokens:
        ci = char_at_byte.get(t.end)
        if ci is not None and 0 < nonspace[ci] < total:
            out.add(nonspace[ci])
    return out


@dataclass(slots=True)
class Comparison:
    results: list[Result]
    overlap: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    text_sets: list[dict[str, Any]]


def compare(
    tokenizers: list[LoadedTokenizer], text_sets: list[TextSet], *, num_samples: int = 3, top_missing: int = 10
) -> Comparison:
    results = []
    piece_counts = {tok.name: Counter() for tok in tokenizers}
    for ts in text_sets:
        for tok in tokenizers:
            logger.info("measuring %s on %s (%d docs)", tok.name, ts.name, len(ts.docs))
            results.append(measure(tok, ts, piece_counts[tok.name]))
    vocabs = {tok.name: tok.vocabulary() for tok in tokenizers}
    overlap = []
    for a, b in permutations([t.name for t in tokenizers], 2):
        union = vocabs[a] | vocabs[b]
        missing = [(p, n) for p, n in piece_counts[a].most_common() if p not in vocabs[b]][:top_missing]
        overlap.append(
            {
                "a": a,
                "b": b,
                "jaccard": len(vocabs[a] & vocabs[b]) / len(union) if union else 0.0,
                "num_shared": len(vocabs[a] & vocabs[b]),
                "a_frequent_missing_in_b": [{"piece": p, "count": n} for p, n in missing],
            }
        )
    samples = []
    for ts in text_sets:
        picked = [d for d in ts.docs if 10 <= len(d.strip()) <= 160][:num_samples] or [ts.docs[0][:160]]
        for text in picked:
            text = text.strip("\n")
            samples.append(
                {
                    "text_set": ts.name,
                    "text": text,
                    "tokens": {
                        tok.name: [
                            {"start": t.start, "end": t.end, "piece": t.piece, "is_byte": t.is_byte}
                            for t in tok.tokens(text)
                        ]
                        for tok in tokenizers
                    },
                }
            )
    sets = [
        {
            "name": ts.name,
            "num_docs": len(ts.docs),
            "has_gold": ts.gold is not None,
            "num_gold_skipped": ts.num_gold_skipped,
        }
        for ts in text_sets
    ]
    return Comparison(results, overlap, samples, sets)
