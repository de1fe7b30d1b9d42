"""pipeline.predetect: Japanese pre-detection on real Japanese/Chinese/CC pages, and the decode/predetect DoFns."""

from __future__ import annotations

import io
from dataclasses import replace

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import PipelineConfig, PredetectConfig, WarcConfig
from pipeline.decode import decode_html
from pipeline.predetect import Decode, Predetect, html_lang, html_stages, looks_japanese
from pipeline.read_warc import iter_warc
from pipeline.stage import CountedStage
from tests.conftest import TEST_DATA

CFG = PredetectConfig()
HTML = TEST_DATA / "html"
WARC = TEST_DATA / "warc"


def html_records(name: str) -> list[dict]:
    data = (WARC / name).read_bytes()
    return [o.record for o in iter_warc(io.BytesIO(data), name, WarcConfig()) if o.kind == "html"]


def page(path: str) -> str:
    return decode_html((HTML / path).read_bytes()).text


def test_japanese_pages_are_kept_with_their_signal():
    assert looks_japanese(page("nhk.or.jp.k100.html"), CFG) == (True, "title_kana")
    for rec in html_records("clueweb09_ja_head4.warc.gz"):
        assert looks_japanese(decode_html(rec["payload"], rec["http_charset"]).text, CFG) == (True, "title_kana")
    # Feeds without a <title> element but with Japanese body text.
    assert looks_japanese(page("CP932/www2.chuo-u.ac.jp-suishin.xml"), CFG) == (True, "kana_density")
    assert looks_japanese(page("iso-2022-jp/_ude_1.txt"), CFG) == (True, "kana_density")
    assert looks_japanese(page("EUC-JP/_mozilla_bug426271_text-euc-jp.html"), CFG) == (True, "lang_ja")


def test_chinese_and_other_cc_pages_are_skipped():
    keep, reason = looks_japanese(page("chinese_article_002.html"), CFG)
    assert not keep and "kana=0" in reason
    for rec in html_records("cc2020_head13.warc.gz") + html_records("whirlwind_CC-MAIN-2024-22.warc.gz"):
        assert not looks_japanese(decode_html(rec["payload"], rec["http_charset"]).text, CFG)[0], rec["url"]


def test_each_signal_and_its_threshold():
    nhk = page("nhk.or.jp.k100.html")
    assert html_lang('<html lang="ja-JP">') == "ja" and html_lang("<html xml:lang='JA'>") == "ja"
    assert html_lang('<meta http-equiv="Content-Language" content="ja">') == "ja"
    assert looks_japanese('<html lang="ja"><body>short</body></html>', CFG) == (True, "lang_ja")
    # A template's lang="en" is not a negative: the kana decide.
    assert looks_japanese(nhk.replace("<html", '<html lang="en"', 1), CFG)[0]
    # Title kana, entity-escaped.
    assert looks_japanese("<title>&#12491;&#12517;&#12540;&#12473;</title>", CFG) == (True, "title_kana")
    assert not looks_japanese("<title>香港の新聞</title>", CFG)[0]  # one kana (の) in a Chinese title is not enough
    # Density: the same body passes or fails with the ratio threshold; the kana count gate comes first.
    body = "<body>" + "日本語の文章です。" * 10 + "</body>"  # 30 kana, 50 kanji
    assert looks_japanese(body, CFG) == (True, "kana_density")
    assert not looks_japanese(body, replace(CFG, min_kana_ratio=0.9))[0]
    assert not looks_japanese(body, replace(CFG, min_kana_chars=1000))[0]
    chinese_with_stray_kana = "<body>" + "这是中文的文章，没有日语の。" * 200 + "</body>"  # の: 200 of 2,400
    keep, reason = looks_japanese(chinese_with_stray_kana, CFG)
    assert not keep and "ratio=0.083" in reason


def test_decode_and_predetect_dofns_count_and_reshape_records():
    records = html_records("cc2020_head13.warc.gz") + html_records("clueweb09_ja_head4.warc.gz")
    undecodable = dict(records[0], id="cc/undecodable", payload=bytes(range(128, 256)) * 40, http_charset="utf-8")
    p = TestPipeline(runner="FnApiRunner")
    pcoll = p | beam.Create(records + [undecodable])
    rejects = []
    for dofn in html_stages(PipelineConfig()):
        pcoll, rej = pcoll | f"Stage_{dofn.stage}" >> CountedStage(dofn)
        rejects.append(rej)
    assert_that(
        pcoll | beam.Map(lambda r: (r["source_ref"], r["charset"], sorted(r), "ヘッドポーター" in r["html"])),
        equal_to(
            [
                (
                    f"clueweb09_ja_head4.warc.gz@{o}",
                    "euc_jp",
                    ["charset", "content_type", "crawl_date", "html", "id", "source", "source_ref", "url"],
                    True,
                )
                for o in (317, 9348, 18394)
            ]
        ),
    )
    assert_that(
        rejects | "AllRejects" >> beam.Flatten() | beam.Map(lambda r: (r["stage"], r["reason"])),
        equal_to([("decode", "decode")] + [("predetect", "not_japanese")] * 4),
        label="rejects",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        (r.key.metric.namespace, r.key.metric.name): r.committed
        for r in result.metrics().query(MetricsFilter())["counters"]
        if r.key.metric.namespace.startswith("jpcorpus.")
    }
    assert counters[("jpcorpus.decode", "in")] == 8 and counters[("jpcorpus.decode", "out")] == 7
    assert counters[("jpcorpus.decode", "failed.decode")] == 1
    assert counters[("jpcorpus.decode", "stats.charset_from_http")] == 6
    assert counters[("jpcorpus.predetect", "in")] == 7 and counters[("jpcorpus.predetect", "out")] == 3
    assert counters[("jpcorpus.predetect", "dropped.not_japanese")] == 4
    assert counters[("jpcorpus.predetect", "stats.title_kana")] == 3


def test_predetect_can_be_disabled():
    stages = html_stages(replace(PipelineConfig(), predetect=replace(CFG, enabled=False)))
    assert [type(s) for s in stages] == [Decode]
    assert [type(s) for s in html_stages(PipelineConfig())] == [Decode, Predetect]
