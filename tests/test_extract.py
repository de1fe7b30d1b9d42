"""pipeline.extract: trafilatura in the sandbox on a real page with human-annotated gold, and every failure path
(timeout with restart, trafilatura exception, dead worker, empty extraction) counted through the Beam stage."""

from __future__ import annotations

import json
import os
import signal
import threading
from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import ExtractConfig
from pipeline.decode import decode_html
from pipeline.extract import Extract, ExtractionTimeout, ExtractorSandbox, WorkerDied, extract_html
from pipeline.stage import CountedStage
from tests.conftest import TEST_DATA

CFG = ExtractConfig()
GOLD = json.loads((TEST_DATA / "html" / "nhk.or.jp.k100.gold.json").read_text(encoding="utf-8"))
NHK = decode_html((TEST_DATA / "html" / "nhk.or.jp.k100.html").read_bytes()).text
# A real page made pathological by size: its body repeated 100 times (1.4 MB of HTML, about 4 s of trafilatura
# on this box against 40 ms for the page itself), well over the 1 s limits below.
_BODY_START, _BODY_END = NHK.index("<body"), NHK.rindex("</body>")
BIG = NHK[:_BODY_START] + NHK[_BODY_START:_BODY_END] * 100 + NHK[_BODY_END:]


def record(html: str, rid: str, url: object = GOLD["url"]) -> dict:
    return {"id": rid, "source": "cc", "url": url, "source_ref": f"x.warc.gz@{rid}", "crawl_date": "2019-06-24",
            "html": html, "charset": "utf-8", "content_type": "text/html"}  # fmt: skip


def test_extract_html_matches_the_gold_annotation():
    text, title = extract_html(NHK, GOLD["url"], CFG)
    assert all(snippet.strip() in text for snippet in GOLD["with"])
    assert not any(snippet.strip() in text for snippet in GOLD["without"])
    assert GOLD["title"] in title


def test_sandbox_timeout_restarts_the_worker():
    sandbox = ExtractorSandbox(replace(CFG, timeout_s=1.0))
    try:
        assert sandbox.extract(NHK, None)[0].startswith("子どもへの虐待")
        with pytest.raises(ExtractionTimeout):
            sandbox.extract(BIG, None)
        assert sandbox.num_starts == 1
        assert sandbox.extract(NHK, None)[0].startswith("子どもへの虐待")  # a fresh worker took over
        assert sandbox.num_starts == 2
    finally:
        sandbox.close()


def test_sandbox_reports_a_killed_worker():
    sandbox = ExtractorSandbox(replace(CFG, timeout_s=120.0))
    try:
        sandbox.extract(NHK, None)
        pid = sandbox._proc.pid
        threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
        with pytest.raises(WorkerDied):
            sandbox.extract(BIG, None)
        assert sandbox.extract(NHK, None)[0]
    finally:
        sandbox.close()


@pytest.mark.slow
def test_extract_stage_outputs_and_counts():
    records = [
        record(NHK, "ok"),
        record("<html><head><title>空</title></head><body></body></html>", "empty"),
        record(NHK, "bad_url", url=12345),  # trafilatura raises on a non-string URL
        record(BIG, "big"),
        record(NHK, "after_timeout"),
    ]
    p = TestPipeline(runner="FnApiRunner")
    kept, rejects = p | beam.Create(records) | CountedStage(Extract(replace(CFG, timeout_s=1.0)))
    assert_that(
        kept | beam.Map(lambda d: (d["id"], d["title"], d["url"], d["charset"], d["source_ref"], d["text"][:7])),
        equal_to(
            [
                (
                    i,
                    "NEWS WEB EASY|子どもへの体罰を禁止する法律ができる",
                    GOLD["url"],
                    "utf-8",
                    f"x.warc.gz@{i}",
                    "子どもへの虐待",
                )
                for i in ("ok", "after_timeout")
            ]
        ),
    )
    assert_that(
        rejects | beam.Map(lambda r: (r["id"], r["stage"], r["outcome"], r["reason"])),
        equal_to(
            [
                ("empty", "extract", "dropped", "empty_extraction"),
                ("bad_url", "extract", "failed", "extract_error"),
                ("big", "extract", "failed", "timeout"),
            ]
        ),
        label="rejects",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(MetricsFilter().with_namespace("jpcorpus.extract"))["counters"]
    }
    assert counters == {
        "in": 5, "out": 2, "dropped.empty_extraction": 1, "failed.extract_error": 1, "failed.timeout": 1
    }  # fmt: skip
