"""Input discovery and format detection by content, not only by name.

``expand_inputs`` turns patterns (globs, directories, files; local or any scheme Beam's FileSystems reads, such as
gs:// or s3://) into a sorted list of files; ``detect_format`` reads the first bytes (through gzip/bz2/zstd when the
magic bytes say so) and names the reader to use.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import os
import zlib
from typing import Literal

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from jpcorpus.errors import UsageError

log = logging.getLogger(__name__)

Format = Literal["warc", "mediawiki_xml", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("warc", "mediawiki_xml", "jsonl", "parquet")

_SNIFF_BYTES = 64 * 1024
_SKIP_NAMES = ("SOURCE", "README", "LICENSE", "manifest.json")  # notes that sit beside data in a directory


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matched by ``patterns``; a pattern that matches nothing is a ``UsageError`` naming it.

    A directory is taken recursively. Hidden files and notes (SOURCE*, README*, LICENSE*) inside a directory are
    skipped; they are never skipped when named explicitly.
    """
    files: list[str] = []
    for pattern in patterns:
        matched = _match(pattern)
        if not matched:
            raise UsageError(f"input pattern matched no files: {pattern!r}")
        files.extend(matched)
    return sorted(dict.fromkeys(files))


def _match(pattern: str) -> list[str]:
    if os.path.isdir(pattern):
        found = [os.path.join(root, name) for root, _dirs, names in os.walk(pattern) for name in names]
        return sorted(p for p in found if not _is_note(p))
    if "://" in pattern and not any(ch in pattern for ch in "*?["):
        pattern = pattern.rstrip("/")
        result = FileSystems.match([pattern])[0].metadata_list
        if not result:  # a remote "directory" is a prefix
            result = FileSystems.match([pattern + "/**"])[0].metadata_list
        return sorted(m.path for m in result if not _is_note(m.path))
    try:
        result = FileSystems.match([pattern])[0]
    except Exception as exc:  # noqa: BLE001 - Beam raises BeamIOError for unreadable schemes/paths
        raise UsageError(f"cannot list input pattern {pattern!r}: {exc}") from exc
    return sorted(m.path for m in result.metadata_list)


def _is_note(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") or name.startswith(_SKIP_NAMES)


def read_head(path: str, num_bytes: int = _SNIFF_BYTES) -> bytes:
    """The first ``num_bytes`` of the decompressed content of ``path`` (gzip/bz2/zstd detected by magic)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        raw = f.read(num_bytes)
        if raw[:3] == b"BZh":
            f.seek(0)
            decompressor = bz2.BZ2Decompressor()
            out = b""
            while len(out) < num_bytes and not decompressor.eof:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                out += decompressor.decompress(chunk)
            return out[:num_bytes]
    return decompress_head(raw, num_bytes)


def decompress_head(raw: bytes, num_bytes: int = _SNIFF_BYTES) -> bytes:
    """Best-effort decompression of the start of a compressed stream (a truncated stream still yields its head)."""
    if raw[:2] == b"\x1f\x8b":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, num_bytes)
    if raw[:3] == b"BZh":
        return b""  # bz2 emits nothing before a whole 900 kB block: read_head streams it instead
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)[:num_bytes]
    return raw


def sniff(head: bytes) -> Format | None:
    """The format of decompressed content ``head``, or None if it is not one we read."""
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"WARC/"):
        return "warc"
    if text.startswith(b"<"):
        # Skip an XML declaration and comments; a MediaWiki export's root element is <mediawiki ...>.
        window = text[:4096]
        if b"<mediawiki" in window:
            return "mediawiki_xml"
        return None
    if text.startswith(b"{"):
        return "jsonl"
    return None


def detect_format(path: str) -> Format:
    """The reader for ``path``, decided from its content; unknown content is a ``UsageError``."""
    try:
        head = read_head(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(f"cannot read input {path!r}: {exc}") from exc
    fmt = sniff(head)
    if fmt is None:
        preview = head[:40]
        raise UsageError(
            f"unknown input format: {path!r} starts with {preview!r}; expected WARC/WET, MediaWiki XML, "
            "JSONL or Parquet (optionally gzip/bz2/zstd-compressed)"
        )
    return fmt


def open_decompressed(path: str) -> io.BufferedIOBase:
    """Open ``path`` through Beam's FileSystems and decompress gzip/bz2/zstd by magic bytes, streaming."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[return-value]
    return raw
