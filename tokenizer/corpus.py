"""Documents for tokenizer training and comparison: discovery, reading, cleaning and deterministic sampling.

Inputs are pipeline Parquet shards (read with pyarrow only; columns ``text`` and ``lang`` from
pipeline/schema.py), plain text files (Aozora Bunko files are recognised and their markup stripped) and JSONL
files with a ``text`` field. Every input is a ``TextInput``: a path plus an optional group (ja / en / code).

Bad input is a ``UsageError`` naming the file (a text file that is not UTF-8, an unreadable shard); empty
documents are counted, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jpcorpus.errors import UsageError
from tokenizer.config import GROUPS

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".text")
JSONL_SUFFIXES = (".jsonl", ".json")
PARQUET_SUFFIXES = (".parquet",)
# A plain text file is split into documents of about this many characters (at line ends), so round-trip
# checks, throughput and sampling work per document rather than per multi-megabyte file.
TEXT_DOC_CHARS = 4000


@dataclass(frozen=True, slots=True)
class TextInput:
    """One input path; ``group`` None means: take it from the data (``lang`` column/field) or the script mix."""

    path: Path
    group: str | None = None
    # Times each document is offered to the sampler (``ja*3=PATH`` on the command line): up-weights a source
    # that the byte mix under-represents, e.g. modern web/wiki text beside a large literary corpus.
    repeat: int = 1


def parse_input_spec(spec: str) -> TextInput:
    """``[GROUP[*REPEAT]=]PATH`` -> TextInput. The group must be one of GROUPS; REPEAT a positive integer."""
    group = None
    repeat = 1
    head, sep, tail = spec.partition("=")
    name, star, count = head.partition("*")
    if sep and star and name in GROUPS:
        if not (count.isdigit() and int(count) >= 1):
            raise UsageError(f"input {spec!r}: repeat {count!r} must be a positive integer (ja*2=PATH)")
        return TextInput(Path(tail), name, int(count))
    if sep and head in GROUPS:
        group, spec = head, tail
    elif sep and "/" not in head and not Path(spec).exists():
        raise UsageError(f"input {spec!r}: unknown group {head!r}; known: {list(GROUPS)}")
    return TextInput(Path(spec), group, repeat)


def expand_inputs(inputs: list[TextInput]) -> list[TextInput]:
    """Directories become their Parquet/text/JSONL files (sorted, recursive); missing paths are errors."""
    out: list[TextInput] = []
    for item in inputs:
        if item.path.is_dir():
            files = sorted(
                p
                for p in item.path.rglob("*")
                if p.is_file()
                and p.suffix in PARQUET_SUFFIXES + TEXT_SUFFIXES + JSONL_SUFFIXES
                and not p.name.startswith(".")
                and "rejects" not in p.parts  # pipeline rejects are not training text
            )
            if not files:
                raise UsageError(f"{item.path}: directory holds no .parquet, .txt or .jsonl files")
            out.extend(TextInput(p, item.group, item.repeat) for p in files)
        elif item.path.is_file():
            out.append(item)
        else:
            raise UsageError(f"input not found: {item.path}")
    return out


# --- Aozora Bunko markup (per ../shared/data/aozora_bunko_pd/SOURCE.txt) --------------------------------------
_AOZORA_RULE = re.compile(r"^-{20,}\s*$", re.M)
_AOZORA_FOOTER = re.compile(r"^底本[：:]", re.M)
_AOZORA_INLINE = re.compile(r"※?［＃[^］]*］|《[^》]*》|｜")


def looks_like_aozora(text: str) -> bool:
    """True for a file in Aozora Bunko's annotated text format (ruby, editor notes, colophon)."""
    head = text[:20000]
    return "【テキスト中に現れる記号について】" in head or (
        bool(_AOZORA_RULE.search(head)) and ("《" in head or "［＃" in head)
    )


def strip_aozora(text: str) -> str:
    """Remove the header legend, ruby 《…》, ｜ ruby starts, ［＃…］ notes (and their ※ marks) and the colophon.

    >>> strip_aozora("吾輩《わがはい》は｜猫である［＃「猫」に傍点］")
    '吾輩は猫である'
    """
    rules = list(_AOZORA_RULE.finditer(text))
    if len(rules) >= 2:
        # Title/author lines stay: they are real text. Only the legend between the two rules goes.
        text = text[: rules[0].start()] + text[rules[1].end() :]
    footer = _AOZORA_FOOTER.search(text)
    if footer:
        text = text[: footer.start()]
    return _AOZORA_INLINE.sub("", text)


# --- script classes ------------------------------------------------------------------------------------------
def is_japanese_char(ch: str) -> bool:
    cp = ord(ch)
    return 0x3040 <= cp <= 0x30FF or 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xFF66 <= cp <= 0xFF9F


def guess_group(text: str) -> str:
    """'ja' when at least 10% of the non-space characters are kana/kanji, else 'en' (code must be named)."""
    sample = [c for c in text[:20000] if not c.isspace()]
    if not sample:
        return "en"
    return "ja" if sum(map(is_japanese_char, sample)) >= 0.1 * len(sample) else "en"


