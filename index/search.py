"""``jpcorpus search``: where a pasted text occurs in the corpus, and at which training step it was seen.

n-gram mode splits the query into its longest spans found in the corpus (with exact counts), then shows the
top-k occurrences of the longest span: engine, rank, source, URL or title, a snippet with the match marked, and
"Iteration: N / TOTAL" (the first trained step that consumed the document) or "not seen in training".

vector mode embeds the query with the index's sentence-embedding model and shows the top-k passages by cosine
similarity (exact scan on small indexes, the usearch HNSW graph on large ones), with the same fields per hit plus
``score`` and ``char_end``. ``both`` runs the two engines on the same query.
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
MODES = ("ngram", "vector", "both")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to look for (exact, as pasted); '-' reads it from stdin")
    parser.add_argument("--index", required=True, type=Path, help="directory written by `jpcorpus index build`")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="search engine (default: both when the index has a vector part, else ngram)",
    )
    parser.add_argument(
        "--vector-search",
        choices=("auto", "exact", "ann"),
        default="auto",
        help="vector engine: exact scan, the approximate HNSW graph, or auto (exact up to 20,000 passages)",
    )
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


def vector_search(vindex: Any, index: Any, prov: Any, query: str, k: int) -> dict[str, Any]:
    """The vector result: the top-k passages, each hit with the n-gram hit's keys plus ``score`` and ``char_end``."""
    vec = vindex.embed_query(query)
    exact = vindex.uses_exact()
    hits = []
    for rank, (row, score) in enumerate(vindex.search_vector(vec, k), 1):
        passage = vindex.passage(row)
        doc_row = index.doc_row(passage["doc_index"])
        text = index.doc_text(passage["doc_index"])
        start, end = passage["char_start"], passage["char_end"]
        hits.append(
            {
                "engine": "vector",
                "rank": rank,
                "doc_id": doc_row["doc_id"],
                "char_offset": start,
                "char_end": end,
                "score": round(score, 4),
                "source": doc_row["source"],
                "url": doc_row["url"],
                "title": doc_row["title"],
                "shard": doc_row["shard"],
                "snippet": {
                    "before": text[max(0, start - SNIPPET_CONTEXT_CHARS) : start],
                    "match": text[start:end],
                    "after": text[end : end + SNIPPET_CONTEXT_CHARS],
                },
                "training": _training(prov, doc_row["doc_id"]),
            }
        )
    return {"model": vindex.model, "exact": exact, "hits": hits}


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


def _hit_lines(hit: dict[str, Any]) -> list[str]:
    where = hit["url"] or hit["title"] or hit["doc_id"]
    snip = hit["snippet"]
    snippet = f"{snip['before']}«{snip['match']}»{snip['after']}".replace("\n", " ")
    score = f" score {hit['score']:.3f}" if "score" in hit else ""
    end = f"-{hit['char_end']:,}" if "char_end" in hit else ""
    return [
        f"#{hit['rank']} [{hit['engine']}]{score} {hit['source']}: {where}",
        f"   {hit['doc_id']} @ char {hit['char_offset']:,}{end}",
        f"   …{snippet}…",
        f"   {_iteration_line(hit['training'])}",
    ]


def _ngram_lines(result: dict[str, Any]) -> list[str]:
    lines = ["longest matching spans (count in corpus):"]
    for s in result["spans"]:
        lines.append(f"  [{s['char_start']}:{s['char_end']}] {s['count']:>8,}  {s['text']!r}")
    if result["located_span"] is None:
        lines.append("no part of the query occurs in the corpus")
        return lines
    span = result["located_span"]
    lines.append(f"top {len(result['hits'])} of {span['count']:,} occurrences of the longest span:")
    for hit in result["hits"]:
        lines.extend(_hit_lines(hit))
    return lines


def format_text(full: dict[str, Any]) -> str:
    lines = [f"query: {full['num_chars']} characters"]
    if full["ngram"] is not None:
        if full["vector"] is not None:
            lines.append("== n-gram (exact substrings) ==")
        lines.extend(_ngram_lines(full["ngram"]))
    result = full["vector"]
    if result is not None:
        how = "exact scan" if result["exact"] else "approximate (HNSW)"
        lines.append(f"== vector ({result['model']}, {how}): top {len(result['hits'])} passages by cosine ==")
        for hit in result["hits"]:
            lines.extend(_hit_lines(hit))
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


def open_engines(index_dir: Path, *, verify_shards: bool = True, vector_search: str = "auto") -> Engines:
    """Open the n-gram index, the training join, and the vector part when the index has one (its embedding model
    is loaded at the first vector query)."""
    from index import ngram, provenance

    index = ngram.NgramIndex(index_dir, verify_shards=verify_shards)
    vindex = None
    if "vector" in index.manifest:
        from index import vector

        try:
            vindex = vector.VectorIndex(index_dir, index.manifest, search=vector_search)
        except BaseException:
            index.close()
            raise
    return Engines(index_dir=index_dir, ngram=index, prov=provenance.read(index_dir), vector=vindex)


def default_mode(engines: Engines) -> str:
    return "both" if engines.vector is not None else "ngram"


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
    if mode in ("vector", "both") and engines.vector is None:
        raise UsageError(
            f"index {str(engines.index_dir)!r} has no vector part (built with --no-vector): use --mode ngram, or "
            "rebuild it with `jpcorpus index build --vector`"
        )
    try:
        if mode in ("ngram", "both"):
            result["ngram"] = ngram_search(engines.ngram, engines.prov, query, k)
        if mode in ("vector", "both"):
            result["vector"] = vector_search(engines.vector, engines.ngram, engines.prov, query, k)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return result


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    query = sys.stdin.read() if args.text == "-" else args.text
    check_query(query, args.max_query_chars)
    engines = open_engines(args.index, verify_shards=not args.no_verify, vector_search=args.vector_search)
    try:
        result = run_search(engines, query, args.mode or default_mode(engines), args.k)
    finally:
        engines.close()
    result["index"] = str(args.index)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else format_text(result))
    return 0
