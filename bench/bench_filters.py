"""Filter throughput and preset comparison on real Japanese text.

    .venv/bin/python bench/bench_filters.py [--docs 2000] [--examples-out bench_filters_examples.md] [--json out.json]

1. Throughput (one process = one core): documents/s for each filter alone and for the full default plan
   (clean-up + scoring + decision + PII), on 2,000-character documents cut from Aozora Bunko (markup stripped)
   and the jawiki sample (cleaned by pipeline/wikitext.py). The issue's target is >= 2,000 docs/s/core for the
   full default set; the slowest filter and its share of the time are reported. The filters' numba kernels are
   compiled (or loaded from numba's on-disk cache) by one warm-up batch before any timing; the warm-up and the
   cost of compiling everything from scratch (a fresh process with an empty cache) are printed, not timed.
2. Presets side by side: documents kept by each preset on the sample corpus (Aozora + jawiki + real Japanese
   web pages: ClueWeb09-ja and ../shared/data/ja_html_pages), with the top drop reasons, and 10 random kept and
   10 random dropped examples per preset written to ``--examples-out`` for a person to judge (not asserted).

Data: /work/shared/data (see each folder's SOURCE.txt); set JPCORPUS_SHARED_DATA to point elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.apply import decide, score_document, score_documents  # noqa: E402
from filters.compression import keep_heap_between_compressions  # noqa: E402
from filters.config import FiltersConfig, build_plan  # noqa: E402
from filters.presets import PRESETS  # noqa: E402

DATA = Path(os.environ.get("JPCORPUS_SHARED_DATA", "/work/shared/data"))
DOC_CHARS = 2000


def aozora_clean(text: str) -> str:
    """Strip Aozora markup: header legend, ruby, ［＃…］ notes, ※ gaiji marks, colophon (aozora SOURCE.txt)."""
    text = re.sub(r"-{10,}.*?-{10,}\n", "", text, flags=re.S)
    text = text.split("\n底本：")[0]
    text = re.sub(r"《[^》]*》", "", text).replace("｜", "")
    text = re.sub(r"［＃[^］]*］", "", text).replace("※", "")
    return "\n".join(text.split("\n")[2:]).strip()


def chunks(text: str, size: int = DOC_CHARS) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end
        piece = text[start:end].strip()
        if len(piece) >= size // 2:
            out.append(piece)
        start = end + 1
    return out


def aozora_docs(limit_files: int) -> list[dict]:
    files = sorted(glob.glob(str(DATA / "aozora_bunko_pd" / "texts" / "*.txt")))
    rnd = random.Random(0)
    docs = []
    for f in rnd.sample(files, min(limit_files, len(files))):
        for i, piece in enumerate(chunks(aozora_clean(Path(f).read_text(encoding="utf-8")))):
            docs.append({"id": f"aozora/{Path(f).stem}#{i}", "text": piece, "url": None, "source": "aozora"})
    return docs


def wiki_docs() -> list[dict]:
    from pipeline.config import WikipediaConfig
    from pipeline.read_wikipedia import iter_wikipedia

    path = DATA / "jawiki_dump_sample" / "jawiki_pages-articles_head262.xml.bz2"
    docs = []
    for kind, obj in iter_wikipedia(str(path), WikipediaConfig()):
        if kind == "doc":
            docs.append({"id": obj["id"], "text": obj["text"], "url": obj.get("url"), "source": "wikipedia"})
    return docs


def web_docs() -> list[dict]:
    """Real Japanese web text: ClueWeb09-ja responses and ja_html_pages, through trafilatura."""
    import trafilatura
    from charset_normalizer import from_bytes
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    docs = []
    with open(DATA / "warc_real" / "resiliparse_clueweb09-ja_quirk.warc.gz", "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response):
            body = rec.reader.read()
            head_end = body.find(b"\r\n\r\n")
            best = from_bytes(body[head_end + 4 :] if head_end >= 0 else body).best()
            text = trafilatura.extract(str(best), favor_precision=True) if best else None
            if text:
                url = rec.headers.get("WARC-Target-URI")
                docs.append({"id": f"clueweb/{rec.headers.get('WARC-TREC-ID')}", "text": text, "url": url})
    root = DATA / "ja_html_pages"
    with open(root / "manifest.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["lang"] != "ja" or row["role"] not in ("input_html", "feed_or_snippet"):
                continue
            best = from_bytes((root / row["file"]).read_bytes()).best()
            if not best:
                continue
            text = trafilatura.extract(str(best), favor_precision=True) if row["role"] == "input_html" else None
            text = text or re.sub(r"[ \t]+", " ", re.sub(r"<[^>]+>", " ", str(best)))
            url = re.sub(r"\s*\(.*\)$", "", row.get("url") or "") or None
            docs.append({"id": f"html/{row['file']}", "text": text, "url": url})
    for d in docs:
        d["source"] = "web"
    return docs


def compiled_kernels() -> list:
    """The numba-compiled functions of the filters package (module-level ``@njit`` dispatchers)."""
    from numba.core.registry import CPUDispatcher

    return [
        obj
        for name, mod in list(sys.modules.items())
        if name == "filters" or name.startswith("filters.")
        for obj in vars(mod).values()
        if isinstance(obj, CPUDispatcher)
    ]


def warm_up(docs: list[dict], batch_docs: int) -> dict:
    """Run the default plan once on one batch before any timing, so that no timed pass pays for numba compiling
    the filters' kernels (or loading them from its on-disk cache, filters/__pycache__); returns what it cost."""
    plan = build_plan(FiltersConfig())
    wall, cpu = time.perf_counter(), time.process_time()
    batch = [dict(d) for d in docs[:batch_docs]]
    for step in plan.cleanup:
        batch = [{**d, "text": step.apply(d["text"])[0]} for d in batch]
    for columns in score_documents(plan.scored, batch):
        decide(plan.filters, columns)
    kernels = compiled_kernels()
    return {
        "num_kernels": len(kernels),
        "num_compiled": sum(sum(k.stats.cache_misses.values()) for k in kernels),
        "num_from_cache": sum(sum(k.stats.cache_hits.values()) for k in kernels),
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }


