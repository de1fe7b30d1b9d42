"""PII masking: e-mail addresses, Japanese phone numbers, IP addresses, credit-card numbers and My Number.

Each hit is replaced by a typed placeholder (``<EMAIL>``, ``<PHONE>``, ``<IP_ADDRESS>``, ``<CREDIT_CARD>``,
``<MY_NUMBER>``) and counted per kind. Postal addresses are left alone (issue 3).

Precision is the design goal: prices (1,980円), dates (2024-03-15, 2024/3/15), ISBNs (978-4-06-519981-7,
4-06-519981-7), postal codes (〒100-0001), page ranges (pp. 123-145), version numbers and article ids must
survive. So every kind is a shape AND a validity check:
- phone: starts with 0 (or +81), has separators in Japanese digit grouping, 10 digits (11 for 0[5789]0/0800
  numbers); an unseparated number is masked only if it is a mobile number (0[789]0 + 8 digits) or follows
  TEL/電話/FAX;
- IPv4: four octets 0..255, not preceded by a version marker ("v", "Ver.", "バージョン"); IPv6: validated by
  ``ipaddress``;
- credit card: 14–16 digits in card grouping (4-4-4-4, 4-6-5, 4-6-4) or unseparated 15–16, issuer prefix 2–6,
  Luhn check, never an ISBN/JAN (978/979/45/49 prefixes);
- My Number (個人番号): 12 digits whose last digit is the check digit defined by the 番号法 ordinance, either
  grouped 4-4-4 or near the word マイナンバー/個人番号.
Full-width digits and hyphens (０３－１２３４－５６７８) are matched by the patterns' character classes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit

from filters.textstats import memo_last_text

PII_KINDS = ("email", "ip", "credit_card", "my_number", "phone")
PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip": "<IP_ADDRESS>",
    "credit_card": "<CREDIT_CARD>",
    "my_number": "<MY_NUMBER>",
}

# Full-width digits and dash variants are matched directly by the character classes below (a one-to-one ASCII
# "shadow" of the whole text cost 260 us per 2,000 characters); only a matched span is normalised.
_SHADOW = str.maketrans(
    {
        **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)},  # full-width ASCII block
        0x2010: "-", 0x2011: "-", 0x2012: "-", 0x2013: "-", 0x2014: "-", 0x2212: "-", 0x30FC: "-", 0xFF70: "-",
        0x3000: " ",
    }
)  # fmt: skip
D = "[0-9０-９]"
H = "[-‐‑‒–—−ー－ｰ]"  # hyphen variants seen in Japanese phone numbers
S = "[ \u3000]"
SEP = f"(?:{H}|{S})"
LP, RP = "[(（]", "[)）]"
# A match must not continue a longer number: the character before it is checked in Python (a leading lookbehind
# would stop ``re`` from skipping ahead to candidate first characters), the one after by a lookahead.
_NUM_BEFORE = set("0123456789０１２３４５６７８９.,/-．，／－+＋")

_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+-]*[@＠](?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?!\d|\.\d)")
_VERSION_BEFORE = re.compile(r"(?:[vV]|[vV]er(?:sion)?\.?\s?|バージョン\s?|ver\.?\s?)$")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_CARD = re.compile(
    rf"(?:{D}{{4}}({SEP}){D}{{4}}\1{D}{{4}}\1{D}{{4}}|{D}{{4}}({SEP}){D}{{6}}\2{D}{{4,5}}|{D}{{15,16}})(?!{D}|{H})"
)
_MY_NUMBER = re.compile(rf"(?:{D}{{4}}({SEP}){D}{{4}}\1{D}{{4}}|{D}{{12}})(?!{D}|{H})")
_MY_NUMBER_CONTEXT = re.compile(r"(?:マイナンバー|個人番号)")
_PHONE_INTL = re.compile(
    rf"[+＋][8８][1１]{SEP}?(?:{LP}[0０]{RP}{SEP}?)?{D}{{1,4}}{SEP}?{D}{{1,4}}{SEP}?{D}{{4}}(?!{D}|{H})"
)
_PHONE_SEPARATED = re.compile(
    rf"(?:{LP}[0０]{D}{{1,4}}{RP}{S}?{D}{{1,4}}{H}?{D}{{3,4}}|[0０]{D}{{1,4}}{H}{D}{{1,4}}{H}{D}{{3,4}}"
    rf"|[0０]{D}{{1,4}}{S}{D}{{1,4}}{S}{D}{{3,4}}|[0０]{D}{{1,4}}{LP}{D}{{1,4}}{RP}{D}{{3,4}})(?!{D}|{H}|[,，/]|[.．]{D})"
)
_PHONE_PLAIN = re.compile(rf"[0０]{D}{{9,10}}(?!{D}|{H}|[,，/]|[.．]{D})")
_PHONE_CONTEXT = re.compile(r"(?:TEL|Tel|tel|ＴＥＬ|電話|FAX|Fax|fax|ＦＡＸ|携帯|☎|℡)[^\n\d０-９]{0,6}$")
_ANY_DIGIT = re.compile(r"[0-9０-９]")
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d")  # cheap pre-scan: the octet alternation defeats re's fast skip


_ZERO = (0x30, 0xFF10)  # 0 and ０
_OPEN_PAREN = (0x28, 0xFF08)  # ( and （


@njit(cache=True, nogil=True)
def _digit_runs(cp: np.ndarray) -> np.ndarray:
    """(start, end) of every maximal run of [0-9０-９] in a text's code points, in order."""
    runs = np.empty((len(cp) // 2 + 1, 2), dtype=np.int64)
    num = 0
    start = -1
    for i in range(len(cp) + 1):
        c = np.int64(cp[i]) if i < len(cp) else 0
        digit = (0x30 <= c <= 0x39) or (0xFF10 <= c <= 0xFF19)
        if digit and start < 0:
            start = i
        elif not digit and start >= 0:
            runs[num, 0], runs[num, 1] = start, i
            num += 1
            start = -1
    return runs[:num]


@memo_last_text
def _runs(text: str) -> list[list[int]]:
    """:func:`_digit_runs` of ``text``, memoised for the last text (the maskers pass on the same text object while
    they replace nothing)."""
    return _digit_runs(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)).tolist()


def _starts_card(text: str, runs: list[list[int]]) -> list[int]:
    """Where a card or My Number can start: every alternative opens with four digits (D{4})."""
    return [p for a, b in runs for p in range(a, b - 3)]


def _starts_phone_separated(text: str, runs: list[list[int]]) -> list[int]:
    """Where ``_PHONE_SEPARATED`` can start: a 0/０ followed by a digit, or a parenthesis before one."""
    out = []
    for a, b in runs:
        if a > 0 and b - a >= 2 and ord(text[a - 1]) in _OPEN_PAREN and ord(text[a]) in _ZERO:
            out.append(a - 1)
        out.extend(p for p in range(a, b - 1) if ord(text[p]) in _ZERO)
    return out


def _starts_phone_plain(text: str, runs: list[list[int]]) -> list[int]:
    """Where ``_PHONE_PLAIN`` can start: a 0/０ with at least nine digits after it in the same run."""
    return [p for a, b in runs for p in range(a, b - 9) if ord(text[p]) in _ZERO]


def _starts_phone_intl(text: str, runs: list[list[int]]) -> list[int]:
    """Where ``_PHONE_INTL`` can start: a +/＋ right before a run of digits that opens with 81/８１."""
    return [
        a - 1
        for a, b in runs
        if a > 0 and b - a >= 2 and text[a - 1] in "+＋" and text[a] in "8８" and text[a + 1] in "1１"
    ]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def my_number_ok(digits: str) -> bool:
    """Whether the last of 12 digits is the 個人番号 check digit (番号法施行令 第八条)."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = [ord(c) - 48 for c in digits[:11]]
    # P_n is the n-th digit counted from the right of the 11-digit body; Q_n = n+1 (n<=6), n-5 (n>=7).
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(reversed(body), start=1))
    rem = total % 11
    check = 0 if rem <= 1 else 11 - rem
    return check == ord(digits[11]) - 48


def _digits(s: str) -> str:
    return "".join(c for c in s.translate(_SHADOW) if "0" <= c <= "9")


def _starts_number(m: re.Match[str], text: str) -> bool:
    """Whether the match continues a number (or a dotted/slashed code) that starts before it."""
    return m.start() > 0 and text[m.start() - 1] in _NUM_BEFORE


def _phone_digits_ok(digits: str) -> bool:
    if len(digits) == 10:
        return digits[0] == "0" and digits[1] != "0"
    if len(digits) == 11:
        return digits[:3] in ("050", "070", "080", "090", "060") or digits[:4] == "0800"
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class PiiMasker:
    """Replaces the PII kinds in ``kinds`` with typed placeholders; ``mask`` returns the text and counts per kind."""

    name: ClassVar[str] = "pii_v1"
    kinds: tuple[str, ...] = PII_KINDS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(PII_KINDS))
        if unknown:
            raise ValueError(f"pii kinds {unknown} unknown; known: {list(PII_KINDS)}")

    def mask(self, text: str) -> tuple[str, dict[str, int]]:
        counts = {k: 0 for k in self.kinds}
        has_digit = _ANY_DIGIT.search(text) is not None
        for kind in PII_KINDS:  # fixed order: e-mail first (its digits must not become a phone), phone last
            if kind in self.kinds and (has_digit or kind == "email"):
                text, counts[kind] = _MASKERS[kind](text)
        return text, counts


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    out.append(text[last:])
    return "".join(out)


def _mask_with(text: str, kind: str, pattern: re.Pattern[str], accept, starts=None) -> tuple[str, int]:
    """Replace the accepted matches of ``pattern`` (``finditer``: leftmost, non-overlapping) with the placeholder.

    ``starts(text, digit_runs)``, if given, lists every position where a match of ``pattern`` can start (a
    superset, ascending): the matches are then found by ``pattern.match`` at those positions only — the same
    leftmost non-overlapping matches, because no match starts anywhere else. ``re`` has no fast scan for these
    patterns (alternatives opening with a character class) and tried each of 2,000 positions: ~0.1 ms per pattern.
    """
    matches = pattern.finditer(text) if starts is None else _matches_at(pattern, text, starts(text, _runs(text)))
    spans = [m.span() for m in matches if accept(m, text)]
    if not spans:
        return text, 0
    return _replace(text, spans, PLACEHOLDERS[kind]), len(spans)


def _matches_at(pattern: re.Pattern[str], text: str, starts: list[int]) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))`` when every match starts at one of ``starts`` (ascending)."""
    matches, last = [], 0
    for p in starts:
        if p >= last and (m := pattern.match(text, p)) is not None:
            matches.append(m)
            last = m.end()  # every pattern here matches at least one character
    return matches


def _mask_email(text: str) -> tuple[str, int]:
    if "@" not in text and "＠" not in text:
        return text, 0
    return _mask_with(text, "email", _EMAIL, lambda m, s: not (m.start() and s[m.start() - 1] in _EMAIL_BEFORE))


_EMAIL_BEFORE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _ipv4_ok(m: re.Match[str], text: str) -> bool:
    if m.start() and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
        return False
    return not _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()])


