"""Reader for WARC and WET files (``.warc``, ``.warc.gz``, ``.warc.wet.gz``), stage ``read_warc``.

Records are streamed with fastwarc (resiliparse) in quirks mode, so WARC/1.0, 1.1 and the WARC/0.18 files of
ClueWeb09 (invalid ``WARC-Date`` such as ``2008-10-294T05:21:46-0700``, ``WARC-Warcinfo-ID`` without brackets, an
HTTP ``Content-Encoding: gzip`` header over a body that is stored decoded) all read. Gzip is decompressed here,
member by member, rather than inside fastwarc: fastwarc stops silently at a cut-off gzip member, and we must count
that damage. Each record is counted once in stage ``read_warc``:

- ``out``: an HTTP 200 ``response`` with an HTML content type (``WarcConfig.html_content_types``), emitted on the
  main output as a raw record ``{"id", "source", "url", "source_ref", "crawl_date", "payload", "http_charset",
  "content_type"}``; or a WET ``conversion`` record, emitted on the ``"text"`` output as a finished document
  (``pipeline.schema.new_doc``; its text is already extracted, so it skips decoding and extraction).
- ``dropped.<record type>`` for ``warcinfo``, ``request``, ``metadata``, ``revisit``, ``resource``,
  ``continuation`` and unknown types; ``dropped.non_http`` (a response without an HTTP status line),
  ``dropped.non_200``, ``dropped.non_html``, ``dropped.oversize`` (payload over ``max_payload_bytes``),
  ``dropped.empty_payload``, ``dropped.binary`` (NUL bytes or a known binary signature in the payload head).
- ``failed.truncated``: the file ends inside a record or a gzip member. Every complete record before the cut is
  still emitted; the damaged record (or the damaged tail, when the cut fell between records) counts once.
  ``failed.corrupt`` (damaged gzip data: the rest of the file cannot be read), ``failed.unreadable`` (cannot be
  opened), ``failed.not_warc`` (bytes that hold no WARC record at all), ``failed.decode`` (a WET record that is
  not UTF-8), ``failed.bad_content_encoding`` (a gzip/deflate body that does not inflate).

Ids and references (stable across runs and machines):
- ``id`` = ``cc/`` + the first 20 hex digits of sha1 of the ``WARC-Record-ID``. For a WET ``conversion`` record
  the ``WARC-Refers-To`` id (the response record it was converted from) is hashed instead, so a page read from
  the WARC and from the WET file gets the same id. A record without a record id falls back to the sha1 of its
  ``source_ref``.
- ``source_ref`` = ``<file basename>@<offset>``: the byte offset of the record's gzip member in the file when
  every record is its own member (the Common Crawl layout; the offset the CC index gives, usable for a range
  request), otherwise the record's offset in the decompressed stream.
- ``crawl_date`` = ``WARC-Date`` when it is valid ISO 8601; otherwise the HTTP ``Date`` header as ISO 8601
  (ClueWeb09), otherwise None. Invalid WARC dates are counted in ``stats.invalid_warc_date``.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from pipeline.config import WarcConfig
from pipeline.schema import new_doc
from pipeline.stage import REJECTS, count, reject_row

log = logging.getLogger(__name__)
STAGE = "read_warc"
SOURCE = "cc"
TEXT = "text"  # tag of the WET documents output

_CHUNK_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
# Heads of binary formats servers label text/html (images, archives, PDF, fonts, media).
_BINARY_MAGICS = (
    b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\x28\xb5\x2f\xfd",
    b"Rar!", b"7z\xbc\xaf", b"wOFF", b"wOF2", b"OggS", b"ID3", b"\x00\x00\x01\x00", b"RIFF", b"\x7fELF",
)  # fmt: skip
_BINARY_SNIFF_BYTES = 1024
_HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<body")
_TYPE_NAMES = {
    int(t): str(t)
    for t in (
        WarcRecordType.warcinfo, WarcRecordType.request, WarcRecordType.metadata, WarcRecordType.revisit,
        WarcRecordType.resource, WarcRecordType.continuation,
    )
}  # fmt: skip
_RECORD_END = (b"\r\n\r\n", b"\n\n")  # a WARC record closes with two CRLFs (ClueWeb: two LFs inside the block)


@dataclass(slots=True)
class _Member:
    decompressed_start: int
    compressed_start: int


class RecordStream:
    """File-like view of a WARC file's decompressed bytes, as fastwarc reads it.

    Gzip input is inflated member by member so that (a) each member's compressed offset is known (for
    ``source_ref``) and (b) a file cut inside a member is noticed (``truncated``) instead of ending quietly.
    Uncompressed input passes through. ``tail`` keeps the last bytes served, to tell a clean end of file (two
    CRLFs) from one cut between records.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        head = raw.read(2)
        self.gzip = head == _GZIP_MAGIC
        self._pending = head  # raw bytes read but not yet consumed
        self._inflater: Any = None  # zlib decompressobj of the current member, None between members
        self._num_raw_consumed = 0  # compressed bytes handed to finished or current members
        self._raw_eof = False
        self.members: deque[_Member] = deque()
        self.num_bytes_out = 0
        self.truncated = False  # gzip: the file ended inside a member
        self.corrupt = ""  # gzip: why the compressed data could not be read on (empty: it could)
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _CHUNK_BYTES
        out = self._read_gzip(size) if self.gzip else self._read_plain(size)
        self.num_bytes_out += len(out)
        if out:
            self.tail = (self.tail + out)[-8:]
        return out

    def _read_plain(self, size: int) -> bytes:
        if self._pending:
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        return self._raw.read(size)

    def _fill(self) -> bool:
        """Read more compressed bytes; False at end of file."""
        if self._raw_eof:
            return False
        chunk = self._raw.read(_CHUNK_BYTES)
        if not chunk:
            self._raw_eof = True
            return False
        self._pending += chunk
        return True

    def _read_gzip(self, size: int) -> bytes:
        parts: list[bytes] = []
        num_out = 0
        while num_out < size:
            if self.corrupt:
                break
            if not self._pending and not self._fill():
                if self._inflater is not None:
                    self.truncated = True
                    self._inflater = None
                break
            if self._inflater is None:
                if self._pending[:1] == b"\x00" and not self._pending.strip(b"\x00"):
                    # Zero padding after the last member (some writers pad to a block size): not data.
                    self._num_raw_consumed += len(self._pending)
                    self._pending = b""
                    continue
                self._inflater = zlib.decompressobj(wbits=31)
                self.members.append(_Member(self.num_bytes_out + num_out, self._num_raw_consumed))
            before = len(self._pending)
            try:
                data = self._inflater.decompress(self._pending, size - num_out)
            except zlib.error as exc:
                # End the stream here instead of raising: fastwarc has records buffered that were read before
                # the damage, and raising through it would lose them.
                self.corrupt = f"damaged gzip data at compressed byte {self._num_raw_consumed}: {exc}"
                self._inflater = None
                self._pending = b""
                self._raw_eof = True
                break
            if self._inflater.eof:
                rest = self._inflater.unused_data
                self._inflater = None
            else:
                rest = self._inflater.unconsumed_tail
            self._num_raw_consumed += before - len(rest)
            self._pending = rest
            if data:
                parts.append(data)
                num_out += len(data)
        return b"".join(parts)

    def source_offset(self, stream_pos: int) -> int:
        """The offset ``source_ref`` gives for a record that starts at ``stream_pos`` of the decompressed stream."""
        while self.members and self.members[0].decompressed_start < stream_pos:
            self.members.popleft()
        if self.members and self.members[0].decompressed_start == stream_pos:
            return self.members[0].compressed_start
        return stream_pos

    def damage_offset(self) -> int:
        """Where a cut or corrupt file went wrong: the start of the damaged gzip member, else the stream end."""
        if self.gzip and self.members:
            return self.members[-1].compressed_start
        return self.num_bytes_out

    def ended_cleanly(self) -> bool:
        return not self.truncated and not self.corrupt and (self.num_bytes_out == 0 or self.tail.endswith(_RECORD_END))

    # fastwarc probes these on Python streams.
    def tell(self) -> int:
        return self.num_bytes_out

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("RecordStream is not seekable")

    def close(self) -> None:
        self._raw.close()


