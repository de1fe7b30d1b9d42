"""``jpcorpus tokenize --input SHARDS --tokenizer M.model --output TOKENS``: documents -> token shards (Apache Beam).

Reads the ``part-*.parquet`` shards of a ``build``/``dedup`` run, encodes every document with a SentencePiece
model, appends EOS, splits train/validation by a hash of the document id, and writes the layout documented in
``train/shard_format.py`` (``.bin`` token files plus a per-shard document index). The split and the shard of a
document depend only on its id, and each shard is sorted by id before writing, so the same inputs give
byte-identical outputs on any runner and with any number of workers.

Counts reconcile per stage (``read_shards``, ``tokenize``): a document with no text or no id is dropped with a
reason, a document the tokenizer fails on is counted as failed, and both are written to ``rejects/``.

NOTE(train, 2026): the output directory must be a local or shared POSIX path (training memory-maps the
``.bin`` files); inputs can be anywhere Beam's FileSystems reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np

from jpcorpus.errors import UsageError
from pipeline import manifest as mf
from pipeline.config import OutputConfig
from pipeline.read_shards import READ_STAGE, ReadShards, list_shards
from pipeline.run import beam_options
from pipeline.schema import REJECT_SCHEMA
from pipeline.stage import CountedDoFn, CountedStage, Drop, count
from pipeline.write_parquet import WriteShards, prepare_output_dir, read_shard_infos, reject_sort_key
from train import shard_format as sf

log = logging.getLogger(__name__)

TOKENIZE_STAGE = "tokenize"
REJECTS_DIR = "rejects"
SHARD_INFO_SUFFIX = ".info.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="SHARDS_DIR", help="a run directory or directory of shards")
    parser.add_argument("--tokenizer", required=True, metavar="PREFIX.model", help="SentencePiece model file")
    parser.add_argument("--output", required=True, metavar="TOKENS_DIR", help="output directory (local path)")
    parser.add_argument("--val-fraction", type=float, default=0.005, help="fraction of documents held out [0, 1)")
    parser.add_argument(
        "--max-docs-per-shard", type=int, default=50_000, help="documents per token shard (sets the shard count)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    parser.add_argument("--workers", type=int, default=0, help="local multi-process mode with N worker processes")
    parser.epilog = "Any other --flag is a Beam pipeline option (e.g. --runner=DataflowRunner --project=...)."


def load_tokenizer_info(path: str) -> dict[str, Any]:
    """Vocabulary size, EOS id and hash of a SentencePiece model; a clear error if it is missing or unusable."""
    import sentencepiece as spm

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"tokenizer model not found: {path}")
    try:
        sp = spm.SentencePieceProcessor(model_file=str(p))
    except (RuntimeError, OSError) as exc:
        raise UsageError(f"{path}: not a SentencePiece model ({exc})") from exc
    if sp.eos_id() < 0:
        raise UsageError(f"{path}: the model has no EOS piece (eos_id=-1); documents could not be separated")
    return {
        "path": str(p.resolve()),
        "sha256": sf.file_sha256(p),
        "vocab_size": sp.vocab_size(),
        "eos_id": sp.eos_id(),
        "bos_id": sp.bos_id(),
    }


class EncodeDoc(CountedDoFn):
    """Document dict -> ``{"id", "source", "split", "tokens": bytes}`` (ids + EOS, in the shard dtype)."""

    stage = TOKENIZE_STAGE

    def __init__(self, model_path: str, dtype: str, val_fraction: float) -> None:
        super().__init__()
        self._model_path = model_path
        self._dtype = dtype
        self._val_fraction = val_fraction

    def setup(self) -> None:
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=self._model_path)
        self._eos = self._sp.eos_id()

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop:
        doc_id, text = doc.get("id"), doc.get("text")
        if not doc_id:
            return Drop("missing_id")
        if not isinstance(text, str) or not text.strip():
            return Drop("empty_text")
        ids = self._sp.encode(text)
        ids.append(self._eos)
        split = "val" if sf.hash_unit(doc_id, "split") < self._val_fraction else "train"
        count(self.stage, f"stats.tokens.{split}", len(ids))
        return {
            "id": doc_id,
            "source": doc.get("source") or "",
            "split": split,
            "tokens": np.asarray(ids, dtype=self._dtype).tobytes(),
        }


class WriteTokenShard(beam.DoFn):
    """``((split, shard), docs)`` -> the shard's ``.bin`` + index, sorted by id, and its info record."""

    def __init__(self, output_dir: str, dtype: str) -> None:
        self._output_dir = output_dir
        self._dtype = dtype

    def process(self, element):
        (split, index), docs = element
        dtype = np.dtype(self._dtype)
        rows = sorted(((d["id"], d["source"], d["tokens"]) for d in docs), key=lambda r: (r[0], r[2]))
        stem = sf.shard_stem(split, index)
        info = sf.write_shard(
            self._output_dir, stem, [(i, s, np.frombuffer(t, dtype=dtype)) for i, s, t in rows], dtype
        )
        info["split"] = split
        Path(self._output_dir, stem + SHARD_INFO_SUFFIX).write_text(json.dumps(info), encoding="utf-8")
        yield info