def _ipv6_ok(m: re.Match[str], text: str) -> bool:
    cand = m.group()
    if len(cand) < 6 or ("::" not in cand and cand.count(":") != 7):
        return False
    try:
        ipaddress.IPv6Address(cand)
    except ValueError:
        return False
    return True


def _mask_ip(text: str) -> tuple[str, int]:
    text, a = _mask_with(text, "ip", _IPV6, _ipv6_ok) if text.count(":") >= 2 else (text, 0)
    text, b = _mask_with(text, "ip", _IPV4, _ipv4_ok) if _IPV4_HINT.search(text) else (text, 0)
    return text, a + b


_NOT_CARD_PREFIXES = ("978", "979", "45", "49")  # ISBN-13 / JAN (Japanese EAN) barcodes


def _card_ok(m: re.Match[str], text: str) -> bool:
    if _starts_number(m, text):
        return False
    digits = _digits(m.group())
    if not 14 <= len(digits) <= 16 or digits[0] not in "23456" or digits.startswith(_NOT_CARD_PREFIXES):
        return False
    if "ISBN" in text[max(0, m.start() - 12) : m.start()].upper():
        return False
    return luhn_ok(digits)


def _mask_card(text: str) -> tuple[str, int]:
    return _mask_with(text, "credit_card", _CARD, _card_ok, _starts_card)


