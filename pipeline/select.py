"""``jpcorpus select --input DIR --output DIR2 --preset NAME | --config FILE``: re-decide from stored scores.

Reads annotated shards (``q_*`` columns written by the quality stage of ``jpcorpus build``, typically run with
``[filters] drop = false``), applies the chosen preset's thresholds to the stored scores — nothing is
recomputed and the text is not touched — and writes ``DIR2/shards`` (same columns), ``DIR2/rejects`` (one row per
dropped document, reason = first failed rule) and ``DIR2/manifest.json`` with reconciled counts and the
per-rule funnel.

The shards must carry a column for every deciding filter, computed with the same scoring parameters (stored
as column metadata); otherwise select stops at start-up and says which columns are missing or differ, and how
to get them (``[filters] annotate = ["<preset>"]`` at build time).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

import apache_beam as beam
import pyarrow as pa

from filters.apply import PARAMS_METADATA_KEY, column_specs, decide
from filters.config import FilterPlan, FiltersConfig, build_plan, plan_summary
from jpcorpus.config import from_dict, load_toml, parse_value, to_dict
from jpcorpus.errors import UsageError
from pipeline import manifest as mf
from pipeline.config import OutputConfig
from pipeline.quality import format_funnel, quality_funnel
from pipeline.read_shards import READ_STAGE, ReadShards, list_shards, shard_schema
from pipeline.run import beam_options
from pipeline.schema import REJECT_SCHEMA
from pipeline.stage import CountedDoFn, CountedStage, Drop, Fail, count
from pipeline.write_parquet import WriteShards, prepare_output_dir, reject_sort_key

log = logging.getLogger(__name__)

SHARDS, REJECTS_DIR = "shards", "rejects"
SELECT_STAGE = "select"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="DIR", help="a run directory or a directory of shards")
    parser.add_argument("--output", required=True, metavar="DIR2", help="output directory (shards/, rejects/, ...)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", metavar="NAME", help="filter preset: default, swallow_v1, llmjp_v1, fineweb2_jpn")
    which.add_argument("--config", metavar="FILE.toml", help="TOML with a [filters] table (and optionally [output])")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FILTER.FIELD=VALUE",
        help="threshold override, e.g. hiragana_ratio_v1.min_ratio=0.15 (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    parser.add_argument("--workers", type=int, default=0, help="local multi-process mode with N worker processes")
    parser.epilog = "Any other --flag is a Beam pipeline option (e.g. --runner=DataflowRunner --project=...)."


def load_configs(preset: str | None, path: str | None, overrides: list[str]) -> tuple[FiltersConfig, OutputConfig]:
    data = load_toml(path) if path else {}
    table = dict(data.get("filters", {}))
    if preset is not None:
        table["preset"] = preset
    extra: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        name, dot, fieldname = key.partition(".")
        if not sep or not dot or not fieldname:
            raise UsageError(f"--set expects FILTER.FIELD=VALUE, got {item!r}")
        extra.setdefault(name, {})[fieldname] = parse_value(value)
    if extra:
        merged = {k: dict(v) for k, v in table.get("overrides", {}).items()}
        for name, values in extra.items():
            merged.setdefault(name, {}).update(values)
        table["overrides"] = merged
    cfg = from_dict(FiltersConfig, table, prefix="filters")
    output = from_dict(OutputConfig, data.get("output", {}), prefix="output")
    return cfg, output


def check_columns(schema: pa.Schema, plan: FilterPlan) -> None:
    """Every deciding filter's columns exist with the scoring parameters they were computed with."""
    deciding = FilterPlan(plan.preset, (), plan.filters, (), (), None, plan.drop)
    missing, differing = [], []
    for spec in column_specs(deciding):
        idx = schema.get_field_index(spec.name)
        if idx < 0:
            missing.append(spec.name)
            continue
        meta = schema.field(idx).metadata or {}
        stored = json.loads(meta[PARAMS_METADATA_KEY]) if PARAMS_METADATA_KEY in meta else None
        if stored is None or stored.get("params") != json.loads(json.dumps(spec.params)):
            differing.append(f"{spec.name} (stored {stored and stored.get('params')}, needed {spec.params})")
    if missing or differing:
        parts = []
        if missing:
            parts.append(f"missing score columns {missing}")
        if differing:
            parts.append(f"columns scored with other parameters: {differing}")
        raise UsageError(
            f"the input shards cannot be re-decided with preset {plan.preset!r}: {'; '.join(parts)}. "
            f"Build them with [filters] annotate = [{plan.preset!r}] (and drop = false to keep every document)."
        )