def _key_by_shard(doc: dict[str, Any], num_docs: dict[str, int], max_docs: int) -> tuple[tuple[str, int], dict]:
    num_shards = max(1, math.ceil(num_docs[doc["split"]] / max_docs))
    index = min(int(sf.hash_unit(doc["id"], "shard") * num_shards), num_shards - 1)
    return (doc["split"], index), doc


def build(p: beam.Pipeline, shards: list[str], tok: dict[str, Any], output_dir: str, args: argparse.Namespace):
    dtype = sf.token_dtype(tok["vocab_size"]).str
    docs = p | "ReadShards" >> ReadShards(shards, ["id", "text", "source"])
    encoded, rejects = docs | "Encode" >> CountedStage(EncodeDoc(tok["path"], dtype, args.val_fraction))
    num_docs = (
        encoded | "Splits" >> beam.Map(lambda d: d["split"]) | "CountSplits" >> beam.combiners.Count.PerElement()
    )
    _ = (
        encoded
        | "KeyByShard" >> beam.Map(_key_by_shard, beam.pvalue.AsDict(num_docs), args.max_docs_per_shard)
        | "GroupShards" >> beam.GroupByKey()
        | "WriteTokenShards" >> beam.ParDo(WriteTokenShard(output_dir, dtype))
    )
    _ = rejects | "WriteRejects" >> WriteShards(
        output_dir, REJECTS_DIR, REJECT_SCHEMA, OutputConfig(), sort_key=reject_sort_key
    )


def collect_shard_infos(output_dir: str) -> dict[str, list[dict[str, Any]]]:
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in sf.SPLITS}
    for split in sf.SPLITS:
        for path in sorted(Path(output_dir, split).glob("*" + SHARD_INFO_SUFFIX)):
            by_split[split].append(json.loads(path.read_text(encoding="utf-8")))
    return by_split


def tokens_by_source(output_dir: str, infos: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, int]]:
    import pyarrow.parquet as pq

    out: dict[str, dict[str, int]] = defaultdict(lambda: {"documents": 0, "tokens": 0})
    for split_infos in infos.values():
        for info in split_infos:
            table = pq.read_table(Path(output_dir, info["stem"] + ".idx.parquet"), columns=["source", "num_tokens"])
            sources, counts = table.column("source").to_pylist(), table.column("num_tokens").to_pylist()
            for source, n in zip(sources, counts, strict=True):
                out[source]["documents"] += 1
                out[source]["tokens"] += n
    return dict(sorted(out.items()))