@dataclass(slots=True)
class Document:
    text: str
    group: str
    source: str  # "path" or "path:row"


@dataclass(slots=True)
class ReadStats:
    """Per-input document counts: num_docs = num_used + num_empty (nothing else leaves the reader)."""

    num_docs: int = 0
    num_empty: int = 0
    num_bytes: int = 0
    num_bytes_by_group: dict[str, int] = field(default_factory=dict)


def _decode_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}: not UTF-8 (invalid byte 0x{data[exc.start]:02x} at byte {exc.start}, line {line}); "
            "convert it first, e.g. iconv -f CP932 -t UTF-8"
        ) from exc


def _chunk_lines(text: str, max_chars: int) -> Iterator[str]:
    """Consecutive lines joined (newlines kept) into chunks of about max_chars."""
    buf: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        buf.append(line)
        size += len(line)
        if size >= max_chars:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def read_documents(item: TextInput, *, stats: ReadStats | None = None) -> Iterator[Document]:
    """Stream the documents of one file. Empty / whitespace-only documents are counted in ``stats.num_empty``."""
    stats = stats if stats is not None else ReadStats()
    path = item.path
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        docs = _read_parquet(item)
    elif suffix in JSONL_SUFFIXES:
        docs = _read_jsonl(item)
    else:
        docs = _read_text(item)
    for doc in docs:
        stats.num_docs += 1
        if not doc.text.strip():
            stats.num_empty += 1
            continue
        num_bytes = len(doc.text.encode("utf-8"))
        stats.num_bytes += num_bytes
        stats.num_bytes_by_group[doc.group] = stats.num_bytes_by_group.get(doc.group, 0) + num_bytes
        yield doc


def _read_text(item: TextInput) -> Iterator[Document]:
    text = _decode_utf8(item.path)
    if looks_like_aozora(text):
        text = strip_aozora(text)
    group = item.group or guess_group(text)
    for i, chunk in enumerate(_chunk_lines(text, TEXT_DOC_CHARS)):
        yield Document(chunk, group, f"{item.path}:{i}")


def _read_jsonl(item: TextInput) -> Iterator[Document]:
    with item.path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise UsageError(f"{item.path}:{line_no}: not a UTF-8 JSON line ({exc})") from exc
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise UsageError(f"{item.path}:{line_no}: record has no string 'text' field")
            lang = record.get("lang")
            group = item.group or (lang if lang in GROUPS else guess_group(text))
            yield Document(text, group, f"{item.path}:{line_no}")


def _read_parquet(item: TextInput) -> Iterator[Document]:
    try:
        parquet = pq.ParquetFile(item.path)
        names = parquet.schema_arrow.names
        if "text" not in names:
            raise UsageError(f"{item.path}: Parquet file has no 'text' column (columns: {names})")
        columns = ["text"] + (["lang"] if "lang" in names else [])
        row = 0
        for batch in parquet.iter_batches(columns=columns, batch_size=1024):
            texts = batch.column("text").to_pylist()
            langs = batch.column("lang").to_pylist() if "lang" in columns else [None] * len(texts)
            for text, lang in zip(texts, langs, strict=True):
                text = text or ""
                group = item.group or (lang if lang in GROUPS else guess_group(text))
                yield Document(text, group, f"{item.path}:{row}")
                row += 1
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{item.path}: cannot read Parquet shard ({exc})") from exc


# --- sampling and sentence splitting --------------------------------------------------------------------------
def keep_fraction(seed: int, source: str, fraction: float) -> bool:
    """Deterministic Bernoulli(fraction) draw keyed by (seed, file name and row of the document).

    Only the file's base name enters the key, not its directory: the same corpus checked out or mounted elsewhere
    (a CI clone, a worker's scratch disk) must give the same sample and so the same vocabulary.
    """
    if fraction >= 1.0:
        return True
    location_free = source.replace("\\", "/").rsplit("/", 1)[-1]
    digest = hashlib.blake2b(f"{seed}\0{location_free}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") < fraction * 2**64


_SENTENCE_END = re.compile(r"(?<=[。．！？!?])|(?<=\. )")


def split_sentences(text: str, max_bytes: int) -> Iterator[str]:
    """Lines of ``text`` (blank ones skipped), each cut to at most ``max_bytes`` UTF-8 bytes.

    A long line is cut after the last sentence end (。．！？ or ". ") that fits, else at the last space, else at
    a character boundary; the pieces concatenate back to the line.
    """
    for line in text.split("\n"):
        if not line.strip():
            continue
        while len(line.encode("utf-8")) > max_bytes:
            head = line.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
            cut = max((m.end() for m in _SENTENCE_END.finditer(head) if 0 < m.end() < len(head)), default=0)
            if cut == 0:
                cut = head.rfind(" ") + 1 or len(head)
            yield line[:cut]
            line = line[cut:]
        if line.strip():
            yield line
