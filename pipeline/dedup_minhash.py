"""MinHash LSH near-duplicate removal as a Beam stage (``dedup_minhash``), with inspectable clusters.

    docs --Sign (batched)--> (node, doc) ...................................................... JoinDecisions
                        \\--> (node, member rank)  --join labels--> GroupClusters --Decide--> (node, decision) /
                        \\--> (band key, node) --GroupByKey--> bucket edges --Distinct--> candidate pairs
                        \\--> (node, normalised text) --join pairs--> leaf texts to centres --> Jaccard >= threshold
    pairs --ConnectedComponents (large-star/small-star)--> (node, label)

node = blake2b-128 of the normalised text. Only small records travel through the shuffles of the LSH, the
connected components and the keep decision: 16-byte nodes, 10-byte band keys and the keep rank of each document
(score, crawl date, id, source_ref, text digest; :func:`pipeline.dedup_exact.keep_rank`). Each document is shuffled
once, to the final join with its node's decision (issue 4: the stage used to carry whole documents through two
groupings). With ``verify`` the normalised texts are shuffled once to meet their candidate pairs, and only the
texts of nodes that are in a pair travel a second time, to the pair's smaller node where the Jaccard is computed.

Documents with identical normalised text share a node, so exact duplicates are removed here too (reason
``exact_duplicate``; the others ``near_duplicate``); every member of a cluster, kept or rejected, carries the same
cluster id (the hex label), so ``detail == cluster_id`` finds the whole cluster in rejects/.

Buckets: a bucket of n nodes yields n-1 star edges to its smallest node (never n^2 pairs, whatever n is). With
``verify`` a star edge (min, v) may fail the check while v's partner in the same bucket would pass, so buckets of
at most ``max_pairwise_bucket`` nodes emit all pairs instead; larger ones stay stars (``stats.star_buckets``).

Short input: a document whose normalised text has fewer characters than ``ngram_chars`` (empty ones included)
has no shingles and no band keys; it is passed through unless another document has the identical normalised
text (then it is an exact duplicate). It is counted in ``stats.short_docs``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from pipeline import minhash
from pipeline.connected_components import ConnectedComponents, TaggedGroup, first_tagged
from pipeline.dedup_config import DedupConfig
from pipeline.dedup_exact import CLUSTER_ID, CLUSTER_SIZE, keep_rank, member_size, size_bucket
from pipeline.stage import REJECTS, count, reject_row

log = logging.getLogger(__name__)

STAGE = "dedup_minhash"
BANDS, TEXTS, MEMBERS = "bands", "texts", "members"
VERIFY_BATCH_DOCS = 64  # leaf texts whose shingles are hashed in one vectorised call (bounded: a star may be huge)


class Sign(beam.DoFn):
    """A batch of docs -> main ``(node, doc)``, ``MEMBERS`` ``(node, (keep rank, size))``, ``BANDS``
    ``(band key, node)`` and, with verify, ``TEXTS`` ``(node, normalised text)`` once per distinct node of the
    batch."""

    def __init__(self, cfg: DedupConfig) -> None:
        self._cfg = cfg
        self._num_bands, self._rows = minhash.lsh_params(cfg.minhash)

    def process(self, batch: list[dict[str, Any]]):
        mh = self._cfg.minhash
        score_field = self._cfg.keep_score_field
        nodes, texts, seen = [], [], set()
        for doc in batch:
            count(STAGE, "in")
            text = doc.get("text")
            if not isinstance(text, str):
                count(STAGE, "failed.invalid_text")
                detail = f"text is {type(text).__name__}"
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(STAGE, "failed", "invalid_text", detail, doc))
                continue
            normalized = minhash.normalize(text, self._cfg.normalize)
            node = minhash.content_key(normalized)
            yield node, doc
            yield beam.pvalue.TaggedOutput(MEMBERS, (node, (keep_rank(doc, score_field), member_size(doc))))
            if len(normalized) < mh.ngram_chars:
                count(STAGE, "stats.short_docs")
                continue
            if node in seen:  # an exact duplicate inside the batch: its bands would only repeat the same node
                continue
            seen.add(node)
            nodes.append(node)
            texts.append(normalized)
            if mh.verify:
                yield beam.pvalue.TaggedOutput(TEXTS, (node, normalized))
        if not nodes:
            return
        hashes, offsets = minhash.shingle_hashes(texts, mh.ngram_chars)
        sigs = minhash.signatures(hashes, offsets, mh)
        for node, keys in zip(nodes, minhash.band_keys(sigs, self._num_bands, self._rows), strict=True):
            for key in keys:
                yield beam.pvalue.TaggedOutput(BANDS, (key, node))


def bucket_edges(element: tuple[bytes, Iterable[bytes]], pairwise_max: int):
    """Edges (a < b) joining the nodes of one LSH bucket: a star to its min, or all pairs for small buckets.

    Small/large is decided by the number of distinct nodes (at most ``pairwise_max + 1`` are kept to count them): a
    node with exact duplicates in several Sign batches enters its buckets once per batch, and how documents are
    batched depends on the runner's bundles, so counting entries made the star/all-pairs choice, and with
    ``verify`` the clusters, differ between runs of the same input."""
    _key, nodes = element
    smallest, distinct = None, set()
    for node in nodes:
        if smallest is None or node < smallest:
            smallest = node
        if len(distinct) <= pairwise_max:
            distinct.add(node)
    if len(distinct) < 2:
        return
    if len(distinct) <= pairwise_max:
        ordered = sorted(distinct)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                yield a, b
        return
    count(STAGE, "stats.star_buckets")
    for node in nodes:
        if node != smallest:
            yield smallest, node


def _count_candidate(edge: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    count(STAGE, "stats.candidate_pairs")
    return edge


def _route_text(element: tuple[bytes, Iterable[tuple[str, Any]]]):
    """(n, [leaf_of: a..., centre_of: b..., texts: text_n...]) -> for each pair (a, n): (a, ("leaf", (n, text_n)));
    and (n, ("centre", text_n)) once if n is the smaller end of a pair. A node in no pair sends nothing on.

    A star's centre is its bucket's smallest node, so each leaf text travels once per pair it is in and the
    centre's shingle set is built once in :class:`_VerifyJaccard`.
    """
    n, values = element
    text_n = first_tagged(values, TEXTS)  # every text of a node is the same normalised text
    is_centre = False
    for tag, a in values:
        if tag == "leaf_of":
            yield a, ("leaf", (n, text_n))
        elif tag == "centre_of":
            is_centre = True
    if is_centre:
        yield n, ("centre", text_n)


class _VerifyJaccard(beam.DoFn):
    """(a, [centre: text_a, leaf: (b, text_b)...]) -> (a, b) for pairs with shingle Jaccard >= threshold."""

    def __init__(self, ngram_chars: int, threshold: float) -> None:
        self._ngram_chars = ngram_chars
        self._threshold = threshold

    def _verify(self, a: bytes, shingles_a: np.ndarray, leaves: list[tuple[bytes, str]]) -> Iterator:
        hashes, offsets = minhash.shingle_hashes([text for _, text in leaves], self._ngram_chars)
        for i, (b, _) in enumerate(leaves):
            j = minhash.jaccard(shingles_a, minhash.sorted_unique(hashes[offsets[i] : offsets[i + 1]]))
            if j >= self._threshold:
                count(STAGE, "stats.verified_pairs")
                yield a, b
            else:
                count(STAGE, "stats.rejected_pairs")

    def process(self, element: tuple[bytes, Iterable[tuple[str, Any]]]):
        a, values = element
        shingles_a = minhash.unique_shingles(first_tagged(values, "centre"), self._ngram_chars)
        leaves: list[tuple[bytes, str]] = []
        for tag, value in values:
            if tag != "leaf":
                continue
            leaves.append(value)
            if len(leaves) == VERIFY_BATCH_DOCS:
                yield from self._verify(a, shingles_a, leaves)
                leaves = []
        if leaves:
            yield from self._verify(a, shingles_a, leaves)


def _cluster_members(element: tuple[bytes, Iterable[tuple[str, Any]]]):
    """(node, [members: (rank, size)..., labels: label]) -> (cluster key, (node, rank, size)) per member, for nodes
    that are in a cluster: a label from the components, or several documents (exact duplicates). A lone document
    with no label is its own cluster and needs no decision."""
    node, values = element
    label, num_members = None, 0
    for tag, value in values:
        if tag == "labels":
            label = value
        else:
            num_members += 1
    if label is None and num_members == 1:
        return
    key = label or node
    for tag, value in values:
        if tag == MEMBERS:
            yield key, (node, *value)


def _decide(element: tuple[bytes, Iterable[tuple[bytes, tuple, int]]]):
    """(cluster key, [(node, rank, size)...]) -> (node, (cluster id, cluster size, keeper node, keeper rank)) once
    per member: the keep rule applied to ranks only, two streaming passes over the group."""
    key, members = element
    best_rank, best_node, total_size = None, b"", 0
    for node, rank, size in members:
        if best_rank is None or rank < best_rank:
            best_rank, best_node = rank, node
        total_size += size
    count(STAGE, f"stats.clusters_by_size.{size_bucket(total_size)}")
    decision = (key.hex(), total_size, best_node, best_rank)
    for node, _rank, _size in members:
        yield node, decision


class _ApplyDecision(beam.DoFn):
    """(node, [docs: doc..., decisions: decision...]) -> kept doc with ``cluster_id``/``cluster_size``; the other
    members of the cluster to ``REJECTS`` (detail = cluster id). A node without a decision holds one unclustered
    document, kept as its own cluster."""

    def __init__(self, score_field: str) -> None:
        self._score_field = score_field

    def process(self, element: tuple[bytes, Iterable[tuple[str, Any]]]):
        node, values = element
        decision = first_tagged(values, "decisions")
        if decision is None:
            for tag, doc in values:  # exactly one document: several would have been given a decision
                if tag == "docs":
                    size = member_size(doc)
                    count(STAGE, "out")
                    count(STAGE, f"stats.clusters_by_size.{size_bucket(size)}")
                    yield {**doc, CLUSTER_ID: node.hex(), CLUSTER_SIZE: size}
            return
        cluster_id, total_size, keeper_node, keeper_rank = decision
        score_field = self._score_field
        kept = node != keeper_node  # in another node's join the keeper is never here
        for tag, doc in values:
            if tag != "docs":
                continue
            if not kept and keep_rank(doc, score_field) == keeper_rank:
                kept = True
                count(STAGE, "out")
                yield {**doc, CLUSTER_ID: cluster_id, CLUSTER_SIZE: total_size}
                continue
            reason = "exact_duplicate" if node == keeper_node else "near_duplicate"
            count(STAGE, f"dropped.{reason}")
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(STAGE, "dropped", reason, cluster_id, doc))


class DedupMinHash(beam.PTransform):
    """Near-duplicate (and exact-duplicate) removal; returns ``(kept, rejects)``."""

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs):
        mh = self._cfg.minhash
        num_bands, rows = minhash.lsh_params(mh)
        log.info(
            "%s: %d bands x %d rows of %d hashes (threshold %.2f: P(caught)=%.3f), verify=%s",
            STAGE,
            num_bands,
            rows,
            mh.num_perm,
            mh.threshold,
            minhash.caught_probability(mh.threshold, num_bands, rows),
            mh.verify,
        )
        signed = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=mh.batch_docs, max_batch_size=mh.batch_docs)
            | "Sign" >> beam.ParDo(Sign(self._cfg)).with_outputs(BANDS, TEXTS, MEMBERS, REJECTS, main="nodes")
        )
        pairwise_max = mh.max_pairwise_bucket if mh.verify else 1
        pairs = (
            signed[BANDS]
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.FlatMap(bucket_edges, pairwise_max)
            | "DistinctPairs" >> beam.Distinct()
            | "CountCandidates" >> beam.Map(_count_candidate)
        )
        if mh.verify:
            pairs = (
                {
                    "leaf_of": pairs | "KeyByLeaf" >> beam.Map(lambda pair: (pair[1], pair[0])),
                    "centre_of": pairs | "KeyByCentre" >> beam.Map(lambda pair: (pair[0], pair[1])),
                    TEXTS: signed[TEXTS],
                }
                | "JoinPairText" >> TaggedGroup()
                | "RouteText" >> beam.FlatMap(_route_text)
                | "GroupAtCentre" >> beam.GroupByKey()
                | "VerifyJaccard" >> beam.ParDo(_VerifyJaccard(mh.ngram_chars, mh.threshold))
            )
        labels, _unconverged = pairs | "Components" >> ConnectedComponents(STAGE, mh.max_cc_rounds)
        decisions = (
            {MEMBERS: signed[MEMBERS], "labels": labels}
            | "JoinMemberLabels" >> TaggedGroup()
            | "ClusterMembers" >> beam.FlatMap(_cluster_members)
            | "GroupClusters" >> beam.GroupByKey()
            | "Decide" >> beam.FlatMap(_decide)
        )
        applied = (
            {"docs": signed.nodes, "decisions": decisions}
            | "JoinDecisions" >> TaggedGroup()
            | "ApplyDecision"
            >> beam.ParDo(_ApplyDecision(self._cfg.keep_score_field)).with_outputs(REJECTS, main="kept")
        )
        rejects = (signed[REJECTS], applied[REJECTS]) | "MinHashRejects" >> beam.Flatten()
        return applied.kept, rejects
