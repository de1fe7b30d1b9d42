"""pipeline.read_warc on real WARC/WET bytes (CC 2020 and 2024 samples, ClueWeb09-ja, a clipped record) and on
cut, corrupted and hand-assembled variants of them."""

from __future__ import annotations

import gzip
import io
import re
from collections import Counter
from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from fastwarc.warc import WarcRecord, WarcRecordType

from pipeline.config import WarcConfig
from pipeline.read_warc import TEXT, ReadWarc, iter_warc, read_warc_file, record_id_hash
from pipeline.stage import REJECTS
from tests.conftest import TEST_DATA

WARC = TEST_DATA / "warc"
CC = WARC / "cc2020_head13.warc.gz"
CLUEWEB = WARC / "clueweb09_ja_head4.warc.gz"
WHIRL = WARC / "whirlwind_CC-MAIN-2024-22.warc.gz"
WET = WARC / "whirlwind_CC-MAIN-2024-22.warc.wet.gz"
CLIPPED = WARC / "resiliparse_clipped.warc.gz"
CFG = WarcConfig()
# Gzip member offsets of cc2020_head13 (one record per member), read off the file with `gzip -l`-style scanning:
# warcinfo, then (request, response, metadata) x 4.
CC_OFFSETS = (0, 481, 940, 11845, 12265, 12685, 31493, 31915, 32353, 37659, 38091, 38503, 41986)
CC_RESPONSES = (940, 12685, 32353, 38503)


def outcomes(data: bytes, name: str = "f.warc.gz", cfg: WarcConfig = CFG) -> list:
    return list(iter_warc(io.BytesIO(data), name, cfg))


def tally(items) -> Counter:
    return Counter(o.kind if o.kind in ("html", "text") else f"{o.kind}.{o.reason}" for o in items)


def member_offsets(data: bytes) -> list[int]:
    """Offsets of the gzip members of ``data``, found independently of the reader (zlib, member by member)."""
    import zlib

    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        d = zlib.decompressobj(wbits=31)
        d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
    return offsets


def test_cc_sample_record_interleaving_and_refs():
    data = CC.read_bytes()
    assert tuple(member_offsets(data)) == CC_OFFSETS
    items = outcomes(data, "cc.warc.gz")
    assert tally(items) == {"dropped.warcinfo": 1, "dropped.request": 4, "html": 4, "dropped.metadata": 4}
    assert [o.record["source_ref"] for o in items] == [f"cc.warc.gz@{off}" for off in CC_OFFSETS]
    html = [o.record for o in items if o.kind == "html"]
    assert [r["source_ref"] for r in html] == [f"cc.warc.gz@{off}" for off in CC_RESPONSES]
    assert [r["http_charset"] for r in html] == [None, "windows-1251", "utf-8", "gb2312"]
    assert html[0]["url"] == "http://003338.cn/l41/481397.html"
    assert html[1]["crawl_date"] == "2020-08-08T18:31:12Z"
    assert all(r["content_type"] == "text/html" and r["payload"].lstrip()[:1] == b"<" for r in html)
    ids = [o.record["id"] for o in items]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"cc/[0-9a-f]{20}", i) for i in ids)
    # The id is the hash of WARC-Record-ID, so it does not depend on the file name or position.
    assert html[0]["id"] == record_id_hash("<urn:uuid:c4c112a5-3503-4483-abf8-51a0dd86dd53>")
    assert [o.record["id"] for o in outcomes(data, "renamed.warc.gz")] == ids


def test_clueweb09_quirks():
    items = outcomes(CLUEWEB.read_bytes(), "cw.warc.gz")
    assert tally(items) == {"dropped.warcinfo": 1, "html": 3}
    html = [o.record for o in items if o.kind == "html"]
    for rec in html:
        assert rec["http_charset"] == "euc-jp"
        # `Content-Encoding: gzip` is in the HTTP header, but the stored body is decoded: it must be left alone.
        assert rec["payload"].startswith(b"<html>")
        assert "ブラウニー" in rec["payload"].decode("euc_jp")
    # WARC-Date "2008-10-294T05:21:46-0700" is invalid: the HTTP Date header is used instead, and counted.
    assert html[0]["crawl_date"] == "2009-01-28T17:05:56+00:00"
    assert all(o.invalid_date for o in items)
    assert html[0]["source_ref"] == "cw.warc.gz@317"


