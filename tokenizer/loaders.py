"""Tokenizers under comparison behind one small interface: SentencePiece .model, HF tokenizer.json, tiktoken.

Every tokenizer reports its tokens as byte spans of the UTF-8 input plus a flag for "byte-level" tokens
(SentencePiece/HF byte-fallback pieces, or tiktoken tokens that do not hold whole characters), so the
metrics in tokenizer.compare are computed the same way for all three. Nothing is ever downloaded.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jpcorpus.errors import UsageError
from tokenizer.model_proto import BYTE, NORMAL, UNKNOWN, USER_DEFINED, load_model_proto

logger = logging.getLogger(__name__)

# Split patterns of OpenAI's encodings, copied from tiktoken_ext/openai_public.py (tiktoken 0.14.0), because
# tiktoken's get-encoding-by-name call downloads the rank file. The rank file itself is read from disk here.
CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True, slots=True)
class Token:
    start: int  # byte offset in the UTF-8 input
    end: int
    piece: str  # the vocabulary entry, for display ("▁の", "<0xE3>", "b'\\xe3\\x81'")
    is_byte: bool  # byte-fallback piece, or a byte-level token that splits a character
    is_unk: bool


class LoadedTokenizer(Protocol):
    name: str
    kind: str
    path: Path

    @property
    def vocab_size(self) -> int: ...

    def encode_ids(self, text: str) -> list[int]: ...

    def tokens(self, text: str) -> list[Token]: ...

    def decode(self, ids: list[int]) -> str: ...

    def vocabulary(self) -> set[str]:
        """Ordinary pieces as text ("▁" shown as a space), for overlap between tokenizers."""
        ...


class SentencePieceTokenizer:
    kind = "sentencepiece"

    def __init__(self, name: str, path: Path) -> None:
        import sentencepiece as spm

        self.name, self.path = name, path
        self.proto = load_model_proto(path)  # clear error for a missing or corrupt file
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(path))
        except (RuntimeError, OSError) as exc:
            raise UsageError(f"{path}: SentencePiece cannot load this model: {exc}") from exc
        self._types = [p.type for p in self.proto.pieces]

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode_ids(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def tokens(self, text: str) -> list[Token]:
        # The proto result carries each piece's byte span in the original (un-normalised) input. Byte-fallback
        # pieces are one byte each, but SentencePiece gives the character's whole span to its last byte piece
        # and empty spans to the others, so they are laid out by position instead.
        out: list[Token] = []
        pos = 0
        for p in self.sp.encode(text, return_type="proto").pieces:
            if self._types[p.id] == BYTE:
                out.append(Token(pos, pos + 1, p.piece, True, False))
                pos += 1
            else:
                out.append(Token(p.begin, p.end, p.piece, False, self._types[p.id] == UNKNOWN))
                pos = p.end
        return out

    def vocabulary(self) -> set[str]:
        return {p.piece.replace("▁", " ") for p in self.proto.pieces if p.type in (NORMAL, USER_DEFINED)}


class HFTokenizer:
    kind = "hf"

    def __init__(self, name: str, path: Path) -> None:
        from tokenizers import Tokenizer

        self.name, self.path = name, path
        if not path.is_file():
            raise UsageError(f"tokenizer.json not found: {path}")
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception subclass for any parse failure
            raise UsageError(f"{path}: not a valid Hugging Face tokenizer.json ({exc})") from exc
        vocab = self.tok.get_vocab(with_added_tokens=True)
        self._id_to_piece = {i: p for p, i in vocab.items()}
        self._unk = {i for p, i in vocab.items() if p in ("<unk>", "[UNK]")}
        added = self.tok.get_added_tokens_decoder()
        self._special = {i for i, t in added.items() if t.special}

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    def encode_ids(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False)

    def tokens(self, text: str) -> list[Token]:
        enc = self.tok.encode(text, add_special_tokens=False)
        byte_at = _char_to_byte_offsets(text)  # offsets are in characters
        out: list[Token] = []
        pos = 0
        for tid, piece, (cs, ce) in zip(enc.ids, enc.tokens, enc.offsets, strict=True):
            if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
                # Byte pieces share the span of the character(s) they spell; lay them out one byte each.
                out.append(Token(pos, pos + 1, piece, True, False))
                pos += 1
            else:
                out.append(Token(byte_at[cs], byte_at[ce], piece, False, tid in self._unk))
                pos = byte_at[ce]
        return out

    def vocabulary(self) -> set[str]:
        return {
            p.replace("▁", " ")
            for p, i in self.tok.get_vocab(with_added_tokens=False).items()
            if not (p.startswith("<0x") and len(p) == 6) and i not in self._special and i not in self._unk
        }


class TiktokenTokenizer:
    kind = "tiktoken"

    def __init__(self, name: str, path: Path, pattern: str | None = None) -> None:
        import tiktoken

        self.name, self.path = name, path
        ranks = load_tiktoken_ranks(path)
        if pattern is None:
            pattern = O200K_PAT if "o200k" in path.name else CL100K_PAT
            if "o200k" not in path.name and "cl100k" not in path.name:
                logger.warning("%s: no cl100k/o200k in the file name; using cl100k's split pattern", path)
        self.enc = tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        self._ranks = ranks

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    def encode_ids(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self.enc.decode(ids, errors="strict")

    def tokens(self, text: str) -> list[Token]:
        ids = self.enc.encode_ordinary(text)
        data = text.encode("utf-8")
        out = []
        pos = 0
        for tid in ids:
            b = self.enc.decode_single_token_bytes(tid)
            start, end = pos, pos + len(b)
            pos = end
            # A token is byte-level when it starts or ends inside a character: UTF-8 continuation bytes are
            # 0b10xxxxxx, so a boundary is inside a character exactly when the byte after it is one.
            cut_start = start < len(data) and (data[start] & 0xC0) == 0x80
            cut_end = end < len(data) and (data[end] & 0xC0) == 0x80
            try:
                piece = b.decode("utf-8")
                whole = True
            except UnicodeDecodeError:
                piece, whole = repr(b)[2:-1], False
            out.append(Token(start, end, piece, cut_start or cut_end or not whole, False))
        assert pos == len(data), "tiktoken tokens do not cover the input"
        return out

    def vocabulary(self) -> set[str]:
        out = set()
        for b in self._ranks:
            try:
                out.add(b.decode("utf-8"))
            except UnicodeDecodeError:
                continue  # partial characters have no text form to compare
        return out


def load_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` rank file (base64 token, space, rank per line); a bad line names file and line."""
    if not path.is_file():
        raise UsageError(f"tiktoken rank file not found: {path}")
    ranks: dict[bytes, int] = {}
    with path.open("rb") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError(f"expected 'BASE64 RANK', got {len(parts)} fields")
                token = base64.b64decode(parts[0], validate=True)
                rank = int(parts[1])
            except (ValueError, binascii.Error) as exc:
                raise UsageError(f"{path}:{line_no}: bad tiktoken rank line {line[:60]!r} ({exc})") from exc
            ranks[token] = rank
    if not ranks:
        raise UsageError(f"{path}: empty tiktoken rank file")
    return ranks


def _char_to_byte_offsets(text: str) -> list[int]:
    offsets = [0] * (len(text) + 1)
    pos = 0
    for i, ch in enumerate(text):
        offsets[i] = pos
        pos += len(ch.encode("utf-8"))
    offsets[len(text)] = pos
    return offsets


def load_tokenizer(name: str, path: str | Path) -> LoadedTokenizer:
    """By content: SentencePiece protobuf, tokenizer.json (JSON), or a tiktoken rank file (base64 lines)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"tokenizer {name}: file not found: {path}")
    with path.open("rb") as f:
        head = f.read(256)
    stripped = head.lstrip()
    if path.suffix == ".json" or stripped.startswith(b"{"):
        return HFTokenizer(name, path)
    if path.suffix == ".tiktoken" or _looks_like_rank_line(head):
        return TiktokenTokenizer(name, path)
    return SentencePieceTokenizer(name, path)


def _looks_like_rank_line(head: bytes) -> bool:
    first = head.split(b"\n", 1)[0].split()
    return len(first) == 2 and first[1].isdigit()
