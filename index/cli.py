"""``jpcorpus index build``: the exact n-gram index over corpus shards, optionally joined to a training run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jpcorpus.errors import UsageError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="index the documents of pipeline shards for `jpcorpus search`")
    build.add_argument("--shards", required=True, type=Path, help="directory of pipeline Parquet shards")
    build.add_argument("--output", required=True, type=Path, help="index directory to write")
    build.add_argument(
        "--run", type=Path, help="training run directory (config.json + provenance/) to join: steps per document"
    )
    build.add_argument(
        "--tokens", type=Path, help="the run's token directory, when its config's data.tokens_dir is not found"
    )


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from index import ngram, provenance

    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.tokens is not None and args.run is None:
        raise UsageError("--tokens needs --run")
    # Join first: a run that does not match the shards fails before minutes of indexing.
    joined = provenance.join_run(args.run, args.tokens) if args.run is not None else None
    try:
        manifest = ngram.build(args.shards, args.output)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    line = (
        f"{args.output}: {manifest['num_docs']} documents, {manifest['num_chars']} characters, "
        f"{sum(manifest['index_bytes'].values())} index bytes from {len(manifest['shards'])} shards "
        f"in {manifest['build_seconds']['total']:.1f} s"
    )
    if joined is not None:
        docs, summary = joined
        index = ngram.NgramIndex(args.output)
        try:
            provenance.write(args.output, docs, summary, set(index.docs.column("doc_id").to_pylist()))
        finally:
            index.close()
        line += (
            f"; run {args.run}: {summary['num_docs_seen']} of {summary['num_docs']} documents seen in "
            f"{summary['last_step']} / {summary['total_steps']} steps"
        )
    print(line)
    return 0