def main(args: argparse.Namespace, extra: list[str]) -> int:
    unknown = [a for a in extra if not a.startswith("--")]
    if unknown:
        raise UsageError(f"unexpected arguments {unknown}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.max_docs_per_shard <= 0:
        raise UsageError(f"--max-docs-per-shard must be > 0, got {args.max_docs_per_shard}")
    tok = load_tokenizer_info(args.tokenizer)
    shards = list_shards(args.input)
    log.info(
        "tokenizing %d shard(s) from %s with %s (vocab %d)", len(shards), args.input, tok["path"], tok["vocab_size"]
    )
    prepare_output_dir(args.output, (*sf.SPLITS, REJECTS_DIR), args.overwrite)
    meta_path = Path(args.output, sf.META_FILE)
    meta_path.unlink(missing_ok=True)  # an old meta.json would make a half-written directory look complete
    options = beam_options(extra, args.workers)
    start = time.monotonic()
    p = beam.Pipeline(options=options)
    build(p, shards, tok, args.output, args)
    result = p.run()
    result.wait_until_finish()
    wall_s = time.monotonic() - start

    stages = mf.build_stages(mf.counters_by_stage(result), [READ_STAGE, TOKENIZE_STAGE])
    by_name = {s["name"]: s for s in stages}
    infos = collect_shard_infos(args.output)
    num_written = sum(i["num_docs"] for split in infos.values() for i in split)
    num_tokens = {split: sum(i["num_tokens"] for i in infos[split]) for split in sf.SPLITS}
    num_rejects = sum(s["rows"] for s in read_shard_infos(args.output, REJECTS_DIR))
    problems = [f"stage {s['name']}: in != out + dropped + failed" for s in stages if not s["reconciled"]]
    if by_name.get(READ_STAGE, {}).get("out", 0) != by_name.get(TOKENIZE_STAGE, {}).get("in", 0):
        problems.append("read_shards.out != tokenize.in")
    if by_name.get(TOKENIZE_STAGE, {}).get("out", 0) != num_written:
        problems.append(f"documents written ({num_written}) != tokenize.out")
    num_removed = sum(sum(s["dropped"].values()) + sum(s["failed"].values()) for s in stages)
    if num_removed != num_rejects:
        problems.append(f"reject rows written ({num_rejects}) != dropped + failed ({num_removed})")
    if num_written == 0:
        problems.append("no documents were tokenized: the token directory would be empty")

    dtype = sf.token_dtype(tok["vocab_size"])
    meta = {
        "format": sf.FORMAT_NAME,
        "version": sf.FORMAT_VERSION,
        "dtype": dtype.str,
        "vocab_size": tok["vocab_size"],
        "eos_id": tok["eos_id"],
        "bos_id": tok["bos_id"],
        "tokenizer": {"path": tok["path"], "sha256": tok["sha256"]},
        "val_fraction": args.val_fraction,
        "shards": {split: [i["stem"] for i in infos[split]] for split in sf.SPLITS},
    }
    manifest = {
        "command": "tokenize",
        "input": args.input,
        "input_shards": shards,
        "tokenizer": meta["tokenizer"] | {"vocab_size": tok["vocab_size"], "eos_id": tok["eos_id"]},
        "beam_options": options.get_all_options(drop_default=True),
        "versions": mf.package_versions(),
        "stages": stages,
        "unreconciled": problems,
        "output": {
            "dtype": dtype.str,
            "documents": {split: sum(i["num_docs"] for i in infos[split]) for split in sf.SPLITS},
            "tokens": num_tokens,
            "tokens_per_source": tokens_by_source(args.output, infos),
            "shards": [i for split in sf.SPLITS for i in infos[split]],
            "rejects": num_rejects,
        },
        "timing": {"wall_s": round(wall_s, 3), "tokens_per_s": sum(num_tokens.values()) / wall_s if wall_s else 0.0},
        "config": {"val_fraction": args.val_fraction, "max_docs_per_shard": args.max_docs_per_shard},
    }
    mf.write_json(mf.manifest_path(args.output), manifest)
    for st in stages:
        print(f"{st['name']:<14} in {st['in']:>9}  out {st['out']:>9}  dropped {st['dropped']}  failed {st['failed']}")
    print(
        f"documents {manifest['output']['documents']}; tokens: train {num_tokens['train']:,} "
        f"val {num_tokens['val']:,} ({dtype.name}); {wall_s:.1f} s"
    )
    print(f"manifest: {mf.manifest_path(args.output)}")
    if problems:
        log.error("tokenize: %s", "; ".join(problems))
        return 1
    # meta.json last: its presence means the directory is complete (train refuses a directory without it).
    mf.write_json(str(meta_path), meta)
    return 0


def run(argv: list[str]) -> int:
    """Entry point for tests and scripts: ``run(["--input", ..., "--tokenizer", ..., "--output", ...])``."""
    parser = argparse.ArgumentParser(prog="jpcorpus tokenize")
    add_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return main(args, extra)
