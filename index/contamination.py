"""``jpcorpus contamination``: for each evaluation item, its longest exact overlap with the corpus, and whether a
document holding that overlap was seen in training.

The overlap is the longest common substring of the item and the corpus in characters (exact, from the suffix
array), not a fixed n-gram: the report shows how long it is and lets the threshold (``--min-chars``) decide what
counts as contaminated. GPT-3 flagged 13-gram word overlaps; Japanese has no spaces and about two characters per
word, so the default of 25 characters is of that order.

Items that cannot be checked (a line that is not JSON, not an object, or lacks the text field) are reported with
their line number and counted: ``num_lines == num_checked + num_failed``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from jpcorpus.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_MIN_CHARS = 25
MAX_LOCATED_DOCS = 1000  # documents checked for training provenance per item (counts stay exact)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, type=Path, help="directory written by `jpcorpus index build`")
    parser.add_argument("--eval", required=True, type=Path, help="evaluation set, one JSON object per line")
    parser.add_argument(
        "--field",
        action="append",
        help="item field(s) holding the text, joined with a newline when several (default: text)",
    )
    parser.add_argument("--id-field", default="id", help="item field naming it (default id; else the line number)")
    parser.add_argument(
        "--min-chars", type=int, default=DEFAULT_MIN_CHARS, help="overlap length that counts as contaminated"
    )
    parser.add_argument("--output", type=Path, help="write one JSON line per item here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-verify", action="store_true", help="skip the shard sha256 check")


def check_item(index: Any, prov: Any, text: str) -> dict[str, Any]:
    """Longest overlap of one item with the corpus and the training steps of the documents holding it."""
    span = index.longest_common_substring(text)
    result: dict[str, Any] = {"num_chars": len(text), "longest_overlap": None, "overlap_ratio": 0.0}
    if span is None:
        result["seen_in_training"] = None if prov is None else False
        return result
    num = span.char_end - span.char_start
    result["longest_overlap"] = {"text": span.text, "num_chars": num, "char_start": span.char_start}
    result["num_occurrences"] = span.num_occurrences
    result["overlap_ratio"] = round(num / len(text), 4)
    locations = index.locate(span.text, MAX_LOCATED_DOCS)
    doc_ids = sorted({loc.doc_id for loc in locations})
    result["doc_ids"] = doc_ids[:10]
    if prov is None:
        result["seen_in_training"] = None  # no run joined
        return result
    docs, summary = prov
    steps = [docs[d].first_step for d in doc_ids if d in docs and docs[d].first_step is not None]
    result["seen_in_training"] = bool(steps)
    result["first_step"] = min(steps) if steps else None
    result["total_steps"] = summary["total_steps"]
    return result


def _item_text(item: Any, fields: list[str]) -> str:
    if not isinstance(item, dict):
        raise ValueError(f"not a JSON object but {type(item).__name__}")
    missing = [f for f in fields if not isinstance(item.get(f), str)]
    if missing:
        raise ValueError(f"no text field {missing[0]!r}")
    text = "\n".join(item[f] for f in fields)
    if not text.strip():
        raise ValueError("empty text")
    return text


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from index import ngram, provenance

    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.min_chars < 1:
        raise UsageError(f"--min-chars must be at least 1, got {args.min_chars}")
    if not args.eval.is_file():
        raise UsageError(f"evaluation file {str(args.eval)!r} does not exist")
    fields = args.field or ["text"]
    index = ngram.NgramIndex(args.index, verify_shards=not args.no_verify)
    prov = provenance.read(args.index)
    rows, failed = [], Counter()
    num_lines = 0
    try:
        with open(args.eval, encoding="utf-8", errors="strict") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                num_lines += 1
                try:
                    item = json.loads(line)
                    text = _item_text(item, fields)
                    item_id = item.get(args.id_field, line_no)
                    row = {"line": line_no, "id": item_id, **check_item(index, prov, text)}
                    row["contaminated"] = bool(
                        row["longest_overlap"] and row["longest_overlap"]["num_chars"] >= args.min_chars
                    )
                except ValueError as exc:  # json.JSONDecodeError is a ValueError
                    reason = "bad_json" if isinstance(exc, json.JSONDecodeError) else "bad_item"
                    failed[reason] += 1
                    row = {"line": line_no, "error": reason, "detail": str(exc)}
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{str(args.eval)!r} is not UTF-8 text ({exc})") from exc
    finally:
        index.close()
    checked = [r for r in rows if "error" not in r]
    summary = {
        "eval": str(args.eval),
        "index": str(args.index),
        "min_chars": args.min_chars,
        "num_lines": num_lines,
        "num_checked": len(checked),
        "num_failed": dict(failed),
        "num_contaminated": sum(r["contaminated"] for r in checked),
        "num_contaminated_seen_in_training": sum(bool(r["contaminated"] and r["seen_in_training"]) for r in checked),
        "run_joined": prov is not None,
    }
    assert summary["num_lines"] == summary["num_checked"] + sum(failed.values())
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        if "error" in r:
            print(f"line {r['line']}: not checked ({r['error']}: {r['detail']})")
            continue
        overlap = r["longest_overlap"]
        longest = f"{overlap['num_chars']} chars {overlap['text'][:30]!r}" if overlap else "none"
        seen = {None: "no run joined", True: f"seen at step {r.get('first_step')}", False: "not seen in training"}
        flag = "CONTAMINATED" if r["contaminated"] else "clean"
        print(
            f"{r['id']}: {flag}, longest overlap {longest} ({r['overlap_ratio']:.0%}), {seen[r['seen_in_training']]}"
        )
    print(
        f"{summary['num_checked']} of {num_lines} items checked ({sum(failed.values())} failed), "
        f"{summary['num_contaminated']} with an overlap of >= {args.min_chars} characters"
        + (f", {summary['num_contaminated_seen_in_training']} of them seen in training" if prov else "")
    )
    return 0