@dataclass(slots=True)
class Outcome:
    """What became of one record: ``kind`` is ``html``, ``text``, ``dropped`` or ``failed``."""

    kind: str
    reason: str = ""  # drop reason or failure kind
    record: dict[str, Any] = field(default_factory=dict)  # the emitted record, or the identifying fields
    detail: str = ""
    invalid_date: bool = False


def record_id_hash(key: str) -> str:
    return f"{SOURCE}/{hashlib.sha1(key.encode('utf-8', 'surrogatepass')).hexdigest()[:20]}"


def iso_date(value: str | None) -> str | None:
    """``value`` if it parses as ISO 8601, else None (ClueWeb09 writes day-of-year dates like ``2008-10-294``)."""
    if not value:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def is_binary(payload: bytes) -> bool:
    head = payload[:_BINARY_SNIFF_BYTES]
    return b"\x00" in head or head.lstrip().startswith(_BINARY_MAGICS)


def looks_like_html(payload: bytes) -> bool:
    head = payload[:_BINARY_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and any(tag in head for tag in _HTML_SNIFF)


def inflate_body(payload: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo an HTTP Content-Encoding when the body really is compressed.

    Common Crawl stores bodies decoded (and renames the header to ``X-Crawler-Content-Encoding``); ClueWeb09
    stores them decoded but keeps ``Content-Encoding: gzip``. So the header is only trusted when the bytes agree:
    a gzip body must start with the gzip magic; a deflate body must inflate. Raises ``zlib.error`` on bad data.
    """
    if encoding in ("gzip", "x-gzip") and payload.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=31)
    elif encoding == "deflate" and not payload.lstrip().startswith(b"<"):
        inflater = zlib.decompressobj(wbits=47)  # zlib or gzip header, auto-detected
    else:
        return payload
    return inflater.decompress(payload, max_bytes + 1)


def _header(record: WarcRecord, name: str) -> str | None:
    value = record.headers.get(name)
    return value.strip() if value is not None else None


def _read_block(record: WarcRecord, max_bytes: int) -> tuple[bytes, int]:
    """Up to ``max_bytes + 1`` payload bytes and the number of bytes the record really had (to spot truncation)."""
    reader = record.reader
    payload = reader.read(max_bytes + 1)
    reader.consume()
    return payload, reader.tell()


def classify_record(record: WarcRecord, file_name: str, offset: int, cfg: WarcConfig) -> tuple[Outcome, bool]:
    """The outcome of one record and whether the record was complete (its block as long as Content-Length)."""
    rtype = record.record_type
    warc_id = _header(record, "WARC-Record-ID")
    source_ref = f"{file_name}@{offset}"
    url = _header(record, "WARC-Target-URI")
    if url is not None:
        url = url.strip("<>")  # WARC/1.0 drafts and some writers bracket the URI
    raw_date = _header(record, "WARC-Date")
    crawl_date = iso_date(raw_date)
    invalid_date = raw_date is not None and crawl_date is None
    has_length = record.headers.get("Content-Length") is not None
    ident = {"source": SOURCE, "url": url, "source_ref": source_ref}

    if rtype == WarcRecordType.conversion:
        refers_to = _header(record, "WARC-Refers-To")
        ident["id"] = record_id_hash(refers_to or warc_id or source_ref)
        block, num_bytes = _read_block(record, cfg.max_payload_bytes)
        complete = has_length and num_bytes >= record.content_length
        out = _wet_outcome(block, ident, crawl_date, cfg)
        out.invalid_date = invalid_date
        return out, complete

    ident["id"] = record_id_hash(warc_id or source_ref)
    if rtype != WarcRecordType.response:
        num_bytes = record.reader.consume()
        complete = has_length and num_bytes >= record.content_length
        name = _TYPE_NAMES.get(int(rtype), "unknown_type")
        return Outcome("dropped", name, ident, "", invalid_date), complete

    try:
        record.parse_http(quirks_mode=True, strict_mode=False)
    except (ValueError, OSError) as exc:
        complete = has_length and record.reader.consume() >= record.content_length
        return Outcome("dropped", "non_http", ident, str(exc), invalid_date), complete
    http = record.http_headers
    status = http.status_code if http is not None else None
    # parse_http leaves content_length = body bytes announced after the HTTP header.
    expected = record.content_length
    if status is None:
        num_bytes = record.reader.consume()
        return Outcome("dropped", "non_http", ident, "", invalid_date), has_length and num_bytes >= expected
    if crawl_date is None:
        try:
            http_date = record.http_date
        except (ValueError, OSError):
            http_date = None
        if http_date is not None:
            crawl_date = http_date.astimezone(UTC).isoformat() if http_date.tzinfo else http_date.isoformat()

    def dropped(reason: str, detail: str = "") -> tuple[Outcome, bool]:
        num_bytes = record.reader.consume()
        return Outcome("dropped", reason, ident, detail, invalid_date), has_length and num_bytes >= expected

    if status != 200:
        return dropped("non_200", f"HTTP {status}")
    content_type = (record.http_content_type or "").strip().lower()
    if not content_type:
        identified = (_header(record, "WARC-Identified-Payload-Type") or "").lower()
        content_type = identified.split(";")[0].strip()
    if content_type and content_type not in cfg.html_content_types:
        return dropped("non_html", content_type)
    if expected > cfg.max_payload_bytes:
        return dropped("oversize", f"{expected} bytes > max_payload_bytes={cfg.max_payload_bytes}")

    payload, num_bytes = _read_block(record, cfg.max_payload_bytes)
    complete = has_length and num_bytes >= expected
    encoding = (http.get("Content-Encoding") or "").strip().lower()
    if encoding:
        try:
            payload = inflate_body(payload, encoding, cfg.max_payload_bytes)
        except zlib.error as exc:
            return Outcome("failed", "bad_content_encoding", ident, f"{encoding}: {exc}", invalid_date), complete
    if len(payload) > cfg.max_payload_bytes:
        return Outcome("dropped", "oversize", ident, f"> {cfg.max_payload_bytes} bytes", invalid_date), complete
    if not payload.strip():
        return Outcome("dropped", "empty_payload", ident, "", invalid_date), complete
    if is_binary(payload):
        return Outcome("dropped", "binary", ident, repr(payload[:16]), invalid_date), complete
    if not content_type:
        if not looks_like_html(payload):
            return Outcome("dropped", "non_html", ident, "no content type, not HTML", invalid_date), complete
        content_type = "text/html"
    raw = {
        **ident,
        "crawl_date": crawl_date,
        "payload": payload,
        "http_charset": record.http_charset,
        "content_type": content_type,
    }
    return Outcome("html", "", raw, "", invalid_date), complete


def _wet_outcome(block: bytes, ident: dict[str, Any], crawl_date: str | None, cfg: WarcConfig) -> Outcome:
    if len(block) > cfg.max_payload_bytes:
        return Outcome("dropped", "oversize", ident, f"> {cfg.max_payload_bytes} bytes")
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:  # WET is UTF-8 by definition; anything else is damage
        return Outcome("failed", "decode", ident, str(exc))
    text = text.strip()
    if not text:
        return Outcome("dropped", "empty_payload", ident)
    doc = new_doc(
        id=ident["id"],
        text=text,
        source=SOURCE,
        url=ident["url"],
        source_ref=ident["source_ref"],
        crawl_date=crawl_date,
        charset=None,
    )
    return Outcome("text", "", doc)


def iter_warc(raw: IO[bytes], file_name: str, cfg: WarcConfig) -> Iterator[Outcome]:
    """Every record of one WARC/WET stream as an :class:`Outcome`, then one ``failed`` outcome for damage.

    ``raw`` is the file as stored (gzip or not). A record is held back until the next one parses, because
    only then is it known not to be the one the file was cut in.
    """
    stream = RecordStream(raw)
    held: tuple[Outcome, bool] | None = None  # outcome, complete
    num_records = 0
    for record in ArchiveIterator(stream, parse_http=False, quirks_mode=True, strict_mode=False):
        num_records += 1
        offset = stream.source_offset(record.stream_pos)
        outcome, complete = classify_record(record, file_name, offset, cfg)
        if held is not None:
            yield held[0]
        held = (outcome, complete)

    damage = "corrupt" if stream.corrupt else "truncated"
    if held is not None:
        outcome, complete = held
        if not complete:
            yield _damaged(outcome, damage, stream.corrupt or "file ends inside this record")
            return
        yield outcome
    if num_records == 0 and stream.num_bytes_out > 0 and not stream.corrupt:
        yield Outcome("failed", "not_warc", _tail_ident(file_name, 0), "no WARC record found")
    elif not stream.ended_cleanly():
        where = "inside a gzip member" if stream.truncated else "between records"
        detail = stream.corrupt or f"file ends {where} after {num_records} records"
        yield Outcome("failed", damage, _tail_ident(file_name, stream.damage_offset()), detail)


def _damaged(outcome: Outcome, kind: str, detail: str) -> Outcome:
    ident = {k: outcome.record.get(k) for k in ("id", "source", "url", "source_ref")}
    return Outcome("failed", kind, ident, detail, outcome.invalid_date)


def _tail_ident(file_name: str, offset: int) -> dict[str, Any]:
    ref = f"{file_name}@{offset}"
    return {"id": record_id_hash(ref), "source": SOURCE, "url": None, "source_ref": ref}


def read_warc_file(path: str, cfg: WarcConfig) -> Iterator[Outcome]:
    """Outcomes of every record of the file at ``path`` (any Beam filesystem); an unopenable file is one failure."""
    file_name = posixpath.basename(path.rstrip("/"))
    try:
        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except (OSError, ValueError) as exc:  # missing, permission, remote error
        yield Outcome("failed", "unreadable", _tail_ident(file_name, 0), f"{type(exc).__name__}: {exc}")
        return
    try:
        yield from iter_warc(raw, file_name, cfg)
    finally:
        raw.close()


class ReadWarc(beam.DoFn):
    """File path -> raw HTML records (main output), WET documents (``"text"``) and reject rows (``REJECTS``)."""

    def __init__(self, cfg: WarcConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._warned: set[str] = set()

    def process(self, path: str):
        num_by_outcome: Counter[str] = Counter()
        for outcome in read_warc_file(path, self._cfg):
            count(STAGE, "in")
            if outcome.invalid_date:
                count(STAGE, "stats.invalid_warc_date")
            if outcome.kind == "html":
                count(STAGE, "out")
                num_by_outcome["html"] += 1
                yield outcome.record
            elif outcome.kind == "text":
                count(STAGE, "out")
                num_by_outcome["text"] += 1
                yield beam.pvalue.TaggedOutput(TEXT, outcome.record)
            else:
                key = f"{outcome.kind}.{outcome.reason}"
                count(STAGE, key)
                num_by_outcome[key] += 1
                if outcome.kind == "failed" and outcome.reason not in self._warned:
                    self._warned.add(outcome.reason)
                    log.warning("%s: %s in %s: %s", STAGE, key, path, outcome.detail[:300])
                yield beam.pvalue.TaggedOutput(
                    REJECTS, reject_row(STAGE, outcome.kind, outcome.reason, outcome.detail, outcome.record)
                )
        log.info("%s: %s: %s", STAGE, path, dict(sorted(num_by_outcome.items())))
