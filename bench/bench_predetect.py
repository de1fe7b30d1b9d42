"""Benchmark: Japanese pre-detection in front of trafilatura, on a real-page WARC with about 5% Japanese pages.

Builds a WARC of HTTP 200 HTML responses from /work/shared/data: real Japanese pages (news articles, Shift_JIS /
CP932 / EUC-JP pages and feeds, ClueWeb09 EUC-JP records) and real non-Japanese pages (the Chinese pages and every
HTML response of the CC 2020/2024 samples), the non-Japanese ones repeated until Japanese pages are ~5% of records,
as in a Common Crawl snapshot. Then, in this one process (so the ratios hold), one core:

  A  the whole HTML path with pre-detection: read_warc -> decode -> predetect -> extract (sandboxed trafilatura)
  B  the same path without pre-detection: every page is extracted
  C  trafilatura alone (in-process) on every page of the same records, decoded beforehand

and reports records/s of each, the speed-up A/B (target >= 10x), how many records pre-detection skips, and how
many true Japanese pages it loses (target < 2%). Then peak RSS of the Beam map stages (ReadWarc -> Decode ->
Predetect -> Extract on FnApiRunner) for the input repeated 1x, 4x, 16x, each size in a fresh subprocess
(must stay flat).

    .venv/bin/python bench/bench_predetect.py [--ja-pages 20] [--sizes 1 4 16]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.decode import decode_html  # noqa: E402
from pipeline.extract import ExtractorSandbox, extract_html  # noqa: E402
from pipeline.predetect import looks_japanese  # noqa: E402
from pipeline.read_warc import iter_warc, read_warc_file  # noqa: E402

DATA = Path("/work/shared/data")
JA_FILES = (
    "readability/hukumusume/source.html",
    "readability/yahoo-4/source.html",
    "trafilatura_eval/nhk.or.jp.k100.html",
    "newspaper4k/japanese_article.html",
    "newspaper4k/japanese_article2.html",
    "extractcontent_go/test01_nhk.html",
    "extractcontent_go/test02_wikipedia.html",
    "chardet_feeds/SHIFT_JIS/_chromium_Shift-JIS_with_no_encoding_specified.html",
    "chardet_feeds/CP932/www2.chuo-u.ac.jp-suishin.xml",
    "chardet_feeds/EUC-JP/_mozilla_bug426271_text-euc-jp.html",
    "chardet_feeds/EUC-JP/_mozilla_bug620106_text.html",
    "chardet_feeds/EUC-JP/manana.moo.jp.xml",
    "chardet_feeds/SHIFT_JIS/ooganemochi.com.xml",
)
OTHER_FILES = (
    "readability/gmw/source.html",
    "readability/qq/source.html",
    "readability/pixnet/source.html",
    "readability/youth/source.html",
    "trafilatura_eval/xinhuanet.com.c_1125597921.html",
    "trafilatura_eval/banyuetan.org.1000200033136171577956287380194268_1.html",
    "trafilatura_eval/baike.baidu.com.tanya.html",
    "trafilatura_eval/archive.org.he.xinhuanet.com.25340717.html",
    "newspaper4k/chinese_article.html",
    "newspaper4k/chinese_article_001.html",
    "newspaper4k/chinese_article_002.html",
)
CC_WARCS = ("warc_real/resiliparse_CC-MAIN-2020-34_sample.warc.gz", "warc_real/whirlwind_CC-MAIN-2024-22.warc.gz")
CLUEWEB = "warc_real/resiliparse_clueweb09-ja_quirk.warc.gz"


def _make_sample_module():
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "demo" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_mix(num_ja: int, ja_share: float) -> tuple[bytes, set[str]]:
    """A WARC of HTML responses, ``num_ja`` Japanese; returns the bytes and the URLs of the Japanese records."""
    ms = _make_sample_module()
    cfg = PipelineConfig().warc
    ja_pages: list[tuple[str, bytes]] = [(f"ja:{p}", (DATA / "ja_html_pages" / p).read_bytes()) for p in JA_FILES]
    for o in iter_warc(io.BytesIO((DATA / CLUEWEB).read_bytes()), "cw", cfg):
        if o.kind == "html":
            ja_pages.append((f"ja:{o.record['url']}", o.record["payload"]))
    other: list[tuple[str, bytes]] = [(f"other:{p}", (DATA / "ja_html_pages" / p).read_bytes()) for p in OTHER_FILES]
    for path in CC_WARCS:
        for o in iter_warc(io.BytesIO((DATA / path).read_bytes()), "cc", cfg):
            if o.kind == "html":
                other.append((f"other:{o.record['url']}", o.record["payload"]))
    ja_pages = ja_pages[:num_ja]
    num_other = round(len(ja_pages) * (1 - ja_share) / ja_share)
    members, ja_urls = [], set()
    # Interleave: one Japanese page after every (num_other / num_ja) others, as they would be spread in a crawl.
    step = num_other / len(ja_pages)
    j = 0
    for i in range(num_other):
        key, body = other[i % len(other)]
        url = f"http://bench.invalid/{i}/{key}"
        members.append(ms.http_response(url, url, body, "text/html"))
        if j < len(ja_pages) and i >= j * step:
            key, body = ja_pages[j]
            url = f"http://bench.invalid/ja{j}/{key}"
            ja_urls.add(url)
            members.append(ms.http_response(url, url, body, "text/html"))
            j += 1
    return b"".join(members), ja_urls


def html_path(path: str, cfg: PipelineConfig, predetect: bool, sandbox: ExtractorSandbox) -> dict:
    num_records = num_skipped = num_extracted = num_docs = 0
    kept_urls = set()
    start = time.perf_counter()
    for o in read_warc_file(path, cfg.warc):
        num_records += 1
        if o.kind != "html":
            continue
        html = decode_html(o.record["payload"], o.record["http_charset"]).text
        if predetect:
            keep, _ = looks_japanese(html, cfg.predetect)
            if not keep:
                num_skipped += 1
                continue
            kept_urls.add(o.record["url"])
        text, _ = sandbox.extract(html, o.record["url"])
        num_extracted += 1
        num_docs += bool(text)
    wall_s = time.perf_counter() - start
    return {
        "records": num_records,
        "skipped": num_skipped,
        "extracted": num_extracted,
        "docs": num_docs,
        "wall_s": wall_s,
        "records_per_s": num_records / wall_s,
        "kept_urls": kept_urls,
    }


def trafilatura_alone(path: str, cfg: PipelineConfig) -> dict:
    pages = [
        (decode_html(o.record["payload"], o.record["http_charset"]).text, o.record["url"])
        for o in read_warc_file(path, cfg.warc)
        if o.kind == "html"
    ]
    start = time.perf_counter()
    for html, url in pages:
        extract_html(html, url, cfg.extract)
    wall_s = time.perf_counter() - start
    return {"records": len(pages), "wall_s": wall_s, "records_per_s": len(pages) / wall_s}


def vm_hwm_mib(pid: str = "self") -> float:
    """Peak RSS of one process from /proc (VmHWM). Not ``ru_maxrss``: Linux carries a forking parent's peak
    into the child's ``ru_maxrss`` across exec, which would charge this bench's own memory to the stages."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # the process is gone
        pass
    return 0.0


