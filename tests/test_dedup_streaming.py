"""The grouped steps of the dedup stages read each group in a bounded number of streaming passes and never hold
it in a list, so a cluster or bucket of any size (a document repeated 10,000 times, a boilerplate bucket of a
million pages) costs constant memory per worker beyond the runner's shuffle (issue 4, bad input)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline import dedup_minhash as dm
from pipeline.dedup_exact import KeepOnePerCluster, keep_rank
from pipeline.schema import new_doc

NUM_REPEATS = 10_000


class Passes:
    """A re-iterable group like Beam's GroupByKey values, that counts full passes and refuses len()/indexing."""

    def __init__(self, make: callable) -> None:
        self._make = make
        self.num_passes = 0

    def __iter__(self) -> Iterator:
        self.num_passes += 1
        yield from self._make()

    def __len__(self) -> int:
        raise AssertionError("a grouped step asked for the size of a group: it would materialise it")


def _doc(i: int, text: str = "同じ本文の文書。" * 20) -> dict:
    return new_doc(id=f"r{i:05d}", text=text, source="test", source_ref=f"ref:{i}")


def test_keep_decision_of_a_10000_member_cluster_streams():
    node = bytes(16)
    members = Passes(lambda: ((node, keep_rank(_doc(i), ""), 1) for i in range(NUM_REPEATS)))
    decisions = list(dm._decide((node, members)))
    assert members.num_passes == 2 and len(decisions) == NUM_REPEATS
    cluster_id, size, keeper_node, keeper_rank = decisions[0][1]
    assert (cluster_id, size, keeper_node) == (node.hex(), NUM_REPEATS, node) and keeper_rank[2] == "r00000"

    joined = Passes(
        lambda: [*(("docs", _doc(i)) for i in range(NUM_REPEATS)), *(("decisions", d) for _, d in decisions)]
    )
    out = list(dm._ApplyDecision("").process((node, joined)))
    kept = [o for o in out if isinstance(o, dict)]
    assert [d["id"] for d in kept] == ["r00000"] and kept[0]["cluster_size"] == NUM_REPEATS
    assert len(out) == NUM_REPEATS and {o.value["reason"] for o in out[1:]} == {"exact_duplicate"}
    assert joined.num_passes <= 2


def test_member_routing_text_routing_and_verification_stream():
    node = bytes(16)
    members = Passes(lambda: (("members", (keep_rank(_doc(i), ""), 1)) for i in range(NUM_REPEATS)))
    assert sum(1 for _ in dm._cluster_members((node, members))) == NUM_REPEATS and members.num_passes == 2

    text = "吾輩は猫である。名前はまだ無い。" * 10
    leaves = [(i.to_bytes(16, "big"), text) for i in range(1, 200)]
    group = Passes(lambda: [("leaf", leaf) for leaf in leaves] + [("centre", text)])
    verified = list(dm._VerifyJaccard(5, 0.8).process((node, group)))
    assert len(verified) == len(leaves) and group.num_passes == 2

    routed = Passes(lambda: [("leaf_of", node)] * 300 + [("centre_of", node), ("texts", text)])
    out = list(dm._route_text((leaves[0][0], routed)))
    assert len(out) == 301 and out[-1] == (leaves[0][0], ("centre", text)) and routed.num_passes == 2


def test_exact_stage_keep_one_streams():
    node = bytes(16)
    group = Passes(lambda: ((node, _doc(i)) for i in range(NUM_REPEATS)))
    out = list(KeepOnePerCluster("dedup_exact", "").process((node, group)))
    assert len(out) == NUM_REPEATS and group.num_passes == 2
    assert out[0]["id"] == "r00000" and out[0]["cluster_size"] == NUM_REPEATS


@pytest.mark.parametrize("num_nodes", [3, 5000])
def test_bucket_edges_are_a_star_beyond_the_pairwise_limit(num_nodes):
    nodes = Passes(lambda: (i.to_bytes(16, "big") for i in range(num_nodes, 0, -1)))
    edges = list(dm.bucket_edges((b"k", nodes), 16))
    assert len(edges) == (3 if num_nodes == 3 else num_nodes - 1)
    assert nodes.num_passes == (1 if num_nodes == 3 else 2)  # a small bucket is kept whole in the first pass


def test_bucket_edges_choice_ignores_repeated_nodes():
    """A node that entered the bucket from several batches counts once: 10 distinct nodes stay all-pairs."""
    nodes = [i.to_bytes(16, "big") for i in range(10)] * 3
    edges = set(dm.bucket_edges((b"k", nodes), 16))
    assert len(edges) == 45 and all(a < b for a, b in edges)