def _my_number_ok(m: re.Match[str], text: str) -> bool:
    if _starts_number(m, text) or not my_number_ok(_digits(m.group())):
        return False
    grouped = len(m.group()) != 12
    return grouped or bool(_MY_NUMBER_CONTEXT.search(text[max(0, m.start() - 30) : m.start()]))


def _mask_my_number(text: str) -> tuple[str, int]:
    return _mask_with(text, "my_number", _MY_NUMBER, _my_number_ok, _starts_card)


def _phone_separated_ok(m: re.Match[str], text: str) -> bool:
    return not _starts_number(m, text) and _phone_digits_ok(_digits(m.group()))


def _phone_plain_ok(m: re.Match[str], text: str) -> bool:
    if _starts_number(m, text):
        return False
    digits = _digits(m.group())
    if len(digits) == 11 and digits[:3] in ("070", "080", "090"):
        return True
    return _phone_digits_ok(digits) and bool(_PHONE_CONTEXT.search(text[max(0, m.start() - 12) : m.start()]))


def _phone_intl_ok(m: re.Match[str], text: str) -> bool:
    if m.start() and text[m.start() - 1].isdigit():
        return False
    national = _digits(m.group())[2:]  # after the country code 81
    national = national[1:] if national.startswith("0") else national
    return len(national) in (9, 10)


def _mask_phone(text: str) -> tuple[str, int]:
    text, a = _mask_with(text, "phone", _PHONE_INTL, _phone_intl_ok, _starts_phone_intl)
    text, b = _mask_with(text, "phone", _PHONE_SEPARATED, _phone_separated_ok, _starts_phone_separated)
    text, c = _mask_with(text, "phone", _PHONE_PLAIN, _phone_plain_ok, _starts_phone_plain)
    return text, a + b + c


_MASKERS = {
    "email": _mask_email,
    "ip": _mask_ip,
    "credit_card": _mask_card,
    "my_number": _mask_my_number,
    "phone": _mask_phone,
}
