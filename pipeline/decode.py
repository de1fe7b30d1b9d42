"""Charset decoding of HTML payloads: bytes -> str, reporting which charset was used and why.

Order of evidence (after the HTML standard's "encoding sniffing", adapted to crawled Japanese pages):
1. a byte-order mark;
2. ISO-2022-JP escape sequences in 7-bit data (such pages are often labelled us-ascii or utf-8, and decode
   "successfully" as either while leaving ``$B...(B`` garbage);
3. the HTTP ``Content-Type`` charset;
4. ``<meta charset>``, ``<meta http-equiv="Content-Type" content="...; charset=...">``, the non-standard
   ``<meta http-equiv="charset" content="EUC-JP">`` seen in ClueWeb09, or an ``<?xml encoding=...?>`` declaration;
5. detection (resiliparse's uchardet-based detector, exact on 61 of the 62 chardet Japanese test files); when it
   answers a single-byte Western charset (its guess for short pages), a strict Japanese multi-byte reading that
   yields mostly kana/kanji is preferred: the pipeline looks for Japanese, and Western text almost never decodes
   strictly into kana.

A declared charset is used only if the bytes decode with it strictly: headers lie. A declared single-byte Western
charset (latin-1, cp1252, ascii: the defaults of misconfigured servers) is cross-checked with detection, and a
multi-byte charset that decodes strictly wins. If no candidate decodes strictly, the candidate with the fewest
undecodable bytes is used with U+FFFD replacements, as long as they stay under ``MAX_REPLACED_RATIO``; otherwise
the page is undecodable.

Aliases map to the codec browsers really use (WHATWG Encoding Standard): Shift_JIS and its aliases decode as cp932
(its superset with NEC/IBM extensions, which Japanese pages labelled Shift_JIS routinely contain); EUC-JP as
euc_jp, then euc_jis_2004 (JIS X 0213) when euc_jp fails; ISO-2022-JP as iso2022_jp, then its extensions;
gb2312/GBK as gb18030; latin-1/ascii as cp1252 (then latin-1 for its five undefined bytes); big5 as
big5hkscs; euc-kr as cp949.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from resiliparse.parse.encoding import detect_encoding

# Share of undecodable characters a lossy decode may have; above it the page is not text in any candidate charset.
MAX_REPLACED_RATIO = 0.01
META_SCAN_BYTES = 8192  # the HTML standard prescans 1024 bytes; Japanese pages often put the meta tag later
DETECT_MAX_BYTES = 131_072  # bytes given to the detector

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_JIS_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(I", b"\x1b$(D", b"\x1b$(Q", b"\x1b$(O")
_MIN_JA_CHARS = 3  # non-ASCII characters a Japanese reading must have
_MIN_JA_SHARE = 0.9  # share of them in Japanese scripts (kana, kanji, CJK punctuation, full-width forms)
_WESTERN_SINGLE_BYTE = frozenset({"cp1252", "iso8859_1", "ascii", "iso8859_15"})

# Python codec name (as codecs.lookup names it) -> codecs to try, in order.
_FAMILY: dict[str, tuple[str, ...]] = {
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("cp932", "shift_jis_2004"),
    "shift_jis_2004": ("shift_jis_2004", "cp932"),
    "shift_jisx0213": ("shift_jisx0213", "cp932"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "euc_jis_2004": ("euc_jis_2004", "euc_jp"),
    "euc_jisx0213": ("euc_jisx0213", "euc_jp"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_2004"),
    "iso2022_jp_1": ("iso2022_jp_1", "iso2022_jp_2"),
    "iso2022_jp_2": ("iso2022_jp_2", "iso2022_jp_2004"),
    "iso2022_jp_3": ("iso2022_jp_3", "iso2022_jp_2004"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "cp950": ("cp950", "big5hkscs"),
    "euc_kr": ("cp949",),
    "iso8859_1": ("cp1252", "iso8859_1"),
    "ascii": ("cp1252", "iso8859_1"),
    "utf_8": ("utf-8",),
    "utf_16": ("utf-16",),
    "utf_16_le": ("utf-16-le",),
    "utf_16_be": ("utf-16-be",),
}
# Labels Python's codec registry does not know but pages use.
_EXTRA_ALIASES = {
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "x-euc": "euc_jp",
    "eucjp-ms": "euc_jp",
    "eucjp-win": "euc_jp",
    "cp51932": "euc_jp",
    "x-mac-japanese": "shift_jis",
    "unicode-1-1-utf-8": "utf-8",
    "x-gbk": "gbk",
    "x-user-defined": "cp1252",
}

_META_RE = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)"""  # <meta charset=x>, content="...; charset=x"
    rb"""|<meta\b[^>]*?http-equiv\s*=\s*["']?charset["']?[^>]*?content\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)"""
    rb"""|<meta\b[^>]*?content\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)["']?[^>]*?http-equiv\s*=\s*["']?charset\b"""
    rb"""|<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9_:.()+-]+)""",
    re.IGNORECASE,
)


class UndecodableError(ValueError):
    """No candidate charset turns the bytes into text."""


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    charset: str  # the Python codec that produced ``text`` (e.g. ``cp932``, ``euc_jp``, ``utf-8``)
    source: str  # bom | jis_escape | http | meta | detected | fallback
    num_replaced: int  # characters replaced by U+FFFD (0 for a strict decode)


