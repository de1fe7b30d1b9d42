"""``jpcorpus search``: where a pasted text occurs in the corpus, and at which training step it was seen.

n-gram mode splits the query into its longest spans found in the corpus (with exact counts), then shows the
top-k occurrences of the longest span: engine, rank, source, URL or title, a snippet with the match marked, and
"Iteration: N / TOTAL" (the first trained step that consumed the document) or "not seen in training".
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jpcorpus.errors import UsageError

SNIPPET_CONTEXT_CHARS = 40  # each side of the match
DEFAULT_MAX_QUERY_CHARS = 20_000  # a long eval passage fits; a pasted file by mistake does not
MODES = ("ngram",)  # the vector engine adds "vector" and "both"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to look for (exact, as pasted); '-' reads it from stdin")
    parser.add_argument("--index", required=True, type=Path, help="directory written by `jpcorpus index build`")
    parser.add_argument("--mode", choices=MODES, default="ngram", help="search engine")
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


def format_text(full: dict[str, Any]) -> str:
    lines = [f"query: {full['num_chars']} characters"]
    result = full["ngram"]
    if result is None:
        return "\n".join(lines)
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


@dataclass(slots=True)
class Engines:
    """The opened search engines of one index directory, loaded once (a server keeps them for every request).

    ``vector`` stays ``None`` until the vector index exists; ``prov`` is ``None`` for an index built without ``--run``.
    """

    index_dir: Path
    ngram: Any
    prov: Any
    vector: Any = None

    def close(self) -> None:
        self.ngram.close()
        if self.vector is not None and hasattr(self.vector, "close"):
            self.vector.close()


def open_engines(index_dir: Path, *, verify_shards: bool = True) -> Engines:
    from index import ngram, provenance

    return Engines(
        index_dir=index_dir,
        ngram=ngram.NgramIndex(index_dir, verify_shards=verify_shards),
        prov=provenance.read(index_dir),
    )


def check_query(query: str, max_query_chars: int = DEFAULT_MAX_QUERY_CHARS) -> None:
    """Refuse queries no engine can answer, with a message for the user (CLI and server share it)."""
    if not query.strip():
        raise UsageError("the query is empty: give the text to search for")
    if len(query) > max_query_chars:
        raise UsageError(f"the query has {len(query):,} characters, more than --max-query-chars {max_query_chars:,}")


def run_search(engines: Engines, query: str, mode: str, k: int) -> dict[str, Any]:
    """One search as plain data: ``{"query", "num_chars", "mode", "ngram": {...} | None, "vector": ... | None}``.

    ``ngram`` holds :func:`ngram_search`'s result (spans, located_span, hits); ``vector`` is filled by the vector
    engine in modes ``vector`` and ``both``. Every hit has the same keys whichever engine found it.
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if k < 1:
        raise UsageError(f"-k must be at least 1, got {k}")
    result: dict[str, Any] = {"query": query, "num_chars": len(query), "mode": mode, "ngram": None, "vector": None}
    try:
        if mode in ("ngram", "both"):
            result["ngram"] = ngram_search(engines.ngram, engines.prov, query, k)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return result


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    query = sys.stdin.read() if args.text == "-" else args.text
    check_query(query, args.max_query_chars)
    engines = open_engines(args.index, verify_shards=not args.no_verify)
    try:
        result = run_search(engines, query, args.mode, args.k)
    finally:
        engines.close()
    result["index"] = str(args.index)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else format_text(result))
    return 0