def test_wet_conversion_record_is_a_document_with_the_warc_response_id():
    wet = outcomes(WET.read_bytes(), "x.warc.wet.gz")
    assert tally(wet) == {"dropped.warcinfo": 1, "text": 1}
    doc = wet[1].record
    assert doc["text"].startswith("Escopete - Biquipedia") and doc["source"] == "cc" and doc["charset"] is None
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete" and doc["crawl_date"] == "2024-05-18T01:58:10Z"
    assert doc["source_ref"] == "x.warc.wet.gz@466" and doc["lang"] is None
    warc_html = [o.record for o in outcomes(WHIRL.read_bytes()) if o.kind == "html"]
    assert doc["id"] == warc_html[0]["id"]  # WARC-Refers-To links the WET text to the response it came from


def test_real_clipped_record_is_one_failure():
    items = list(read_warc_file(str(CLIPPED), CFG))
    assert tally(items) == {"failed.truncated": 1}
    assert items[0].record["url"].startswith("http://www.houstonpress.com/")
    assert items[0].record["source_ref"] == "resiliparse_clipped.warc.gz@0"


@pytest.mark.parametrize(
    ("cut", "num_complete"),
    [
        (12265, 4),  # at a member boundary: a clean, shorter file
        (12000, 3),  # inside the metadata member at 11845
        (12700, 5),  # in the header of the response at 12685
        (20000, 5),  # inside the body of that response
        (len(CC.read_bytes()) - 3, 13),  # in the last member's gzip trailer: its record is whole, the file is not
    ],
)
def test_cut_gzip_keeps_every_complete_record(cut, num_complete):
    data = CC.read_bytes()
    full = outcomes(data)
    items = outcomes(data[:cut])
    assert items[:num_complete] == full[:num_complete]
    damaged = items[num_complete:]
    if cut == 12265:
        assert damaged == []
    else:
        assert [(o.kind, o.reason) for o in damaged] == [("failed", "truncated")]
        assert damaged[0].record["source_ref"] == f"f.warc.gz@{max(o for o in CC_OFFSETS if o < cut)}"


def test_corrupt_gzip_member_keeps_records_before_it():
    data = bytearray(CC.read_bytes())
    data[20000:20040] = b"\x00" * 40  # inside the member of the response at 12685
    items = outcomes(bytes(data))
    assert items[:5] == outcomes(CC.read_bytes())[:5]
    assert [(o.kind, o.reason) for o in items[5:]] == [("failed", "corrupt")]
    assert items[5].record["source_ref"] == "f.warc.gz@12685"


def test_uncompressed_warc_and_cuts_in_it():
    plain = gzip.decompress(CC.read_bytes())
    items = outcomes(plain, "p.warc")
    assert tally(items) == tally(outcomes(CC.read_bytes()))
    assert items[2].record["source_ref"] == f"p.warc@{plain.index(b'WARC/1.0', 1400)}"  # decompressed offsets
    second_response = plain.index(b"WARC-Type: response", plain.index(b"WARC-Type: response") + 1)
    for cut in (second_response + 5, second_response + 3000):  # in the WARC header; in the body
        cut_items = outcomes(plain[:cut], "p.warc")
        assert tally(cut_items) == {
            "dropped.warcinfo": 1, "dropped.request": 2, "html": 1, "dropped.metadata": 1, "failed.truncated": 1
        }  # fmt: skip


def test_not_a_warc_and_empty():
    assert tally(outcomes(b"<html>this is not a WARC file</html>\n" * 20)) == {"failed.not_warc": 1}
    assert outcomes(b"") == []
    assert tally(outcomes(gzip.compress(b"plain text in gzip, no WARC records\n", mtime=0))) == {"failed.not_warc": 1}


def test_unreadable_path_is_counted():
    items = list(read_warc_file(str(WARC / "no-such-file.warc.gz"), CFG))
    assert tally(items) == {"failed.unreadable": 1}


# --- hand-assembled records around real payloads -----------------------------------------------------------------


def record(
    rtype: WarcRecordType, block: bytes, uri: str = "http://example.invalid/", headers: dict | None = None
) -> bytes:
    rec = WarcRecord()
    rec.init_headers(rtype, record_urn=f"uuid:00000000-0000-0000-0000-{len(block):012d}".encode())
    rec.headers["WARC-Date"] = "2024-05-18T01:58:10Z"
    rec.headers["WARC-Target-URI"] = uri
    rec.headers["Content-Type"] = "application/http; msgtype=response"
    for key, value in (headers or {}).items():
        rec.headers[key] = value
    rec.set_bytes_content(block)
    buf = io.BytesIO()
    rec.write(buf)
    return gzip.compress(buf.getvalue(), mtime=0)