def cold_compile_seconds(docs: list[dict], batch_docs: int) -> float:
    """Wall seconds of :func:`warm_up` in a fresh process with an empty numba cache: the first run on a machine."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cache_dir:
        code = (
            "import json, sys; sys.argv = ['bench_filters']; import bench_filters as b; "
            f"print(json.dumps(b.warm_up(json.load(sys.stdin), {batch_docs})))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(docs[:batch_docs]),
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            env={**os.environ, "NUMBA_CACHE_DIR": cache_dir},
        )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["num_from_cache"] == 0, report
    return report["wall_s"]


def throughput(docs: list[dict], min_seconds: float, batch_docs: int) -> dict:
    """Documents per CPU-second (= per core) of each step and of the whole set, as the quality stage runs them.

    Timed with ``time.process_time()``: CPU seconds of this process, so other work on the machine does not count
    (it still costs caches). Filters score batches of ``batch_docs`` documents (the quality stage's batch size,
    pipeline/stage.py BatchedCountedDoFn); each timed pass gets fresh string objects so no memo turns a repeat
    into a cache hit.
    """
    plan = build_plan(FiltersConfig())
    results = {}

    def rate(fn) -> float:
        n, start = 0, time.process_time()
        while True:
            fresh = [{**d, "text": d["text"] + " "} for d in docs]  # new strings, same content (plus one space)
            batches = [fresh[i : i + batch_docs] for i in range(0, len(docs), batch_docs)]
            for batch in batches:
                fn(batch)
            n += len(docs)
            elapsed = time.process_time() - start
            if elapsed >= min_seconds:
                return n / elapsed

    for f in plan.scored:
        results[f.name] = rate(lambda b, f=f: f.score_batch(tuple(d[f.input_field] for d in b)))
    for step in plan.cleanup:
        results[f"cleanup:{step.name}"] = rate(lambda b, s=step: [s.apply(d["text"]) for d in b])
    results["pii_v1"] = rate(lambda b: [plan.pii.mask(d["text"]) for d in b])

    def filter_set(batch):
        for columns in score_documents(plan.scored, batch):
            decide(plan.filters, columns)

    def full(batch):
        cleaned = []
        for d in batch:
            text = d["text"]
            for step in plan.cleanup:
                text, _ = step.apply(text)
            cleaned.append({**d, "text": text})
        for d, columns in zip(cleaned, score_documents(plan.scored, cleaned), strict=True):
            if not decide(plan.filters, columns):
                plan.pii.mask(d["text"])

    results["FILTER_SET"] = rate(filter_set)
    results["FULL_DEFAULT"] = rate(full)
    # baseline in the same process: zlib level 9 of each document's UTF-8, a C-bound cost every reader of the text
    # pays in some form; the ratio FULL_DEFAULT / baseline is comparable across machines and load
    results["BASELINE_zlib9"] = rate(lambda b: [zlib.compress(d["text"].encode("utf-8"), 9) for d in b])
    return results


def compare_presets(corpus: list[dict], examples_out: Path | None, seed: int) -> dict:
    table = {}
    lines = ["# Preset examples (10 random kept / 10 random dropped per preset; for a person to judge)\n"]
    rnd = random.Random(seed)
    for name in PRESETS:
        plan = build_plan(FiltersConfig(preset=name))
        kept, dropped, reasons = [], [], Counter()
        by_source: Counter = Counter()
        for d in corpus:
            text = d["text"]
            for step in plan.cleanup:
                text, _ = step.apply(text)
            if not text.strip():
                dropped.append((d, "empty_after_cleanup"))
                reasons["empty_after_cleanup"] += 1
                continue
            failed = decide(plan.filters, score_document(plan.filters, {**d, "text": text}))
            if failed:
                dropped.append((d, failed[0][0]))
                reasons[failed[0][0]] += 1
            else:
                kept.append(d)
                by_source[d["source"]] += 1
        table[name] = {
            "kept": len(kept),
            "of": len(corpus),
            "kept_by_source": dict(by_source),
            "top_drop_reasons": reasons.most_common(6),
        }
        lines.append(f"\n## {name}: kept {len(kept)} of {len(corpus)}\n")
        for label, items in (("kept", [(d, "") for d in kept]), ("dropped", dropped)):
            lines.append(f"\n### {label}\n")
            for d, why in rnd.sample(items, min(10, len(items))):
                head = d["text"][:300].replace("\n", " ⏎ ")
                lines.append(f"- `{d['id']}` {('**' + why + '**') if why else ''}\n  > {head}\n")
    if examples_out:
        examples_out.write_text("".join(lines), encoding="utf-8")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000, help="2,000-character documents for the throughput test")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="minimum timing per measurement")
    ap.add_argument("--examples-out", type=Path, help="markdown file for the per-preset kept/dropped examples")
    ap.add_argument("--json", type=Path, help="write all figures as JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--batch-docs", type=int, default=16, help="documents per scoring batch (the quality stage uses 16)"
    )
    args = ap.parse_args(argv)

    aozora = aozora_docs(limit_files=200)
    wiki = wiki_docs()
    bench_docs = [d for d in aozora] + [
        {**d, "text": piece} for d in wiki for piece in chunks(d["text"]) if len(piece) >= DOC_CHARS // 2
    ]
    random.Random(args.seed).shuffle(bench_docs)
    bench_docs = bench_docs[: args.docs]
    mean_chars = sum(len(d["text"]) for d in bench_docs) / len(bench_docs)
    print(
        f"throughput on {len(bench_docs)} documents, mean {mean_chars:.0f} characters (Aozora + jawiki), "
        f"batches of {args.batch_docs}, documents per CPU-second"
    )
    heap_kept = keep_heap_between_compressions()  # as the quality stage's setup() does in its worker processes
    print(
        "glibc heap kept between zlib calls (pipeline/quality.py Quality.setup does the same): "
        + ("yes" if heap_kept else "not applicable here")
    )
    cold_s = cold_compile_seconds(bench_docs, args.batch_docs)
    warm = warm_up(bench_docs, args.batch_docs)
    warm["cold_compile_wall_s"] = cold_s
    print(
        f"warm-up before timing (not in any figure): {warm['num_kernels']} numba kernels, "
        f"{warm['num_compiled']} compiled, {warm['num_from_cache']} loaded from numba's cache, "
        f"{warm['wall_s']:.2f} s wall ({warm['cpu_s']:.2f} CPU-s); "
        f"compiling them all from scratch (empty cache, fresh process): {cold_s:.1f} s wall"
    )
    rates = throughput(bench_docs, args.min_seconds, args.batch_docs)
    full, filter_set = rates["FULL_DEFAULT"], rates["FILTER_SET"]
    totals = ("FULL_DEFAULT", "FILTER_SET", "BASELINE_zlib9")
    per_doc_us = {k: 1e6 / v for k, v in rates.items() if k not in totals}
    total_us = sum(per_doc_us.values())
    for k, v in sorted(rates.items(), key=lambda kv: kv[1]):
        share = f"{100 * per_doc_us[k] / total_us:5.1f}%" if k in per_doc_us else ""
        print(f"  {k:<36}{v:>12,.0f} docs/s  {1e6 / v:>9.1f} us/doc  {share}")
    slowest = max(per_doc_us, key=per_doc_us.get)
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; full default set costs "
        f"{rates['BASELINE_zlib9'] / full:.1f}x the zlib-9 baseline per document"
    )
    print(
        f"full default filter set (15 filters: score + decide): {filter_set:,.0f} docs/s/core (target >= 2,000); "
        f"with the clean-up steps and PII masking as well: {full:,.0f} docs/s/core"
    )
    print(
        f"slowest step {slowest} ({per_doc_us[slowest]:.0f} us/doc, "
        f"{100 * per_doc_us[slowest] / total_us:.0f}% of the summed step time)"
    )

    corpus = aozora_docs(limit_files=60) + wiki + web_docs()
    print(f"\npresets on the sample corpus ({len(corpus)} documents: Aozora chunks, jawiki articles, web pages)")
    table = compare_presets(corpus, args.examples_out, args.seed)
    for name, row in table.items():
        reasons = ", ".join(f"{r}={n}" for r, n in row["top_drop_reasons"])
        kept = f"kept {row['kept']:>4}/{row['of']}  by source {row['kept_by_source']}"
        print(f"  {name:<14} {kept}  top drops: {reasons}")
    if args.examples_out:
        print(f"examples: {args.examples_out}")
    if args.json:
        payload = {"throughput_docs_per_s": rates, "warm_up": warm, "glibc_heap_kept": heap_kept, "presets": table}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
