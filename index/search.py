"""``jpcorpus search``: where a pasted text occurs in the corpus, and at which training step it was seen.

n-gram mode splits the query into its longest spans found in the corpus (with exact counts), then shows the
top-k occurrences of the longest span: engine, rank, source, URL or title, a snippet with the match marked, and
"Iteration: N / TOTAL" (the first trained step that consumed the document) or "not seen in training".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from jpcorpus.errors import UsageError

SNIPPET_CONTEXT_CHARS = 40  # each side of the match
DEFAULT_MAX_QUERY_CHARS = 20_000  # a long eval passage fits; a pasted file by mistake does not


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to look for (exact, as pasted); '-' reads it from stdin")
    parser.add_argument("--index", required=True, type=Path, help="directory written by `jpcorpus index build`")
    parser.add_argument("--mode", choices=["ngram"], default="ngram", help="search engine (vector: not built yet)")
    parser.add_argument("-k", type=int, default=3, help="occurrences to show (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of text")
    parser.add_argument(
        "--max-query-chars", type=int, default=DEFAULT_MAX_QUERY_CHARS, help="refuse longer queries (default 20000)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the sha256 check that the shards are those indexed"
    )


def ngram_search(index: Any, prov: Any, query: str, k: int) -> dict[str, Any]:
    """The n-gram result as plain data (the ``--json`` output; the text output prints the same)."""
    spans = index.longest_matching_spans(query)
    found = [s for s in spans if s.num_occurrences > 0]
    hits = []
    best = max(found, key=lambda s: (s.char_end - s.char_start, -s.char_start)) if found else None
    if best is not None:
        for rank, loc in enumerate(index.locate(best.text, k), 1):
            row = index.doc_row(loc.doc_index)
            text = index.doc_text(loc.doc_index)
            start, end = loc.char_offset, loc.char_offset + len(best.text)
            hit = {
                "engine": "ngram",
                "rank": rank,
                "doc_id": loc.doc_id,
                "char_offset": loc.char_offset,
                "source": row["source"],
                "url": row["url"],
                "title": row["title"],
                "shard": row["shard"],
                "snippet": {
                    "before": text[max(0, start - SNIPPET_CONTEXT_CHARS) : start],
                    "match": text[start:end],
                    "after": text[end : end + SNIPPET_CONTEXT_CHARS],
                },
                "training": _training(prov, loc.doc_id),
            }
            hits.append(hit)
    return {
        "query": query,
        "num_chars": len(query),
        "spans": [
            {"char_start": s.char_start, "char_end": s.char_end, "text": s.text, "count": s.num_occurrences}
            for s in spans
        ],
        "located_span": None if best is None else {"text": best.text, "count": best.num_occurrences},
        "hits": hits,
    }


def _training(prov: Any, doc_id: str) -> dict[str, Any] | None:
    if prov is None:
        return None  # index built without --run
    docs, summary = prov
    d = docs.get(doc_id)
    steps = list(d.steps) if d is not None else []
    return {
        "seen": bool(steps),
        "first_step": steps[0] if steps else None,
        "steps": steps,
        "total_steps": summary["total_steps"],
        "split": d.split if d is not None else None,  # None: not in the run's token shards at all
    }


def _iteration_line(training: dict[str, Any] | None) -> str:
    if training is None:
        return "training: no run joined (index build --run)"
    if not training["seen"]:
        return "not seen in training" + (" (validation split)" if training["split"] == "val" else "")
    more = len(training["steps"]) - 1
    also = f" (and {more} later step{'s' if more > 1 else ''})" if more else ""
    return f"Iteration: {training['first_step']:,} / {training['total_steps']:,}{also}"


def format_text(result: dict[str, Any]) -> str:
    lines = [f"query: {result['num_chars']} characters"]
    lines.append("longest matching spans (count in corpus):")
    for s in result["spans"]:
        lines.append(f"  [{s['char_start']}:{s['char_end']}] {s['count']:>8,}  {s['text']!r}")
    if result["located_span"] is None:
        lines.append("no part of the query occurs in the corpus")
        return "\n".join(lines)
    span = result["located_span"]
    lines.append(f"top {len(result['hits'])} of {span['count']:,} occurrences of the longest span:")
    for hit in result["hits"]:
        where = hit["url"] or hit["title"] or hit["doc_id"]
        snip = hit["snippet"]
        snippet = f"{snip['before']}«{snip['match']}»{snip['after']}".replace("\n", " ")
        lines.append(f"#{hit['rank']} [{hit['engine']}] {hit['source']}: {where}")
        lines.append(f"   {hit['doc_id']} @ char {hit['char_offset']:,}")
        lines.append(f"   …{snippet}…")
        lines.append(f"   {_iteration_line(hit['training'])}")
    return "\n".join(lines)


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from index import ngram, provenance

    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.k < 1:
        raise UsageError(f"-k must be at least 1, got {args.k}")
    query = sys.stdin.read() if args.text == "-" else args.text
    if not query.strip():
        raise UsageError("the query is empty: give the text to search for")
    if len(query) > args.max_query_chars:
        raise UsageError(
            f"the query has {len(query):,} characters, more than --max-query-chars {args.max_query_chars:,}"
        )
    index = ngram.NgramIndex(args.index, verify_shards=not args.no_verify)
    try:
        try:
            result = ngram_search(index, provenance.read(args.index), query, args.k)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    finally:
        index.close()
    result["index"] = str(args.index)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else format_text(result))
    return 0
