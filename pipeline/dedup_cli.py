"""``jpcorpus dedup --input DIR --output DIR2``: exact / MinHash dedup over existing shards, as one Beam job.

Reads the ``part-*.parquet`` shards of a ``jpcorpus build`` run (or any directory of them), runs ``Dedup`` and
writes ``DIR2/shards`` (the input columns plus ``cluster_id``/``cluster_size``), ``DIR2/rejects`` (one row per
removed document, ``detail`` = its cluster id) and ``DIR2/manifest.json`` with reconciled per-stage counts.

Config: the ``[dedup]`` and ``[output]`` tables of a TOML file (the same file as ``jpcorpus build --config``
works; its other tables are not used here). See docs/dedup.md.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import apache_beam as beam
import pyarrow as pa

from jpcorpus.config import from_dict, load_toml, parse_overrides, replace_dotted, to_dict
from jpcorpus.errors import UsageError
from pipeline import manifest as mf
from pipeline.config import OutputConfig
from pipeline.dedup import Dedup, dedup_fields, dedup_stage_names
from pipeline.dedup_config import DedupConfig
from pipeline.read_shards import READ_STAGE, ReadShards, list_shards, shard_schema
from pipeline.run import beam_options
from pipeline.schema import REJECT_SCHEMA
from pipeline.write_parquet import WriteShards, prepare_output_dir, reject_sort_key

log = logging.getLogger(__name__)

SHARDS, REJECTS_DIR = "shards", "rejects"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="DIR", help="a run directory or a directory of shards")
    parser.add_argument("--output", required=True, metavar="DIR2", help="output directory (shards/, rejects/, ...)")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML with [dedup] and [output] tables")
    parser.add_argument("--method", choices=("exact", "minhash"), help="overrides dedup.method")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. minhash.threshold=0.85"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    parser.add_argument("--workers", type=int, default=0, help="local multi-process mode with N worker processes")
    parser.epilog = "Any other --flag is a Beam pipeline option (e.g. --runner=DataflowRunner --project=...)."


def load_configs(path: str | None, method: str | None, overrides: list[str]) -> tuple[DedupConfig, OutputConfig]:
    data = load_toml(path) if path else {}
    dedup = from_dict(DedupConfig, data.get("dedup", {}), prefix="dedup")
    output = from_dict(OutputConfig, data.get("output", {}), prefix="output")
    dotted: dict[str, Any] = {"method": method} if method else {}
    dotted.update(parse_overrides(overrides))
    return replace_dotted(dedup, dotted), output


def output_schema(input_schema: pa.Schema, cfg: DedupConfig) -> pa.Schema:
    """The input columns (an earlier dedup's cluster columns replaced) followed by this run's cluster columns."""
    added = dedup_fields(cfg)
    names = {f.name for f in added}
    return pa.schema([f for f in input_schema if f.name not in names] + list(added))


def main(args: argparse.Namespace, extra: list[str]) -> int:
    cfg, output_cfg = load_configs(args.config, args.method, args.set)
    if cfg.method == "none":
        raise UsageError("dedup.method is 'none': nothing to do (choose --method exact or minhash)")
    unknown = [a for a in extra if not a.startswith("--")]
    if unknown:
        raise UsageError(f"unexpected arguments {unknown}")
    shards = list_shards(args.input)
    schema = output_schema(shard_schema(shards[0]), cfg)
    log.info("dedup config: %s", to_dict(cfg))
    log.info("%d input shard(s) in %s", len(shards), args.input)
    prepare_output_dir(args.output, (SHARDS, REJECTS_DIR), args.overwrite)
    options = beam_options(extra, args.workers)
    order = [READ_STAGE, *dedup_stage_names(cfg)]
    start = time.monotonic()
    p = beam.Pipeline(options=options)
    docs = p | "ReadShards" >> ReadShards(shards)
    kept, rejects = docs | "Dedup" >> Dedup(cfg)
    _ = kept | "WriteShards" >> WriteShards(args.output, SHARDS, schema, output_cfg)
    _ = rejects | "WriteRejects" >> WriteShards(
        args.output, REJECTS_DIR, REJECT_SCHEMA, output_cfg, sort_key=reject_sort_key
    )
    result = p.run()
    result.wait_until_finish()
    wall_s = time.monotonic() - start
    manifest = assemble_manifest(result, order, cfg, output_cfg, shards, args, wall_s, options)
    return mf.publish(manifest, args.output)


def assemble_manifest(result, order, cfg, output_cfg, shards, args, wall_s, options) -> dict[str, Any]:
    summary = mf.run_summary(result, order, args.output, wall_s=wall_s, reader_stages=(READ_STAGE,), chained=True)
    return {
        "command": "dedup",
        "input": args.input,
        "input_shards": shards,
        "config_file": args.config,
        "config": {"dedup": to_dict(cfg), "output": to_dict(output_cfg)},
        "beam_options": options.get_all_options(drop_default=True),
        "versions": mf.package_versions(),
        **summary,
    }


def run(argv: list[str]) -> int:
    """Entry point for tests and scripts: ``run(["--input", ..., "--output", ...])``."""
    parser = argparse.ArgumentParser(prog="jpcorpus dedup")
    add_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return main(args, extra)