def _watch_children(peak: dict[str, float], stop: threading.Event) -> None:
    """Record the largest VmHWM of this process's children (the extraction worker) until ``stop``."""
    while not stop.wait(0.1):
        for children in Path("/proc/self/task").glob("*/children"):
            for pid in children.read_text().split():
                peak["worker"] = max(peak["worker"], vm_hwm_mib(pid))


def rss_child(path: str) -> None:
    """Run the map stages on FnApiRunner over ``path``; print peak RSS of this process and of its children."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.extract import Extract
    from pipeline.predetect import html_stages
    from pipeline.read_warc import TEXT, ReadWarc
    from pipeline.stage import REJECTS, CountedStage

    cfg = PipelineConfig()
    peak = {"worker": 0.0}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_children, args=(peak, stop), daemon=True)
    watcher.start()
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        html = (p | beam.Create([path]) | beam.ParDo(ReadWarc(cfg.warc)).with_outputs(TEXT, REJECTS, main="html")).html
        for dofn in html_stages(cfg):
            html, _ = html | f"Stage_{dofn.stage}" >> CountedStage(dofn)
        docs, _ = html | "Stage_extract" >> CountedStage(Extract(cfg.extract))
        _ = docs | beam.combiners.Count.Globally()
    wall_s = time.perf_counter() - start
    stop.set()
    watcher.join()
    print(json.dumps({"rss_mib": vm_hwm_mib(), "worker_rss_mib": peak["worker"], "wall_s": wall_s}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ja-pages", type=int, default=20, help="Japanese pages in the mix")
    parser.add_argument("--ja-share", type=float, default=0.05, help="share of Japanese records")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 4, 16], help="input repeats for the RSS runs")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    cfg = PipelineConfig()
    with tempfile.TemporaryDirectory() as tmp:
        data, ja_urls = build_mix(args.ja_pages, args.ja_share)
        mix = Path(tmp) / "mix.warc.gz"
        mix.write_bytes(data)
        sandbox = ExtractorSandbox(cfg.extract)
        sandbox.extract("<html><body><p>warm-up</p></body></html>", None)  # worker start-up is not per-record cost
        with_pd = html_path(str(mix), cfg, True, sandbox)
        without_pd = html_path(str(mix), cfg, False, sandbox)
        sandbox.close()
        alone = trafilatura_alone(str(mix), cfg)
        num_lost = len(ja_urls - with_pd["kept_urls"])
        num_false_pos = len(with_pd["kept_urls"] - ja_urls)

        share = len(ja_urls) / with_pd["records"]
        print(f"mix: {with_pd['records']} HTML records, {len(ja_urls)} Japanese ({share:.1%}),"
              f" {len(data) / 1e6:.1f} MB WARC; one core, same process")  # fmt: skip
        print(f"{'run':<44} {'records':>8} {'extracted':>9} {'wall s':>8} {'records/s':>10}")
        for name, r in (
            ("A read->decode->predetect->extract", with_pd),
            ("B read->decode->extract (no predetect)", without_pd),
            ("C trafilatura alone (pre-decoded)", alone),
        ):
            print(f"{name:<44} {r['records']:>8} {r.get('extracted', r['records']):>9} {r['wall_s']:>8.1f}"
                  f" {r['records_per_s']:>10.1f}")  # fmt: skip
        print(f"speed-up A/B: {with_pd['records_per_s'] / without_pd['records_per_s']:.1f}x (target >= 10x); "
              f"A vs trafilatura alone: {with_pd['records_per_s'] / alone['records_per_s']:.1f}x")  # fmt: skip
        print(f"pre-detection skipped {with_pd['skipped']} of {with_pd['records']} records "
              f"({with_pd['skipped'] / with_pd['records']:.1%}); lost {num_lost} of {len(ja_urls)} Japanese pages "
              f"({num_lost / len(ja_urls):.1%}, target < 2%); kept {num_false_pos} non-Japanese records")  # fmt: skip

        print("\npeak RSS of ReadWarc->Decode->Predetect->Extract on FnApiRunner (fresh process per size)")
        print(f"{'input':>6} {'records':>8} {'MB':>7} {'driver RSS MiB':>15} {'worker RSS MiB':>15} {'wall s':>7}")
        for size in args.sizes:
            big = Path(tmp) / f"mix_x{size}.warc.gz"
            with big.open("wb") as f:  # gzip members concatenate into a valid multi-record WARC
                for _ in range(size):
                    f.write(data)
            out = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(big)], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{size:>5}x {with_pd['records'] * size:>8} {len(data) * size / 1e6:>7.1f} {r['rss_mib']:>15.0f}"
                  f" {r['worker_rss_mib']:>15.0f} {r['wall_s']:>7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
