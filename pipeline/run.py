"""``jpcorpus build``: raw inputs -> Japanese documents -> sharded Parquet, as one Apache Beam pipeline.

    files --ReadWarc--> html records --Decode/Predetect--> --Reshuffle--> --Extract--> documents
          \\-> WET text -----------------------------------------------------------/      |
    files --ReadWikipedia-------------------------------------------------------------> documents
    files --ReadText (JSONL/Parquet) -------------------------------------------------> documents
    documents --LangId--> cleanup --> quality --> [post_cleanup] --> pii --> Dedup --> WriteShards(shards/)
    every stage's rejects --> WriteShards(rejects/)

Only this module builds a ``Pipeline``; each step is a composite or DoFn from its own module. Counts come from
Beam metrics and are reconciled per stage in ``manifest.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from filters.config import build_plan
from jpcorpus.config import replace_dotted, to_dict
from jpcorpus.errors import UsageError
from pipeline import manifest as mf
from pipeline.beam_fixes import (
    DEFAULT_MAX_BUNDLE_BYTES,
    LOCAL_WORKER_ENV,
    patch_bounded_local_bundles,
    patch_time_based_flush_race,
)
from pipeline.config import PipelineConfig, load_pipeline_config
from pipeline.dedup import Dedup, dedup_fields, dedup_stage_names
from pipeline.formats import detect_format, expand_inputs
from pipeline.langid import LangId
from pipeline.quality import format_funnel, quality_fields, quality_funnel, quality_stages
from pipeline.read_text import ReadText
from pipeline.schema import REJECT_SCHEMA, doc_schema
from pipeline.stage import REJECTS, CountedStage, LogProgress
from pipeline.write_parquet import WriteShards, prepare_output_dir, reject_sort_key

log = logging.getLogger(__name__)

SHARDS, REJECTS_DIR = "shards", "rejects"
READER_STAGES = ("read_warc", "read_wikipedia", "read_text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATTERN",
        help="files, directories or globs (local, gs://, s3://, ...); format detected by content",
    )
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="output directory (shards/, rejects/, manifest.json)"
    )
    parser.add_argument("--config", metavar="FILE.toml", help="pipeline config (default: built-in defaults)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="local multi-process mode with N worker processes (sets --direct_num_workers and "
        "--direct_running_mode=multi_processing); ignored by remote runners",
    )
    parser.add_argument(
        "--dedup",
        choices=("none", "exact", "minhash"),
        help="deduplication method (overrides [dedup] method in the config; default minhash)",
    )
    parser.add_argument(
        "--preset",
        help="quality-filter preset (overrides [filters] preset): default, swallow_v1, llmjp_v1, fineweb2_jpn",
    )
    parser.epilog = "Any other --flag is a Beam pipeline option (e.g. --runner=DataflowRunner --project=...)."


class LocalRunnerOptions(PipelineOptions):
    """Our options for Beam's local FnApiRunner (other runners bound their bundles themselves)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--max_local_bundle_mb",
            type=float,
            default=DEFAULT_MAX_BUNDLE_BYTES / 2**20,
            help="largest bundle input (MB) the local multi-process runner gives a worker (pipeline/beam_fixes.py)",
        )


def beam_options(extra: list[str], workers: int) -> PipelineOptions:
    patch_time_based_flush_race()  # the multi-process local runner loses elements without it (pipeline/beam_fixes.py)
    argv = list(extra)
    if not any(a == "--runner" or a.startswith("--runner=") for a in argv):
        argv.append("--runner=FnApiRunner")  # explicit: Beam's default would try to download the Prism runner
    if workers > 0:
        argv += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
        for name, value in LOCAL_WORKER_ENV.items():  # inherited by the SDK worker processes the runner starts
            os.environ.setdefault(name, value)
    options = PipelineOptions(argv)
    max_bundle_mb = options.view_as(LocalRunnerOptions).max_local_bundle_mb
    if not max_bundle_mb > 0:
        raise UsageError(f"--max_local_bundle_mb must be > 0, got {max_bundle_mb}")
    # Without it the local runner hands each worker 1/N of a stage's input as one bundle (pipeline/beam_fixes.py).
    patch_bounded_local_bundles(max(1, int(max_bundle_mb * 2**20)))
    return options


def classify_inputs(patterns: list[str]) -> dict[str, list[str]]:
    by_format: dict[str, list[str]] = {}
    for path in expand_inputs(patterns):
        by_format.setdefault(detect_format(path), []).append(path)
    return by_format


def doc_stages(cfg: PipelineConfig) -> list[Any]:
    """The 1 -> 0..1 stages applied to every document after reading, in order."""
    return [LangId(cfg.langid), *quality_stages(cfg.filters)]


def extra_fields(cfg: PipelineConfig) -> tuple:
    """Annotation columns the document stages add to the shard schema: quality scores, then dedup clusters."""
    return (*quality_fields(cfg.filters), *dedup_fields(cfg.dedup))


