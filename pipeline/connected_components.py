"""Connected components of an edge PCollection, computed inside Beam (no worker ever holds the whole graph).

Alternating Large-Star / Small-Star rounds (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014), unrolled to ``max_rounds`` because a Beam graph cannot loop. Each node ends pointing at the smallest
node of its component; its label is ``min(neighbours + itself)``.

Nodes are any totally ordered, deterministically encoded keys (the dedup stage uses 16-byte ``bytes``). Edges are
``(a, b)`` tuples with ``a < b``.

Convergence is checked, not assumed: every ORIGINAL edge must join two nodes with the same label. Both star
operations keep every node inside its component, so the labels can only ever under-merge; an original edge whose
ends got different labels marks both nodes as unconverged. They are counted (``stats.cc_unconverged_nodes``) and
logged, never silently reported as converged. Per round, ``stats.cc_round_NN_changes`` counts re-pointed edges (0
once the graph is a set of stars).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from pipeline.stage import count

log = logging.getLogger(__name__)


def _both_directions(edge: tuple[Any, Any]):
    a, b = edge
    yield a, b
    yield b, a


def _large_star(element: tuple[Any, Iterable[Any]], stage: str, round_index: int):
    """Connect every strictly larger neighbour of ``u`` to the smallest node of u's closed neighbourhood."""
    u, neighbours = element
    m = min(min(neighbours), u)  # first pass: the iterable from GroupByKey can be iterated again
    num_changes = 0
    for v in neighbours:
        if v > u:
            yield m, v
            num_changes += m != u
    if num_changes:
        count(stage, f"stats.cc_round_{round_index:02d}_changes", num_changes)


def _small_star(element: tuple[Any, Iterable[Any]], stage: str, round_index: int):
    """Connect ``u`` and its smaller neighbours to the smallest of them (``element`` = u, neighbours < u)."""
    u, smaller = element
    m = min(smaller)
    yield m, u
    num_changes = 0
    for v in smaller:
        if v != m:
            yield m, v
            num_changes += 1
    if num_changes:
        count(stage, f"stats.cc_round_{round_index:02d}_changes", num_changes)


def _label(element: tuple[Any, Iterable[Any]]):
    u, neighbours = element
    yield u, min(min(neighbours), u)


def first_tagged(values: Iterable[tuple[str, Any]], tag: str) -> Any:
    """The first value carrying ``tag`` in a :class:`TaggedGroup` group, or None."""
    for t, value in values:
        if t == tag:
            return value
    return None


class TaggedGroup(beam.PTransform):
    """Join several keyed PCollections by key, streaming: ``{tag: pcoll}`` -> ``(key, iterable of (tag, value))``.

    Unlike ``CoGroupByKey`` (which builds a list per tag) the group is a re-iterable, so a key with a million
    values (a bucket centre, a document repeated 10,000 times) is read in passes instead of being held in memory.
    """

    def expand(self, tagged: dict[str, Any]):
        parts = [
            pcoll | f"Tag_{tag}" >> beam.Map(lambda kv, t: (kv[0], (t, kv[1])), tag) for tag, pcoll in tagged.items()
        ]
        return parts | "Union" >> beam.Flatten() | "Group" >> beam.GroupByKey()


def _label_of_first_end(element: tuple[Any, Iterable[tuple[str, Any]]]):
    """Join step 1 of the check: (u, [edges: v..., labels: label_u]) -> (v, (u, label_u))."""
    u, values = element
    label_u = first_tagged(values, "labels")
    for tag, v in values:
        if tag == "edges":
            yield v, (u, label_u)


def _check_second_end(element: tuple[Any, Iterable[tuple[str, Any]]], stage: str):
    """Join step 2: emit both ends of every original edge whose ends have different labels."""
    v, values = element
    label_v = first_tagged(values, "labels")
    for tag, value in values:
        if tag == "edges" and value[1] != label_v:
            count(stage, "stats.cc_unconverged_edges")
            yield value[0]
            yield v


def _report_unconverged(node: Any, stage: str, max_rounds: int, warned: list[bool]):
    count(stage, "stats.cc_unconverged_nodes")
    if not warned:
        warned.append(True)
        log.warning(
            "%s: connected components did not converge in %d rounds; some near-duplicate clusters stay split "
            "(see stats.cc_unconverged_nodes); raise max_cc_rounds",
            stage,
            max_rounds,
        )
    return node


class ConnectedComponents(beam.PTransform):
    """``edges`` (a < b) -> ``(node, component label)`` for every node that has an edge.

    Returns ``(labels, unconverged)``: ``unconverged`` holds the distinct nodes whose component was not finished
    after ``max_rounds`` (empty when converged).
    """

    def __init__(self, stage: str, max_rounds: int) -> None:
        super().__init__()
        self._stage = stage
        self._max_rounds = max_rounds

    def expand(self, edges):
        stage = self._stage
        current = edges
        for r in range(1, self._max_rounds + 1):
            large = (
                current
                | f"LargeStarEmit{r}" >> beam.FlatMap(_both_directions)
                | f"LargeStarGroup{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMap(_large_star, stage, r)
            )
            current = (
                large
                | f"SmallStarKey{r}" >> beam.Map(lambda e: (e[1], e[0]))
                | f"SmallStarGroup{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMap(_small_star, stage, r)
                | f"DistinctEdges{r}" >> beam.Distinct()
            )
        labels = (
            current
            | "LabelEmit" >> beam.FlatMap(_both_directions)
            | "LabelGroup" >> beam.GroupByKey()
            | "Label" >> beam.FlatMap(_label)
        )
        first = {"edges": edges, "labels": labels} | "CheckJoinFirstEnd" >> TaggedGroup()
        second_edges = first | "LabelOfFirstEnd" >> beam.FlatMap(_label_of_first_end)
        unconverged = (
            {"edges": second_edges, "labels": labels}
            | "CheckJoinSecondEnd" >> TaggedGroup()
            | "CheckSecondEnd" >> beam.FlatMap(_check_second_end, stage)
            | "DistinctUnconverged" >> beam.Distinct()
            | "ReportUnconverged" >> beam.Map(_report_unconverged, stage, self._max_rounds, [])
        )
        return labels, unconverged
