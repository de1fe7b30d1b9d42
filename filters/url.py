"""URL rules: blocklisted domains, a TLD allowlist and URL word lists.

These filters score the document's ``url`` (``input_field = "url"``). A document without a URL (Wikipedia dumps,
user JSONL without the column) gives no evidence against it: it scores as allowed. A URL that does not parse
scores as if it had no host (blocked by the TLD allowlist, not by the blocklist).
"""

from __future__ import annotations

import functools
import gzip
import re
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar
from urllib.parse import urlsplit

from filters.base import Filter, Threshold
from filters.ngwords import compile_word_list, load_word_list


def url_host(url: str | None) -> str:
    """Lower-case host without port or trailing dot; "" when there is none or the URL does not parse."""
    if not url:
        return ""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return ""
    return host.rstrip(".").lower()


def _suffixes(host: str) -> list[str]:
    """``a.b.example.jp`` -> [a.b.example.jp, b.example.jp, example.jp, jp]."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


@functools.lru_cache(maxsize=4)
def _domain_set(filename: str) -> frozenset[str]:
    raw = resources.files("filters").joinpath("data", filename).read_bytes()
    if filename.endswith(".gz"):
        raw = gzip.decompress(raw)
    return frozenset(line.strip().lower() for line in raw.decode("utf-8").split("\n") if line.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlBlocklist(Filter):
    """Keeps documents whose URL host (or a parent domain) is not blocklisted; score 1.0 = blocked.

    List: UT1 (Université Toulouse Capitole) blacklist as packaged by datatrove 0.10.1, only its ``.jp`` domains
    (56,189; CC BY-SA 4.0) — the full 4.5 M-domain list is 18 MB. ``block_host_suffixes`` adds whole zones: Swallow
    Corpus v1 ngurl.py blocks ``*.5ch.net`` and ``*wikipedia.org`` (Wikipedia enters through the dump instead);
    LLM-jp corpus v1 drops ``ja.wikipedia.org`` pages from the crawl (FILTER_RULES.md §A.1, §D).
    NOTE(jpcorpus, 2026-11): Swallow blocks UT1 *categories* (adult, gambling, ...); our packaging has no category
    labels, so every listed domain is blocked.
    """

    name: ClassVar[str] = "url_blocklist_v1"
    input_field: ClassVar[str] = "url"
    thresholds: ClassVar = (Threshold("max_blocked", "max"),)
    score_params: ClassVar = ("domain_lists", "block_host_suffixes")
    domain_lists: tuple[str, ...] = ("ut1_blacklist_domains_jp_only.txt.gz",)
    block_host_suffixes: tuple[str, ...] = ()
    max_blocked: float | None = 0.0

    def __post_init__(self) -> None:
        Filter.__post_init__(self)
        for f in self.domain_lists:
            if not resources.files("filters").joinpath("data", f).is_file():
                raise ValueError(f"{self.name}.domain_lists: no file {f!r} in filters/data")

    def score(self, value: str | None) -> float:
        host = url_host(value)
        if not host:
            return 0.0
        candidates = _suffixes(host)
        for f in self.domain_lists:
            domains = _domain_set(f)
            if any(c in domains for c in candidates):
                return 1.0
        for suffix in self.block_host_suffixes:
            s = suffix.lower().lstrip(".")
            if host == s or host.endswith("." + s):
                return 1.0
        return 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlTld(Filter):
    """Keeps documents whose URL's top-level domain is in ``allowed_tlds``; score 1.0 = allowed.

    LLM-jp corpus v1 ``has_valid_domain``: scripts/dict/ja_valid_domains.txt = biz cc com info jp me net org site
    tokyo tv work xyz (FILTER_RULES.md §A.1). A document without a URL scores 1.0.
    """

    name: ClassVar[str] = "url_tld_v1"
    input_field: ClassVar[str] = "url"
    thresholds: ClassVar = (Threshold("min_allowed", "min"),)
    score_params: ClassVar = ("allowed_tlds",)
    allowed_tlds: tuple[str, ...] = load_word_list("ja_valid_domains.txt")
    min_allowed: float | None = 1.0

    def score(self, value: str | None) -> float:
        if not value:
            return 1.0
        host = url_host(value)
        return 1.0 if host and host.rsplit(".", 1)[-1] in self.allowed_tlds else 0.0


_URL_TOKEN_SPLIT = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlWords(Filter):
    """Keeps documents whose URL has no banned word or sub-word and fewer than 3 soft-banned words.

    datatrove ``URLFilter`` word lists (FineWeb/RefinedWeb; English-centric, datatrove 0.10.1 assets): a banned
    word is a whole URL token, a banned sub-word a substring of the URL with non-alphanumerics removed; datatrove
    drops on any banned word or sub-word and on >= 3 soft-banned words.
    """

    name: ClassVar[str] = "url_words_v1"
    input_field: ClassVar[str] = "url"
    metrics: ClassVar = ("banned_words", "banned_subwords", "soft_banned_words")
    thresholds: ClassVar = (
        Threshold("max_banned_words", "max", "banned_words"),
        Threshold("max_banned_subwords", "max", "banned_subwords"),
        Threshold("max_soft_banned_words", "max", "soft_banned_words"),
    )
    max_banned_words: float | None = 0
    max_banned_subwords: float | None = 0
    max_soft_banned_words: float | None = 2

    def score(self, value: str | None) -> dict[str, float]:
        if not value:
            return {"banned_words": 0.0, "banned_subwords": 0.0, "soft_banned_words": 0.0}
        url = value.lower()
        tokens = [t for t in _URL_TOKEN_SPLIT.split(url) if t]
        banned = set(load_word_list("datatrove_url_banned_words.txt"))
        soft = set(load_word_list("datatrove_url_soft_banned_words.txt"))
        subwords = compile_word_list(load_word_list("datatrove_url_banned_subwords.txt"), False)
        squashed = "".join(tokens)
        return {
            "banned_words": float(sum(1 for t in tokens if t in banned)),
            "banned_subwords": float(len(subwords.spans(squashed))),
            "soft_banned_words": float(sum(1 for t in tokens if t in soft)),
        }
