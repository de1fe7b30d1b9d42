"""``jpcorpus tokenizer train|compare``: see tokenizer/train.py and tokenizer/compare.py (issue 6)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jpcorpus.config import from_dict, load_toml, parse_overrides, replace_dotted, to_dict
from jpcorpus.errors import UsageError
from tokenizer.config import TokenizerTrainConfig

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a SentencePiece vocabulary from shards and text files")
    train.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="[GROUP[*N]=]PATH",
        help="Parquet shards, .txt, .jsonl files or directories; GROUP is ja, en or code (code must be named; "
        "otherwise the shard's lang column or the script mix decides); *N offers each document N times",
    )
    train.add_argument(
        "--output", required=True, metavar="PREFIX", help="writes PREFIX.model/.vocab/.tokenizer.json/.card.json"
    )
    train.add_argument("--vocab-size", type=int, help="pieces, including specials and byte pieces (default 50000)")
    train.add_argument(
        "--config", type=Path, help="TOML file with TokenizerTrainConfig fields (configs/tokenizer_*.toml)"
    )
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="dotted override, e.g. preseg.sudachi_mode=A"
    )

    compare = sub.add_parser("compare", help="measure tokenizers side by side on text sets")
    compare.add_argument("--text", nargs="+", required=True, metavar="[NAME=]PATH", help="text files, shards, .conllu")
    compare.add_argument(
        "--tokenizer",
        nargs="+",
        required=True,
        metavar="NAME=PATH",
        help="SentencePiece .model, tokenizer.json or .tiktoken rank file",
    )
    compare.add_argument("--max-chars", type=int, default=1_000_000, help="characters per text set (default 1e6)")
    compare.add_argument("--samples", type=int, default=3, help="sample sentences per text set in the HTML view")
    compare.add_argument("--report", type=Path, metavar="OUT.html", help="self-contained HTML report")
    compare.add_argument("--csv", type=Path, metavar="OUT.csv")
    compare.add_argument("--json", type=Path, metavar="OUT.json")


def load_train_config(args: argparse.Namespace) -> TokenizerTrainConfig:
    overrides = parse_overrides(args.set)
    if args.vocab_size is not None:
        overrides["vocab_size"] = args.vocab_size
    try:
        config = from_dict(TokenizerTrainConfig, load_toml(args.config)) if args.config else TokenizerTrainConfig()
        return replace_dotted(config, overrides)
    except ValueError as exc:  # ConfigError, or __post_init__ validation naming the field
        where = f"{args.config}: " if args.config else ""
        raise UsageError(f"{where}{exc}") from exc


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.action == "train":
        return _train(args)
    return _compare(args)


def _train(args: argparse.Namespace) -> int:
    from tokenizer.corpus import parse_input_spec
    from tokenizer.train import train_tokenizer

    config = load_train_config(args)
    logger.info("config: %s", to_dict(config))
    card = train_tokenizer([parse_input_spec(s) for s in args.input], args.output, config)
    print(f"{card['model']}: {card['vocab_size']} pieces, trained in {card['timings_s']['train_s']:.1f} s")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from tokenizer.compare import compare, load_text_set
    from tokenizer.loaders import load_tokenizer
    from tokenizer.report import terminal_table, write_csv, write_html, write_json

    if args.max_chars <= 0:
        raise UsageError(f"--max-chars must be positive, got {args.max_chars}")
    tokenizers = []
    for spec in args.tokenizer:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        tokenizers.append(load_tokenizer(name, path))
    if len({t.name for t in tokenizers}) != len(tokenizers):
        raise UsageError("--tokenizer names must be distinct (use NAME=PATH)")
    text_sets = [load_text_set(spec, max_chars=args.max_chars) for spec in args.text]
    comparison = compare(tokenizers, text_sets, num_samples=args.samples)
    print(terminal_table(comparison))
    if args.csv:
        write_csv(comparison, args.csv)
    if args.json:
        write_json(comparison, args.json)
    if args.report:
        write_html(comparison, args.report)
        print(f"report: {args.report}")
    return 0