class Select(CountedDoFn):
    """Decide from stored score columns; same rule order and reasons as the build's quality stage."""

    stage = SELECT_STAGE

    def __init__(self, plan: FilterPlan) -> None:
        super().__init__()
        self._plan = plan

    def apply(self, row: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        failed = decide(self._plan.filters, row)
        for rule in dict.fromkeys(r for r, _ in failed):
            count(self.stage, f"stats.fails.{rule}")
        text = row.get("text") or ""
        if failed:
            rule = failed[0][0]
            count(self.stage, f"stats.dropped_chars.{rule}", len(text))
            return Drop(rule, "; ".join(d for _, d in failed))
        count(self.stage, "stats.kept_chars", len(text))
        return row


def main(args: argparse.Namespace, extra: list[str]) -> int:
    cfg, output_cfg = load_configs(args.preset, args.config, args.set)
    unknown = [a for a in extra if not a.startswith("--")]
    if unknown:
        raise UsageError(f"unexpected arguments {unknown}")
    # select only decides: dropping is the point, whatever the config file says about build-time annotation
    plan = build_plan(cfg)
    plan = FilterPlan(plan.preset, (), plan.filters, (), (), None, True)
    shards = list_shards(args.input)
    schema = shard_schema(shards[0])
    check_columns(schema, plan)
    log.info("select plan: %s", plan_summary(plan))
    log.info("%d input shard(s) in %s", len(shards), args.input)
    prepare_output_dir(args.output, (SHARDS, REJECTS_DIR), args.overwrite)
    options = beam_options(extra, args.workers)
    start = time.monotonic()
    p = beam.Pipeline(options=options)
    rows = p | "ReadShards" >> ReadShards(shards)
    kept, rejects = rows | "Stage_select" >> CountedStage(Select(plan))
    _ = kept | "WriteShards" >> WriteShards(args.output, SHARDS, schema, output_cfg)
    _ = rejects | "WriteRejects" >> WriteShards(
        args.output, REJECTS_DIR, REJECT_SCHEMA, output_cfg, sort_key=reject_sort_key
    )
    result = p.run()
    result.wait_until_finish()
    wall_s = time.monotonic() - start
    manifest = assemble_manifest(result, plan, cfg, output_cfg, shards, args, wall_s, options)
    return mf.publish(manifest, args.output, format_funnel(manifest["funnel"]))


def assemble_manifest(result, plan, cfg, output_cfg, shards, args, wall_s, options) -> dict[str, Any]:
    order = [READ_STAGE, SELECT_STAGE]
    summary = mf.run_summary(result, order, args.output, wall_s=wall_s, reader_stages=(READ_STAGE,), chained=True)
    empty = {"in": 0, "out": 0, "dropped": {}, "failed": {}, "stats": {}}
    select_stage = next((s for s in summary["stages"] if s["name"] == SELECT_STAGE), empty)
    return {
        "command": "select",
        "input": args.input,
        "input_shards": shards,
        "config_file": args.config,
        "config": {"filters": to_dict(cfg), "output": to_dict(output_cfg)},
        "plan": plan_summary(plan),
        "beam_options": options.get_all_options(drop_default=True),
        "versions": mf.package_versions(),
        "funnel": quality_funnel(select_stage, plan),
        **summary,
    }


def run(argv: list[str]) -> int:
    """Entry point for tests and scripts: ``run(["--input", ..., "--output", ..., "--preset", ...])``."""
    parser = argparse.ArgumentParser(prog="jpcorpus select")
    add_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return main(args, extra)
