"""MinHash LSH near-duplicate removal as a Beam stage (``dedup_minhash``), with inspectable clusters.

    docs --Sign (batched)--> (node, doc)                       node = blake2b-128 of the normalised text
                        \\--> (band key, node) --GroupByKey--> bucket edges --Distinct--> candidate pairs
                        \\--> (node, normalised text)  --join with pairs--> exact Jaccard >= threshold (verify)
    pairs --ConnectedComponents (large-star/small-star)--> (node, label)
    (node, doc) + (node, label) --> unclustered docs pass; clustered --GroupByKey(label)--> KeepOnePerCluster

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
from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from pipeline import minhash
from pipeline.connected_components import ConnectedComponents, TaggedGroup, first_tagged
from pipeline.dedup_config import DedupConfig
from pipeline.dedup_exact import CLUSTER_ID, CLUSTER_SIZE, KeepOnePerCluster, member_size, size_bucket
from pipeline.stage import REJECTS, count, reject_row

log = logging.getLogger(__name__)

STAGE = "dedup_minhash"
BANDS, TEXTS = "bands", "texts"


class Sign(beam.DoFn):
    """A batch of docs -> main ``(node, doc)``, ``BANDS`` ``(band key, node)``, ``TEXTS`` ``(node, normalised)``."""

    def __init__(self, cfg: DedupConfig) -> None:
        self._cfg = cfg
        self._num_bands, self._rows = minhash.lsh_params(cfg.minhash)

    def process(self, batch: list[dict[str, Any]]):
        mh = self._cfg.minhash
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
    """Edges (a < b) joining the nodes of one LSH bucket: a star to its min, or all pairs for small buckets."""
    _key, nodes = element
    smallest, num_nodes = None, 0
    for node in nodes:
        num_nodes += 1
        if smallest is None or node < smallest:
            smallest = node
    if num_nodes < 2:
        return
    if num_nodes <= pairwise_max:
        distinct = sorted(set(nodes))
        for i, a in enumerate(distinct):
            for b in distinct[i + 1 :]:
                yield a, b
        return
    count(STAGE, "stats.star_buckets")
    for node in nodes:
        if node != smallest:
            yield smallest, node


def _count_candidate(edge: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    count(STAGE, "stats.candidate_pairs")
    return edge


def _attach_leaf_text(element: tuple[bytes, Iterable[tuple[str, Any]]]):
    """(b, [pairs: a..., texts: text_b...]) -> (a, (b, text_b)) for each pair (a, b), a < b.

    Keyed by the larger end first: a star's centre is its bucket's smallest node, so each leaf text travels once
    per pair it is in, and the centre's shingle set is built once in :class:`_VerifyJaccard`.
    """
    b, values = element
    text_b = first_tagged(values, "texts")  # every text of a node is the same normalised text
    for tag, a in values:
        if tag == "pairs":
            yield a, (b, text_b)


class _VerifyJaccard(beam.DoFn):
    """(a, [pairs: (b, text_b)..., texts: text_a...]) -> (a, b) for pairs with shingle Jaccard >= threshold."""

    def __init__(self, ngram_chars: int, threshold: float) -> None:
        self._ngram_chars = ngram_chars
        self._threshold = threshold

    def process(self, element: tuple[bytes, Iterable[tuple[str, Any]]]):
        a, values = element
        shingles_a = None
        for tag, value in values:
            if tag != "pairs":
                continue
            if shingles_a is None:
                shingles_a = minhash.unique_shingles(first_tagged(values, "texts"), self._ngram_chars)
            b, text_b = value
            j = minhash.jaccard(shingles_a, minhash.unique_shingles(text_b, self._ngram_chars))
            if j >= self._threshold:
                count(STAGE, "stats.verified_pairs")
                yield a, b
            else:
                count(STAGE, "stats.rejected_pairs")


def _route(element: tuple[bytes, Iterable[tuple[str, Any]]]):
    """Join of docs and labels per node: a lone unclustered doc is kept as its own cluster right here; docs of a
    labelled node (or several docs of one node) go to the keep-one step keyed by the cluster label."""
    node, values = element
    label, num_docs = None, 0
    for tag, value in values:
        if tag == "labels":
            label = value
        else:
            num_docs += 1
    if label is None and num_docs == 1:
        doc = first_tagged(values, "docs")
        size = member_size(doc)
        count(STAGE, "out")
        count(STAGE, f"stats.clusters_by_size.{size_bucket(size)}")
        yield {**doc, CLUSTER_ID: node.hex(), CLUSTER_SIZE: size}
        return
    for tag, doc in values:
        if tag == "docs":
            yield beam.pvalue.TaggedOutput("clustered", (label or node, (node, doc)))


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
            | "Sign" >> beam.ParDo(Sign(self._cfg)).with_outputs(BANDS, TEXTS, REJECTS, main="nodes")
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
            by_leaf = pairs | "KeyByLeaf" >> beam.Map(lambda pair: (pair[1], pair[0]))
            with_leaf_text = (
                {"pairs": by_leaf, "texts": signed[TEXTS]}
                | "JoinLeafText" >> TaggedGroup()
                | "AttachLeafText" >> beam.FlatMap(_attach_leaf_text)
            )
            pairs = (
                {"pairs": with_leaf_text, "texts": signed[TEXTS]}
                | "JoinCentreText" >> TaggedGroup()
                | "VerifyJaccard" >> beam.ParDo(_VerifyJaccard(mh.ngram_chars, mh.threshold))
            )
        labels, _unconverged = pairs | "Components" >> ConnectedComponents(STAGE, mh.max_cc_rounds)
        routed = (
            {"docs": signed.nodes, "labels": labels}
            | "JoinLabels" >> TaggedGroup()
            | "Route" >> beam.FlatMap(_route).with_outputs("clustered", main="singletons")
        )
        clusters = (
            routed.clustered
            | "GroupClusters" >> beam.GroupByKey()
            | "KeepOne"
            >> beam.ParDo(KeepOnePerCluster(STAGE, self._cfg.keep_score_field)).with_outputs(REJECTS, main="kept")
        )
        kept = (routed.singletons, clusters.kept) | "MinHashKept" >> beam.Flatten()
        rejects = (signed[REJECTS], clusters[REJECTS]) | "MinHashRejects" >> beam.Flatten()
        return kept, rejects
