"""pipeline.read_wikipedia on the real jawiki dump sample (bz2, cut off before </mediawiki>) and variants of it."""

from __future__ import annotations

import bz2
import gzip
import re
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import pipeline.read_wikipedia as rw
from pipeline.config import WikipediaConfig
from pipeline.read_wikipedia import ReadWikipedia, iter_pages, iter_wikipedia, page_url
from pipeline.stage import REJECTS
from tests.conftest import TEST_DATA

SAMPLE = Path(__file__).resolve().parent.parent / "demo" / "sample" / "jawiki_pages-articles_head262.xml.bz2"
EDGE_CASES = TEST_DATA / "wiki" / "edge_cases.xml"
CFG = WikipediaConfig()
# Counted in the sample with grep: 262 pages; 223 in ns 0 of which 19 are redirects; 39 in ns 4/12/102.
NUM_PAGES, NUM_ARTICLES, NUM_REDIRECTS, NUM_OTHER_NS = 262, 204, 19, 39


def outcomes(events) -> Counter:
    return Counter(kind if kind == "doc" else f"{kind}.{value[0]}" for kind, value in events)


@pytest.fixture(scope="module")
def sample_events() -> list:
    return list(iter_wikipedia(str(SAMPLE), CFG))


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE.read_bytes())


def test_every_complete_page_is_counted_and_the_cut_tail_fails_once(sample_events):
    assert outcomes(sample_events) == {
        "doc": NUM_ARTICLES,
        "dropped.redirect": NUM_REDIRECTS,
        "dropped.namespace": NUM_OTHER_NS,
        "failed.truncated": 1,
    }
    kind, (reason, detail, record) = sample_events[-1]
    assert (kind, reason) == ("failed", "truncated")
    assert "after the last complete page" in detail


def test_ids_revisions_urls_and_dates(sample_events):
    docs = [v for k, v in sample_events if k == "doc"]
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        page_id = doc["id"].removeprefix("jawiki/")
        assert page_id.isdigit()
        m = re.fullmatch(r"jawiki:page=(\d+):rev=(\d+)", doc["source_ref"])
        assert m and m.group(1) == page_id, doc["source_ref"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["crawl_date"])
        assert doc["url"] == "https://ja.wikipedia.org/wiki/" + doc["title"].replace(" ", "_")
        assert doc["source"] == "wikipedia" and doc["charset"] is None and doc["lang"] is None
    first = docs[0]
    assert (first["id"], first["title"], first["source_ref"], first["crawl_date"]) == (
        "jawiki/5",
        "アンパサンド",
        "jawiki:page=5:rev=89167474",
        "2022-04-23T02:25:36Z",
    )
    by_title = {d["title"]: d for d in docs}
    assert by_title["日本語"]["text"].startswith(
        "日本語（にほんご、にっぽんご）は、主に日本国内や、日本人同士の間で使用されている言語で、"
        "事実上日本の唯一の公用語である。\n"
    )


def test_no_markup_left_and_cut_sections_gone(sample_events):
    for kind, doc in sample_events:
        if kind != "doc":
            continue
        for marker in ("{{", "[[", "<ref", "{|"):
            assert marker not in doc["text"], (doc["title"], marker)
        assert not set(doc["text"].split("\n")) & set(CFG.cut_sections), doc["title"]


def test_dropped_pages_carry_identity_and_reason(sample_events):
    dropped = [v for k, v in sample_events if k == "dropped"]
    redirect = next(r for reason, _d, r in dropped if reason == "redirect")
    assert redirect["id"].startswith("jawiki/") and redirect["title"] and redirect["source_ref"]
    details = {d for reason, d, _r in dropped if reason == "namespace"}
    assert details == {"ns=4", "ns=12", "ns=102"}


def test_config_namespaces_decide_what_is_an_article(sample_events):
    wide = list(iter_wikipedia(str(SAMPLE), WikipediaConfig(namespaces=(0, 4))))
    counts = outcomes(wide)
    assert counts["dropped.namespace"] == 3  # ns 12 (2 pages) and ns 102 (1)
    assert counts["doc"] + counts["dropped.redirect"] + counts.get("dropped.empty", 0) == NUM_PAGES - 3


def test_gzip_and_plain_xml_give_the_same_documents(tmp_path, sample_events, sample_xml):
    expected = [v for k, v in sample_events if k == "doc"]
    gz = tmp_path / "jawiki-sample.xml.gz"
    gz.write_bytes(gzip.compress(sample_xml))
    plain = tmp_path / "jawiki-sample.xml"
    plain.write_bytes(sample_xml + b"</mediawiki>\n")  # completed: no truncation this time
    gz_events = list(iter_wikipedia(str(gz), CFG))
    plain_events = list(iter_wikipedia(str(plain), CFG))
    assert [v for k, v in gz_events if k == "doc"] == expected
    assert [v for k, v in plain_events if k == "doc"] == expected
    assert outcomes(gz_events)["failed.truncated"] == 1
    assert "failed.truncated" not in outcomes(plain_events)
    assert len(plain_events) == NUM_PAGES


def test_tiny_chunks_split_anywhere_give_the_same_events(sample_xml, sample_events):
    chunks = (sample_xml[i : i + 4093] for i in range(0, len(sample_xml), 4093))
    assert list(iter_pages(chunks, CFG, fallback_dbname="x")) == sample_events


