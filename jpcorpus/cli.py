"""The ``jpcorpus`` console script: one subcommand per job.

Each subcommand lives in its own module that exposes ``add_arguments(parser)`` and ``main(args, extra) -> int``;
it is imported only when chosen, so ``jpcorpus tokenizer ...`` never imports Beam and ``jpcorpus build`` never
imports torch. ``extra`` holds the arguments the subcommand did not declare (Beam pipeline options for the Beam
jobs); subcommands that accept none reject them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from jpcorpus.errors import ConfigError, UsageError

# name -> (module, help). Add a line here for a new subcommand.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build": ("pipeline.run", "WARC/WET/Wikipedia/JSONL -> Japanese text -> sharded Parquet (Apache Beam)"),
    "dedup": ("pipeline.dedup_cli", "exact / MinHash near-duplicate removal over existing shards (Apache Beam)"),
    "select": ("pipeline.select", "re-apply filter thresholds to annotated shards, without rescoring (Apache Beam)"),
    "tokenizer": ("tokenizer.cli", "train a SentencePiece vocabulary from shards / compare tokenizers (no Beam)"),
    "tokenize": ("pipeline.tokenize", "documents -> token shards (uint16/uint32 + doc index), train/val split (Beam)"),
    "train": ("train.train", "pretrain a Llama-family model with FSDP2 (launch with torchrun)"),
    "plan": ("train.plan", "parameters, memory per GPU, FLOPs and days for a preset / token budget / cluster"),
    "generate": ("train.generate", "sample text from a training checkpoint with its tokenizer"),
    "plot-loss": ("train.plot", "draw a training run's loss curve (metrics.jsonl) to a PNG"),
    "export-hf": ("train.export_hf", "training checkpoint -> Hugging Face Llama (config.json + safetensors)"),
    "index": ("index.cli", "exact n-gram + dense vector index over shards, joined to a training run's provenance"),
    "search": ("index.search", "where a text occurs in the corpus and at which training step it was seen"),
    "contamination": ("index.contamination", "longest corpus overlap per eval item; was it trained on?"),
    "serve": ("index.serve", "the search as a web page on localhost: n-gram and vector engines side by side"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jpcorpus", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse only the global part first, so each subcommand owns its own parser (and its --help).
    top, rest = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if top.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not top.verbose:
        # Beam logs every string type hint it converts and its worker state cache at INFO: noise for users.
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
    module = importlib.import_module(SUBCOMMANDS[top.command][0])
    sub_parser = argparse.ArgumentParser(prog=f"jpcorpus {top.command}", description=SUBCOMMANDS[top.command][1])
    module.add_arguments(sub_parser)
    sub_argv = argv[argv.index(top.command) + 1 :]
    args, extra = sub_parser.parse_known_args(sub_argv)
    try:
        return int(module.main(args, extra) or 0)
    except (UsageError, ConfigError) as exc:
        print(f"jpcorpus {top.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