def normalize_charset(label: str | None) -> str | None:
    """The Python codec for a charset label (``Shift_JIS`` -> ``shift_jis``), None if unknown or empty."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _EXTRA_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name.replace("-", "_")
    except LookupError:
        return None


def codecs_for(label: str | None) -> tuple[str, ...]:
    """Codecs to try for a charset label, most specific first (see module docstring); empty if unknown."""
    name = normalize_charset(label)
    if name is None:
        return ()
    return _FAMILY.get(name, (name,))


def meta_charset(payload: bytes) -> str | None:
    """The charset declared in the document head (``<meta>`` or an XML declaration), as written."""
    match = _META_RE.search(payload, 0, META_SCAN_BYTES)
    if match is None:
        return None
    label = next(g for g in match.groups() if g)
    return label.decode("ascii", "replace")


def detect_charset(payload: bytes) -> str | None:
    """The detector's guess (a WHATWG label, e.g. ``shift_jis`` or ``euc-jp``), None when it has none."""
    return detect_encoding(payload, max_len=DETECT_MAX_BYTES, html5_compatible=True)


def japanese_reading(payload: bytes) -> str | None:
    """The Japanese multi-byte codec under which ``payload`` decodes strictly into mostly kana/kanji, if any.

    For pages too short for statistical detection (``<body>\xa5\xed\xa5\xb0...</body>``): at least
    ``_MIN_JA_CHARS`` non-ASCII characters, ``_MIN_JA_SHARE`` of them Japanese script with at least one kana.
    """
    best: tuple[float, str] | None = None
    for codec in ("utf-8", "euc_jp", "cp932"):
        text = _strict(payload, codec)
        if text is None:
            continue
        non_ascii = [c for c in text if ord(c) > 127]
        num_ja = sum(1 for c in non_ascii if _is_japanese_char(c))
        has_kana = any("\u3041" <= c <= "\u30ff" for c in non_ascii)
        if len(non_ascii) < _MIN_JA_CHARS or not has_kana:
            continue
        share = num_ja / len(non_ascii)
        if share >= _MIN_JA_SHARE and (best is None or share > best[0]):
            best = (share, codec)
    return best[1] if best else None


def _is_japanese_char(c: str) -> bool:
    return "\u3000" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" or "\uff01" <= c <= "\uff5e"


def _has_jis_escapes(payload: bytes) -> bool:
    return b"\x1b" in payload and payload.isascii() and any(esc in payload for esc in _JIS_ESCAPES)


def _strict(payload: bytes, codec: str) -> str | None:
    try:
        return payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(payload: bytes, http_charset: str | None = None) -> Decoded:
    """Decode an HTML payload; raises :class:`UndecodableError` when no charset fits (see module docstring)."""
    candidates: list[tuple[str, tuple[str, ...]]] = []
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            candidates.append(("bom", (codec,)))
            break
    if _has_jis_escapes(payload):
        candidates.append(("jis_escape", _FAMILY["iso2022_jp"]))
    declared = [("http", codecs_for(http_charset)), ("meta", codecs_for(meta_charset(payload)))]
    detected: tuple[str, ...] | None = None  # detection runs only when needed: it costs more than decoding
    for source, codec_list in declared:
        if not codec_list:
            continue
        if codec_list[0] in _WESTERN_SINGLE_BYTE and not payload.isascii():
            # Servers default to latin-1 for everything; trust it only if detection agrees it is single-byte.
            detected = codecs_for(detect_charset(payload))
            if detected and detected[0] not in _WESTERN_SINGLE_BYTE:
                candidates.append(("detected", detected))
        candidates.append((source, codec_list))

    seen: set[str] = set()
    decoded = _first_strict(payload, candidates, seen)
    if decoded is not None:
        return decoded

    if detected is None:
        detected = codecs_for(detect_charset(payload))
    late: list[tuple[str, tuple[str, ...]]] = []
    if (not detected or detected[0] in _WESTERN_SINGLE_BYTE) and not payload.isascii():
        japanese = japanese_reading(payload)
        if japanese is not None:
            late.append(("detected", (japanese,)))
    if detected:
        late.append(("detected", detected))
    late.append(("fallback", ("utf-8",)))
    candidates.extend(late)
    decoded = _first_strict(payload, late, seen)
    if decoded is not None:
        return decoded

    # Nothing decodes strictly (a stray byte, a page cut mid-character): take the least damaged reading.
    best: Decoded | None = None
    for source, codec_list in candidates:
        codec = codec_list[0]
        text = payload.decode(codec, errors="replace")
        num_replaced = text.count("\ufffd") - _strict_count_fffd(payload, codec)
        if best is None or num_replaced < best.num_replaced:
            best = Decoded(text, codec, source, num_replaced)
    assert best is not None  # the utf-8 fallback is always a candidate
    if best.num_replaced > MAX_REPLACED_RATIO * max(len(best.text), 1):
        raise UndecodableError(
            f"no charset fits: least damaged is {best.charset} ({best.source}) with "
            f"{best.num_replaced} of {len(best.text)} characters undecodable"
        )
    return best


def _strict_count_fffd(payload: bytes, codec: str) -> int:
    """U+FFFD characters the page itself contains (encoded), so they are not counted as decoding damage."""
    try:
        encoded = "\ufffd".encode(codec)
    except (UnicodeEncodeError, LookupError):
        return 0
    return payload.count(encoded) if encoded else 0


def _first_strict(payload: bytes, candidates: list[tuple[str, tuple[str, ...]]], seen: set[str]) -> Decoded | None:
    """The first candidate codec (not tried before: ``seen`` is updated) that decodes ``payload`` strictly."""
    for source, codec_list in candidates:
        for codec in codec_list:
            if codec in seen:
                continue
            seen.add(codec)
            text = _strict(payload, codec)
            if text is not None:
                return Decoded(text, codec, source, 0)
    return None
