"""Exact duplicate removal: the same normalised text (stage ``dedup_exact``) and the same URL (``dedup_url``).

Also home of the keep rule every dedup stage shares (:func:`keep_rank`, :class:`KeepOnePerCluster`):

1. the highest ``keep_score_field`` value (when configured; documents without a numeric value rank after those
   with one),
2. then the earliest ``crawl_date`` (ISO 8601 strings compared as given; documents without a date rank last),
3. then the smallest ``id``, then ``source_ref``, then the blake2b-128 digest of ``text`` — a total order on
   distinct records, so the choice never depends on the runner, the worker count or the input order. The digest
   (not the text) keeps the rank small enough to travel through the MinHash stage's shuffles without the text.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam

from pipeline.dedup_config import DedupConfig
from pipeline.minhash import content_key, normalize
from pipeline.stage import REJECTS, count, reject_row

log = logging.getLogger(__name__)

STAGE_EXACT = "dedup_exact"
STAGE_URL = "dedup_url"
CLUSTER_ID, CLUSTER_SIZE = "cluster_id", "cluster_size"


def keep_rank(doc: dict[str, Any], score_field: str) -> tuple:
    """Sort key of the keep rule: the smallest rank in a cluster is kept (module docstring)."""
    score = doc.get(score_field) if score_field else None
    has_score = isinstance(score, (int, float)) and not isinstance(score, bool) and not math.isnan(score)
    crawl_date = doc.get("crawl_date")
    return (
        (0, -float(score)) if has_score else (1, 0.0),
        (0, crawl_date) if crawl_date else (1, ""),
        doc.get("id") or "",
        doc.get("source_ref") or "",
        text_digest(doc.get("text")),
    )


def text_digest(text: Any) -> bytes:
    """Last tie-break of the keep rule: 16-byte blake2b of the raw text (empty for a non-string)."""
    if not isinstance(text, str):
        return b""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def member_size(doc: dict[str, Any]) -> int:
    """Documents a row stands for: its ``cluster_size`` when it comes from an earlier dedup run, else 1."""
    size = doc.get(CLUSTER_SIZE)
    return size if isinstance(size, int) and size > 0 else 1


def size_bucket(size: int) -> str:
    """Histogram bucket of a cluster size: 1, 2, 3-4, 5-8, 9-16, ... (powers of two)."""
    if size <= 2:
        return str(size)
    upper = 1 << (size - 1).bit_length()
    return f"{upper // 2 + 1}-{upper}"


class KeepOnePerCluster(beam.DoFn):
    """``(cluster key, [(node, doc), ...])`` -> the kept doc annotated with ``cluster_id``/``cluster_size`` and,
    on ``REJECTS``, one row per other member (detail = cluster id).

    Reads the group twice (find the keeper, then emit) without materialising it, so a document repeated
    10,000 times costs constant memory here. A member with the keeper's node (identical normalised text) is an
    ``exact_duplicate``, any other a ``near_duplicate``.
    """

    def __init__(self, stage: str, score_field: str) -> None:
        self._stage = stage
        self._score_field = score_field

    def process(self, element: tuple[bytes, Iterable[tuple[bytes, dict[str, Any]]]]):
        key, members = element
        cluster_id = key.hex()
        best_index, best_rank, best_node, total_size, num_members = -1, None, b"", 0, 0
        for i, (node, doc) in enumerate(members):
            rank = keep_rank(doc, self._score_field)
            if best_rank is None or rank < best_rank:
                best_index, best_rank, best_node = i, rank, node
            total_size += member_size(doc)
            num_members += 1
        count(self._stage, f"stats.clusters_by_size.{size_bucket(total_size)}")
        for i, (node, doc) in enumerate(members):
            if i == best_index:
                count(self._stage, "out")
                yield {**doc, CLUSTER_ID: cluster_id, CLUSTER_SIZE: total_size}
            else:
                reason = "exact_duplicate" if node == best_node else "near_duplicate"
                count(self._stage, f"dropped.{reason}")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self._stage, "dropped", reason, cluster_id, doc))


class _KeyByContent(beam.DoFn):
    """Doc -> (content key, (content key, doc)); a doc whose text is not a string is a counted failure."""

    def __init__(self, stage: str, cfg: DedupConfig) -> None:
        self._stage = stage
        self._cfg = cfg

    def process(self, doc: dict[str, Any]):
        count(self._stage, "in")
        text = doc.get("text")
        if not isinstance(text, str):
            count(self._stage, "failed.invalid_text")
            yield beam.pvalue.TaggedOutput(
                REJECTS, reject_row(self._stage, "failed", "invalid_text", f"text is {type(text).__name__}", doc)
            )
            return
        key = content_key(normalize(text, self._cfg.normalize))
        yield key, (key, doc)


class DedupExact(beam.PTransform):
    """Keep one document per normalised text. Returns ``(kept, rejects)``; kept docs carry the cluster columns."""

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs):
        keyed = docs | "KeyByContent" >> beam.ParDo(_KeyByContent(STAGE_EXACT, self._cfg)).with_outputs(
            REJECTS, main="keyed"
        )
        kept = (
            keyed.keyed
            | "GroupByContent" >> beam.GroupByKey()
            | "KeepOne"
            >> beam.ParDo(KeepOnePerCluster(STAGE_EXACT, self._cfg.keep_score_field)).with_outputs(
                REJECTS, main="kept"
            )
        )
        rejects = (keyed[REJECTS], kept[REJECTS]) | "ExactRejects" >> beam.Flatten()
        return kept.kept, rejects


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, fragment and a bare trailing '/' dropped: what makes two fetches 'the same URL'."""
    parts = urlsplit(url.strip())
    path = parts.path if parts.path not in ("", "/") else ""
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def _key_by_url(doc: dict[str, Any]):
    count(STAGE_URL, "in")
    url = doc.get("url")
    if isinstance(url, str) and url.strip():
        yield beam.pvalue.TaggedOutput("with_url", (normalize_url(url), doc))
    else:
        count(STAGE_URL, "out")
        yield doc


class _KeepOnePerUrl(beam.DoFn):
    def __init__(self, score_field: str) -> None:
        self._score_field = score_field

    def process(self, element: tuple[str, Iterable[dict[str, Any]]]):
        url, docs = element
        best_index, best_rank = -1, None
        for i, doc in enumerate(docs):
            rank = keep_rank(doc, self._score_field)
            if best_rank is None or rank < best_rank:
                best_index, best_rank = i, rank
        for i, doc in enumerate(docs):
            if i == best_index:
                count(STAGE_URL, "out")
                yield doc
            else:
                count(STAGE_URL, "dropped.duplicate_url")
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(STAGE_URL, "dropped", "duplicate_url", url, doc))


class DedupUrl(beam.PTransform):
    """Keep one record per normalised URL (crawls refetch pages); records without a URL pass untouched."""

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs):
        split = docs | "KeyByUrl" >> beam.FlatMap(_key_by_url).with_outputs("with_url", main="no_url")
        kept = (
            split.with_url
            | "GroupByUrl" >> beam.GroupByKey()
            | "KeepOnePerUrl"
            >> beam.ParDo(_KeepOnePerUrl(self._cfg.keep_score_field)).with_outputs(REJECTS, main="kept")
        )
        return (split.no_url, kept.kept) | "UrlKept" >> beam.Flatten(), kept[REJECTS]