def response(body: bytes, status: str = "200 OK", content_type: str | None = "text/html", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "") + extra
    return record(WarcRecordType.response, head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


PAGE = (TEST_DATA / "html" / "nhk.or.jp.k100.html").read_bytes()
BINARY = WET.read_bytes()  # real gzip bytes


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (response(PAGE, "404 Not Found"), "dropped.non_200"),
        (response(b"", "301 Moved Permanently", None, "Location: https://www3.nhk.or.jp/\r\n"), "dropped.non_200"),
        (response(BINARY, content_type="image/png"), "dropped.non_html"),
        (response(PAGE, content_type="application/json; charset=utf-8"), "dropped.non_html"),
        (response(BINARY), "dropped.binary"),
        (response(b"\x00\x01" + PAGE), "dropped.binary"),
        (response(b""), "dropped.empty_payload"),
        (response(b" \r\n\t "), "dropped.empty_payload"),
        (response(PAGE, content_type=None), "html"),  # no content type, but the bytes are HTML
        (response(b"just some text, no markup " * 5, content_type=None), "dropped.non_html"),
        (response(PAGE, content_type="application/xhtml+xml"), "html"),
        (record(WarcRecordType.request, b"GET / HTTP/1.1\r\nHost: example.invalid\r\n\r\n"), "dropped.request"),
        (record(WarcRecordType.revisit, b"HTTP/1.1 200 OK\r\n\r\n"), "dropped.revisit"),
        (record(WarcRecordType.resource, PAGE), "dropped.resource"),
        (record(WarcRecordType.response, PAGE), "dropped.non_http"),  # a response block without HTTP
    ],
)
def test_record_kinds(data, expected):
    assert tally(outcomes(data)) == {expected: 1}


def test_oversize_is_dropped_before_reading_the_payload():
    cfg = replace(CFG, max_payload_bytes=len(PAGE) - 1)
    assert tally(outcomes(response(PAGE), cfg=cfg)) == {"dropped.oversize": 1}
    assert tally(outcomes(response(PAGE), cfg=replace(CFG, max_payload_bytes=len(PAGE)))) == {"html": 1}


def test_gzip_content_encoding_is_undone_only_when_the_body_is_gzip():
    compressed = gzip.compress(PAGE, mtime=0)
    items = outcomes(response(compressed, extra="Content-Encoding: gzip\r\n"))
    assert tally(items) == {"html": 1} and items[0].record["payload"] == PAGE
    items = outcomes(response(PAGE, extra="Content-Encoding: gzip\r\n"))  # the ClueWeb quirk
    assert items[0].record["payload"] == PAGE
    # A gzip bomb cannot inflate past the payload cap.
    cfg = replace(CFG, max_payload_bytes=len(compressed) + 100)
    assert tally(outcomes(response(compressed, extra="Content-Encoding: gzip\r\n"), cfg=cfg)) == {
        "dropped.oversize": 1
    }


# --- the Beam DoFn ------------------------------------------------------------------------------------------------


def test_readwarc_dofn_outputs_and_reconciled_counters():
    files = [str(CC), str(CLIPPED), str(WET), str(CLUEWEB)]
    p = TestPipeline(runner="FnApiRunner")
    out = p | beam.Create(files) | beam.ParDo(ReadWarc(CFG)).with_outputs(TEXT, REJECTS, main="html")
    assert_that(
        out.html | "HtmlRefs" >> beam.Map(lambda r: r["source_ref"]),
        equal_to(
            [f"cc2020_head13.warc.gz@{o}" for o in CC_RESPONSES]
            + [f"clueweb09_ja_head4.warc.gz@{o}" for o in (317, 9348, 18394)]
        ),
        label="html",
    )
    assert_that(
        out[TEXT] | "TextIds" >> beam.Map(lambda d: d["url"]),
        equal_to(["https://an.wikipedia.org/wiki/Escopete"]),
        label="text",
    )
    assert_that(
        out[REJECTS] | "Reasons" >> beam.Map(lambda r: (r["stage"], r["outcome"], r["reason"])),
        equal_to(
            [("read_warc", "dropped", "warcinfo")] * 3
            + [("read_warc", "dropped", "request")] * 4
            + [("read_warc", "dropped", "metadata")] * 4
            + [("read_warc", "failed", "truncated")]
        ),
        label="rejects",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(MetricsFilter().with_namespace("jpcorpus.read_warc"))["counters"]
    }
    dropped = sum(v for k, v in counters.items() if k.startswith("dropped."))
    failed = sum(v for k, v in counters.items() if k.startswith("failed."))
    assert counters["in"] == 13 + 1 + 2 + 4
    assert counters["in"] == counters["out"] + dropped + failed
    assert counters["out"] == 4 + 1 + 3 and failed == 1
    assert counters["stats.invalid_warc_date"] == 4