def build(p: beam.Pipeline, inputs: dict[str, list[str]], cfg: PipelineConfig, output_dir: str) -> list[str]:
    """Add the whole job to ``p``; returns the stage names in order (for the manifest)."""
    docs, rejects, order = [], [], []

    if inputs.get("warc"):
        from pipeline.extract import Extract
        from pipeline.predetect import html_stages
        from pipeline.read_warc import ReadWarc

        read = (
            p
            | "WarcFiles" >> beam.Create(inputs["warc"])
            | "SpreadWarcFiles" >> beam.Reshuffle()
            | "ReadWarc" >> beam.ParDo(ReadWarc(cfg.warc)).with_outputs("text", REJECTS, main="html")
        )
        rejects.append(read[REJECTS])
        docs.append(read.text)
        html = read.html | "ProgressWarc" >> beam.ParDo(LogProgress("read_warc html"))
        order.append("read_warc")
        for dofn in html_stages(cfg):
            html, rej = html | f"Stage_{dofn.stage}" >> CountedStage(dofn)
            rejects.append(rej)
            order.append(dofn.stage)
        # Only likely-Japanese pages get here; spread them over workers before the expensive extraction.
        html = html | "SpreadForExtraction" >> beam.Reshuffle()
        extracted, rej = html | "Stage_extract" >> CountedStage(Extract(cfg.extract))
        rejects.append(rej)
        docs.append(extracted)
        order.append("extract")

    if inputs.get("mediawiki_xml"):
        from pipeline.read_wikipedia import ReadWikipedia

        wiki = (
            p
            | "WikiFiles" >> beam.Create(inputs["mediawiki_xml"])
            | "ReadWikipedia" >> beam.ParDo(ReadWikipedia(cfg.wikipedia)).with_outputs(REJECTS, main="docs")
        )
        rejects.append(wiki[REJECTS])
        docs.append(wiki.docs)
        order.append("read_wikipedia")

    text_files = [(f, fmt) for fmt in ("jsonl", "parquet") for f in inputs.get(fmt, [])]
    if text_files:
        text = (
            p
            | "TextFiles" >> beam.Create(text_files)
            | "ReadText" >> beam.ParDo(ReadText()).with_outputs(REJECTS, main="docs")
        )
        rejects.append(text[REJECTS])
        docs.append(text.docs)
        order.append("read_text")

    merged = docs | "AllDocuments" >> beam.Flatten() | "ProgressDocs" >> beam.ParDo(LogProgress("documents"))
    for dofn in doc_stages(cfg):
        merged, rej = merged | f"Stage_{dofn.stage}" >> CountedStage(dofn)
        rejects.append(rej)
        order.append(dofn.stage)
    if cfg.dedup.method != "none":
        merged, rej = merged | "Dedup" >> Dedup(cfg.dedup)
        rejects.append(rej)
        order.extend(dedup_stage_names(cfg.dedup))

    _ = merged | "WriteShards" >> WriteShards(output_dir, SHARDS, doc_schema(extra_fields(cfg)), cfg.output)
    _ = (
        rejects
        | "AllRejects" >> beam.Flatten()
        | "WriteRejects" >> WriteShards(output_dir, REJECTS_DIR, REJECT_SCHEMA, cfg.output, sort_key=reject_sort_key)
    )
    return order


def input_listing(inputs: dict[str, list[str]]) -> list[dict[str, Any]]:
    listing = []
    for fmt, paths in sorted(inputs.items()):
        for path in paths:
            size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
            listing.append({"path": path, "format": fmt, "bytes": size})
    return sorted(listing, key=lambda x: x["path"])


def assemble_manifest(
    result: Any,
    order: list[str],
    cfg: PipelineConfig,
    inputs: dict[str, list[str]],
    output_dir: str,
    wall_s: float,
    options: PipelineOptions,
    config_path: str | None,
) -> dict[str, Any]:
    summary = mf.run_summary(result, order, output_dir, wall_s=wall_s, reader_stages=READER_STAGES)
    by_name = {s["name"]: s for s in summary["stages"]}
    return {
        "command": "build",
        "config_file": config_path,
        "config": to_dict(cfg),
        "beam_options": options.get_all_options(drop_default=True),
        "versions": mf.package_versions(),
        "inputs": input_listing(inputs),
        "funnel": quality_funnel(by_name["quality"], build_plan(cfg.filters)) if "quality" in by_name else [],
        **summary,
    }


def main(args: argparse.Namespace, extra: list[str]) -> int:
    cfg = load_pipeline_config(args.config)
    if args.dedup is not None:
        cfg = replace_dotted(cfg, {"dedup.method": args.dedup})
    if args.preset is not None:
        cfg = replace_dotted(cfg, {"filters.preset": args.preset})
    unknown = [a for a in extra if not a.startswith("--")]
    if unknown:
        raise UsageError(f"unexpected arguments {unknown}")
    inputs = classify_inputs(args.input)
    log.info("inputs: %s", {fmt: len(paths) for fmt, paths in sorted(inputs.items())})
    log.debug("config: %s", to_dict(cfg))  # also saved in manifest.json
    prepare_output_dir(args.output, (SHARDS, REJECTS_DIR), args.overwrite)
    options = beam_options(extra, args.workers)
    start = time.monotonic()
    p = beam.Pipeline(options=options)
    order = build(p, inputs, cfg, args.output)
    result = p.run()
    result.wait_until_finish()
    wall_s = time.monotonic() - start
    manifest = assemble_manifest(result, order, cfg, inputs, args.output, wall_s, options, args.config)
    active = [row for row in manifest["funnel"] if row["fails"] or row["dropped"]]
    details = (
        "quality funnel (rules that failed any document; all rules in manifest.json):\n" + format_funnel(active)
        if active
        else ""
    )
    return mf.publish(manifest, args.output, details)


def run(argv: list[str]) -> int:
    """Entry point for tests and scripts: ``run(["--input", ..., "--output", ...])``."""
    parser = argparse.ArgumentParser(prog="jpcorpus build")
    add_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return main(args, extra)