def test_cut_inside_a_page_keeps_the_pages_before_it(tmp_path, sample_xml):
    starts = [m.start() for m in re.finditer(rb"<page>", sample_xml)]
    cut = sample_xml[: starts[100] + 4000]  # inside the 101st page's text
    path = tmp_path / "cut.xml"
    path.write_bytes(cut)
    events = list(iter_wikipedia(str(path), CFG))
    assert len(events) == 101  # 100 complete pages + the damaged one
    kind, (reason, detail, record) = events[-1]
    assert (kind, reason) == ("failed", "truncated")
    assert "inside page" in detail and record["title"] and record["id"].startswith("jawiki/")


def test_truncated_bz2_stream_keeps_the_decompressed_pages(tmp_path):
    data = SAMPLE.read_bytes()
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(data[: len(data) * 6 // 10])
    events = list(iter_wikipedia(str(path), CFG))
    kind, (reason, detail, _record) = events[-1]
    assert (kind, reason) == ("failed", "truncated")
    assert "compressed stream ended early" in detail
    assert 50 < len(events) - 1 < NUM_PAGES  # whole 900 kB bz2 blocks before the cut came through
    assert all(k != "failed" for k, _ in events[:-1])


def test_malformed_xml_is_a_failure_not_a_crash(tmp_path, sample_xml):
    starts = [m.start() for m in re.finditer(rb"<page>", sample_xml)]
    broken = sample_xml[: starts[3]] + b"<page><title>x</titel></page>" + sample_xml[starts[3] :]
    path = tmp_path / "broken.xml"
    path.write_bytes(broken)
    events = list(iter_wikipedia(str(path), CFG))
    assert len(events) == 4
    assert events[-1][0] == "failed" and events[-1][1][0] == "bad_xml"


def test_edge_cases_file():
    events = list(iter_wikipedia(str(EDGE_CASES), CFG))
    summary = [(k, v["id"] if k == "doc" else v[0]) for k, v in events]
    assert summary == [
        ("doc", "jawiki/5"),
        ("doc", "jawiki/7"),
        ("dropped", "redirect"),  # "#転送" text without a <redirect> element
        ("dropped", "empty"),  # only templates, a table and a category
        ("dropped", "content_model"),
        ("dropped", "namespace"),
        ("failed", "bad_page"),  # no revision
    ]
    assert events[0][1]["text"] == "アンパサンド（&, ampersand）は、並立助詞「…と…」を意味する記号である。"
    assert events[1][1]["url"] == "https://ja.wikipedia.org/wiki/A_&_B%3F_100%25"


def test_exports_without_ns_elements_take_the_namespace_from_the_title_prefix():
    xml = EDGE_CASES.read_bytes()
    old_schema = re.sub(rb"\s*<ns>\d+</ns>", b"", xml)
    assert b"<ns>" not in old_schema
    assert list(iter_pages([old_schema], CFG)) == list(iter_pages([xml], CFG))


def test_page_url_escapes_only_what_breaks_a_url():
    assert page_url("https://ja.wikipedia.org/wiki/", "C++ (プログラミング言語)") == (
        "https://ja.wikipedia.org/wiki/C++_(プログラミング言語)"
    )
    assert page_url(None, "x") is None


def test_cleaner_exception_fails_one_page_only(monkeypatch):
    real = rw.clean_wikitext

    def flaky(text, **kwargs):
        if "'''アンパサンド'''は" in text:
            raise RuntimeError("boom")
        return real(text, **kwargs)

    monkeypatch.setattr(rw, "clean_wikitext", flaky)
    counts = outcomes(iter_wikipedia(str(EDGE_CASES), CFG))
    assert counts["failed.RuntimeError"] == 1 and counts["doc"] == 1


def test_dofn_counters_reconcile_through_fnapi_runner(tmp_path, sample_xml):
    cut = tmp_path / "cut.xml"
    starts = [m.start() for m in re.finditer(rb"<page>", sample_xml)]
    cut.write_bytes(sample_xml[: starts[10] + 500])  # 10 pages + a damaged one
    inputs = [str(SAMPLE), str(EDGE_CASES), str(cut), str(tmp_path / "missing.xml.bz2")]
    p = TestPipeline(runner="FnApiRunner")
    out = p | beam.Create(inputs) | beam.ParDo(ReadWikipedia(CFG)).with_outputs(REJECTS, main="docs")
    num_docs_cut = sum(1 for k, _ in iter_wikipedia(str(cut), CFG) if k == "doc")
    num_docs = NUM_ARTICLES + 2 + num_docs_cut
    assert_that(out.docs | beam.combiners.Count.Globally(), equal_to([num_docs]), label="docs")
    assert_that(
        out[REJECTS] | beam.Map(lambda r: r["reason"]) | beam.combiners.Count.PerElement(),
        equal_to(
            [
                ("redirect", NUM_REDIRECTS + 1),
                ("namespace", NUM_OTHER_NS + 1 + (10 - num_docs_cut)),
                ("empty", 1),
                ("content_model", 1),
                ("bad_page", 1),
                ("truncated", 2),
                ("unreadable", 1),
            ]
        ),
        label="rejects",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(MetricsFilter().with_namespace("jpcorpus.read_wikipedia"))["counters"]
    }
    num_removed = sum(v for k, v in counters.items() if k.startswith(("dropped.", "failed.")))
    assert counters["in"] == counters["out"] + num_removed
    assert counters["out"] == num_docs
    assert counters["in"] == NUM_PAGES + 1 + 7 + 11 + 1
    assert counters["failed.truncated"] == 2 and counters["failed.unreadable"] == 1
