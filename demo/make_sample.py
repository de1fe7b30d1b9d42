"""Assemble ``demo/sample/ja_mix.warc.gz`` from the real pages in ``/work/shared/data`` (deterministic).

No Common Crawl WARC with Japanese pages is available here, so the Japanese HTML pages of ``ja_html_pages`` are
packed, byte for byte in their original encodings, into WARC/1.1 response records, next to real records copied
verbatim (their original gzip members) from the Common Crawl sample WARCs. What the file holds, in order:

1. one ``warcinfo`` record;
2. Japanese news/article pages (utf-8): HTTP ``Content-Type`` with a charset for half of them, without for the rest;
3. Japanese pages and blog feeds in Shift_JIS, CP932, EUC-JP and ISO-2022-JP (chardet's test files): a charset in
   the HTTP header only where ``CHARSET_IN_HEADER`` says, so the meta-tag and detection paths run too. The RSS/Atom
   feeds are served as ``text/html`` (they are markup trafilatura extracts), except ``RSS_AS_XML``, served as
   ``application/rss+xml`` to show the ``non_html`` drop;
4. Chinese and English pages (language-id and pre-detection negatives);
5. every record of the resiliparse CC-MAIN-2020-34 sample and of the whirlwind CC-MAIN-2024-22 WARC, verbatim
   (warcinfo/request/response/metadata interleaving of real crawls; Chinese, Russian, Dutch, German, Aragonese);
6. records that must be dropped: a 404 and a 301 response, an HTTP 200 with an empty body, binary bytes (a real
   gzip file) served as ``text/html`` and as ``application/gzip``, and a ``request`` record.

Each record is its own gzip member (the CC layout); gzip timestamps are zero and record ids are uuid5 of the
source path, so rerunning this script reproduces the file byte for byte.

    .venv/bin/python demo/make_sample.py [--data /work/shared/data] [--out demo/sample/ja_mix.warc.gz]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

log = logging.getLogger("make_sample")

CRAWL_DATE = "2024-05-18T01:58:10Z"  # one fixed date for the packed pages (they carry their own publication dates)
UUID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_URL

JA_PAGES = (  # (path under ja_html_pages, declare the charset in the HTTP header)
    ("readability/hukumusume/source.html", True),
    ("readability/yahoo-4/source.html", False),
    ("trafilatura_eval/nhk.or.jp.k100.html", True),
    ("newspaper4k/japanese_article.html", False),
    ("newspaper4k/japanese_article2.html", True),
    ("extractcontent_go/test01_nhk.html", False),
    ("extractcontent_go/test02_wikipedia.html", True),
)
ENCODED_PAGES = (  # (path under ja_html_pages/chardet_feeds, HTTP charset label)
    ("SHIFT_JIS/_chromium_Shift-JIS_with_no_encoding_specified.html", "Shift_JIS"),
    ("SHIFT_JIS/ooganemochi.com.xml", "Shift_JIS"),
    ("SHIFT_JIS/perth-on.net.xml", "Shift_JIS"),
    ("SHIFT_JIS/moon-light.ne.jp.xml", "Shift_JIS"),
    ("SHIFT_JIS/andore.com.xml", "Shift_JIS"),
    ("CP932/www2.chuo-u.ac.jp-suishin.xml", "Windows-31J"),
    ("CP932/hardsoft.at.webry.info.xml", "Shift_JIS"),
    ("EUC-JP/_mozilla_bug426271_text-euc-jp.html", "EUC-JP"),
    ("EUC-JP/_mozilla_bug620106_text.html", "EUC-JP"),
    ("EUC-JP/manana.moo.jp.xml", "EUC-JP"),
    ("EUC-JP/azito.under.jp.xml", "EUC-JP"),
    ("EUC-JP/club.h14m.org.xml", "EUC-JP"),
    ("EUC-JP/bphrs.net.xml", "EUC-JP"),
    ("iso-2022-jp/_ude_1.txt", "ISO-2022-JP"),
)
CHARSET_IN_HEADER = frozenset(
    {"SHIFT_JIS/ooganemochi.com.xml", "CP932/www2.chuo-u.ac.jp-suishin.xml", "EUC-JP/manana.moo.jp.xml",
     "EUC-JP/bphrs.net.xml", "iso-2022-jp/_ude_1.txt"}
)  # fmt: skip
RSS_AS_XML = frozenset({"SHIFT_JIS/andore.com.xml", "EUC-JP/club.h14m.org.xml"})
OTHER_PAGES = (  # non-Japanese, paths under ja_html_pages
    "readability/gmw/source.html",
    "readability/qq/source.html",
    "readability/pixnet/source.html",
    "trafilatura_eval/xinhuanet.com.c_1125597921.html",
    "trafilatura_eval/baike.baidu.com.tanya.html",
    "newspaper4k/chinese_article_002.html",
    "trafilatura_eval/japantimes.co.jp.surgical.html",
)
VERBATIM_WARCS = (
    "warc_real/resiliparse_CC-MAIN-2020-34_sample.warc.gz",
    "warc_real/whirlwind_CC-MAIN-2024-22.warc.gz",
)
BINARY_SOURCE = "warc_real/whirlwind_CC-MAIN-2024-22.warc.wat.gz"


def record_bytes(
    rtype: WarcRecordType, key: str, uri: str | None, content_type: str, block: bytes, date: str = CRAWL_DATE
) -> bytes:
    """One gzip member holding one WARC/1.1 record; ``key`` makes the record id (uuid5) reproducible."""
    rec = WarcRecord()
    rec.init_headers(rtype, record_urn=f"uuid:{uuid.uuid5(UUID_NAMESPACE, key)}".encode())
    rec.headers["WARC-Date"] = date
    if uri is not None:
        rec.headers["WARC-Target-URI"] = uri
    rec.headers["Content-Type"] = content_type
    rec.set_bytes_content(block)
    buf = io.BytesIO()
    rec.write(buf)
    return gzip.compress(buf.getvalue(), compresslevel=9, mtime=0)


def http_response(
    key: str, uri: str, body: bytes, content_type: str | None, status: str = "200 OK", extra: str = ""
) -> bytes:
    head = f"HTTP/1.1 {status}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    head += extra + f"Content-Length: {len(body)}\r\n\r\n"
    return record_bytes(WarcRecordType.response, key, uri, "application/http; msgtype=response", head.encode() + body)


def gzip_members(data: bytes) -> Iterator[bytes]:
    """The gzip members of a per-record-gzipped WARC, as stored (offsets from the reader's own record index)."""
    offsets = [rec.stream_pos for rec in ArchiveIterator(io.BytesIO(data), parse_http=False)] + [len(data)]
    for start, end in zip(offsets, offsets[1:], strict=False):
        yield data[start:end]


def page_urls(pages: Path) -> dict[str, str]:
    """Original URLs from ``ja_html_pages/manifest.tsv``; a page without one gets an ``.invalid`` URL naming it."""
    urls = {}
    with (pages / "manifest.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            url = row["url"].split(" ", 1)[0]  # drop the "(og:url)" / "(canonical)" provenance note
            urls[row["file"]] = url or f"http://url-unknown.invalid/{row['file']}"
    return urls


def build(data_dir: Path) -> bytes:
    pages = data_dir / "ja_html_pages"
    urls = page_urls(pages)
    members: list[bytes] = []
    info = b"software: jpcorpus demo/make_sample.py\r\nformat: WARC File Format 1.1\r\n"
    members.append(record_bytes(WarcRecordType.warcinfo, "warcinfo", None, "application/warc-fields", info))
    for path, declare in JA_PAGES:
        ctype = "text/html; charset=UTF-8" if declare else "text/html"
        members.append(http_response(path, urls[path], (pages / path).read_bytes(), ctype))
    for path, charset in ENCODED_PAGES:
        if path in RSS_AS_XML:
            ctype = f"application/rss+xml; charset={charset}"
        else:
            ctype = f"text/html; charset={charset}" if path in CHARSET_IN_HEADER else "text/html"
        key = f"chardet_feeds/{path}"
        members.append(http_response(key, urls[key], (pages / key).read_bytes(), ctype))
    for path in OTHER_PAGES:
        members.append(http_response(path, urls[path], (pages / path).read_bytes(), "text/html"))
    for path in VERBATIM_WARCS:
        members.extend(gzip_members((data_dir / path).read_bytes()))

    not_found = (pages / "newspaper4k/chinese_article_002.html").read_bytes()
    members.append(
        http_response("404", "http://url-unknown.invalid/missing.htm", not_found, "text/html", "404 Not Found")
    )
    members.append(
        http_response(
            "301",
            "http://www.nikkei.com/",
            b"",
            None,
            "301 Moved Permanently",
            "Location: https://www.nikkei.com/\r\n",
        )
    )
    members.append(http_response("empty", "http://empty.invalid/", b"", "text/html; charset=UTF-8"))
    binary = (data_dir / BINARY_SOURCE).read_bytes()
    members.append(http_response("binary-as-html", "http://binary.invalid/wat.gz", binary, "text/html"))
    members.append(http_response("binary", "http://binary.invalid/wat2.gz", binary, "application/gzip"))
    request = b"GET /news/easy/ HTTP/1.1\r\nHost: www3.nhk.or.jp\r\nUser-Agent: jpcorpus-demo\r\n\r\n"
    members.append(
        record_bytes(
            WarcRecordType.request,
            "request",
            "https://www3.nhk.or.jp/news/easy/",
            "application/http; msgtype=request",
            request,
        )
    )
    return b"".join(members)


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"), help="the shared data folder")
    parser.add_argument("--out", type=Path, default=here / "sample" / "ja_mix.warc.gz")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    log.info("wrote %s (%d bytes)", args.out, len(data))


if __name__ == "__main__":
    main()
