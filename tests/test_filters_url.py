"""URL rules: UT1 blocklist (with parent domains), host-suffix blocks, LLM-jp TLD allowlist, datatrove URL words."""

from __future__ import annotations

import gzip
from importlib import resources

from filters.url import UrlBlocklist, UrlTld, UrlWords, url_host

UT1 = [
    line
    for line in gzip.decompress(
        resources.files("filters").joinpath("data", "ut1_blacklist_domains_jp_only.txt.gz").read_bytes()
    )
    .decode()
    .split("\n")
    if line
]


def test_url_host_parsing():
    assert url_host("https://WWW.Example.JP.:8080/a?b") == "www.example.jp"
    assert url_host("http://[::1") == ""  # unbalanced bracket: does not parse
    assert url_host(None) == "" and url_host("not a url") == ""


def test_blocklisted_domain_and_its_subdomains_are_blocked():
    f = UrlBlocklist()
    listed = UT1[1000]
    assert f.score(f"http://{listed}/page") == 1.0
    assert f.score(f"https://sub.{listed}/x") == 1.0  # parent domain listed
    assert f.violations(1.0)[0][0] == "url_blocklist_v1"
    # real Japanese news/encyclopedia hosts from the fixtures are not listed
    for url in ("https://www.nikkei.com/article/x", "https://ja.wikipedia.org/wiki/熊本県", "http://www.afpbb.com/a"):
        assert f.score(url) == 0.0
    assert f.score(None) == 0.0 and f.score("") == 0.0


def test_host_suffix_blocks_whole_zones_only():
    f = UrlBlocklist(domain_lists=(), block_host_suffixes=("5ch.net", "wikipedia.org"))
    assert f.score("https://egg.5ch.net/test/read.cgi/x") == 1.0
    assert f.score("https://ja.wikipedia.org/wiki/x") == 1.0
    assert f.score("https://not5ch.net/") == 0.0  # suffix match is on label boundaries


def test_llmjp_tld_allowlist():
    f = UrlTld()
    assert f.score("https://www3.nhk.or.jp/news/") == 1.0
    assert f.score("http://www.uraharajuku.st/shop") == 0.0  # .st is not in LLM-jp's 13 TLDs
    assert f.violations(f.score("http://example.cn/"))[0][0] == "url_tld_v1"
    assert f.score(None) == 1.0  # no URL, no evidence (Wikipedia dump, user JSONL)


def test_datatrove_url_words():
    f = UrlWords()
    clean = f.score("https://www.nikkei.com/article/DGXMZO31897660Y8A610C1000000/")
    assert f.keep(clean)
    bad = f.score("http://free-porn-videos.example.com/")
    assert bad["banned_words"] >= 1 and f.violations(bad)[0][0] == "url_words_v1.banned_words"
