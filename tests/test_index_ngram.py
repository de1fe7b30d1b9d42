"""Exact n-gram index on real Aozora prose: counts equal brute force, every location is really there, no match
across document boundaries, Japanese multi-byte text, and clear errors for bad input or a stale/damaged index."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_train_corpus import aozora_documents, write_shards

from index import ngram
from jpcorpus.errors import UsageError
from pipeline.schema import doc_schema, new_doc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ngram")
    docs = aozora_documents()
    write_shards(root, docs, num_shards=3)
    manifest = ngram.build(root / "shards", root / "index")
    index = ngram.NgramIndex(root / "index", verify_shards=True)
    yield root, docs, index, manifest
    index.close()


def brute_count(docs: list[dict], query: str) -> int:
    """Overlapping occurrences within each document (str.count does not count overlaps)."""
    n = 0
    for d in docs:
        text, i = d["text"], d["text"].find(query)
        while i >= 0:
            n += 1
            i = text.find(query, i + 1)
    return n


def test_manifest_records_shards_counts_and_sizes(corpus):
    root, docs, index, manifest = corpus
    assert manifest["num_docs"] == len(docs) == index.num_docs > 100
    assert manifest["num_chars"] == sum(len(d["text"]) for d in docs)
    assert manifest["num_corpus_bytes"] == sum(len(d["text"].encode()) + 1 for d in docs)
    assert len(manifest["shards"]) == 3 and all(len(s["sha256"]) == 64 for s in manifest["shards"])
    assert sum(s["num_docs"] for s in manifest["shards"]) == len(docs)
    assert json.loads((root / "index" / "manifest.json").read_text()) == manifest


def test_counts_equal_brute_force_on_random_substrings(corpus):
    _root, docs, index, _ = corpus
    rng = random.Random(7)
    for _ in range(200):
        text = rng.choice(docs)["text"]
        length = rng.choice([1, 2, 3, 5, 8, 20])
        start = rng.randrange(0, max(1, len(text) - length))
        query = text[start : start + length]
        assert index.count(query) == brute_count(docs, query) >= 1, query


@pytest.mark.parametrize(
    "query",
    ["の", "。", "した", "ところ", "ＡＢＣ", "ｶﾞ", "abc", "吾輩は猫である。名前はまだ無い", "\n", "」\n「", "🍣", "Ｑ"],
)
def test_fixed_queries_including_absent_ones(corpus, query):
    _root, docs, index, _ = corpus
    assert index.count(query) == brute_count(docs, query)


def test_no_match_across_document_boundaries(corpus):
    _root, docs, index, _ = corpus
    for a, b in zip(docs[:40], docs[1:41], strict=True):
        straddle = a["text"][-3:] + b["text"][:3]
        num = brute_count(docs, straddle)
        assert index.count(straddle) == num
        # Found only where it really is inside one document, never at the seam of two.
        assert len(index.locate(straddle, 5)) == min(num, 5)


def test_every_located_occurrence_is_really_there(corpus):
    _root, docs, index, _ = corpus
    by_id = {d["id"]: d["text"] for d in docs}
    for query in ["ところ", "云った", "私は", "。\n"]:
        num = index.count(query)
        locations = index.locate(query, 50)
        assert len(locations) == min(50, num) > 0
        assert len({(loc.doc_id, loc.char_offset) for loc in locations}) == len(locations)
        for loc in locations:
            assert by_id[loc.doc_id][loc.char_offset : loc.char_offset + len(query)] == query
            assert index.doc_text(loc.doc_index) == by_id[loc.doc_id]
    all_hits = index.locate("ところ", 10**6)
    expected = {(d["id"], i) for d in docs for i in range(len(d["text"])) if d["text"].startswith("ところ", i)}
    assert {(loc.doc_id, loc.char_offset) for loc in all_hits} == expected


def test_longest_matching_spans_cover_the_query_and_are_maximal(corpus):
    _root, docs, index, _ = corpus
    text = docs[5]["text"]
    # A corpus sentence, an invented Latin-script phrase and an emoji: the sentence must come back whole.
    query = text[10:70] + "zqxjvw" + "🍣" + text[200:230]
    spans = index.longest_matching_spans(query)
    assert "".join(s.text for s in spans) == query
    assert spans[0].char_start == 0 and spans[0].char_end >= 60
    for s in spans:
        assert s.num_occurrences == brute_count(docs, s.text) if s.num_occurrences else brute_count(docs, s.text) == 0
        if s.char_end < len(query) and s.num_occurrences:
            # Maximal: one more character is nowhere in the corpus.
            assert brute_count(docs, query[s.char_start : s.char_end + 1]) == 0
    assert [s.num_occurrences for s in spans if s.text == "🍣"] == [0]


def test_query_longer_than_any_document_counts_zero(corpus):
    _root, docs, index, _ = corpus
    longest = max(docs, key=lambda d: len(d["text"].encode()))["text"]
    assert index.count(longest) >= 1
    assert index.count(longest + "。" + longest) == 0
    assert index.locate(longest + longest, 3) == []
    spans = index.longest_matching_spans(longest + longest)
    assert spans[0].text == longest or len(spans[0].text) >= len(longest)


def test_empty_and_broken_queries_are_refused(corpus):
    _root, _docs, index, _ = corpus
    with pytest.raises(ValueError, match="empty"):
        index.count("")
    with pytest.raises(ValueError, match="empty"):
        index.longest_matching_spans("")
    with pytest.raises(ValueError, match="not valid Unicode"):
        index.count("\ud800")
    with pytest.raises(ValueError, match="k must be"):
        index.locate("の", -1)


def test_missing_index_dir_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        ngram.NgramIndex(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    with pytest.raises(UsageError, match="manifest.json"):
        ngram.NgramIndex(tmp_path / "half")


def test_changed_shard_and_damaged_index_are_refused(tmp_path):
    docs = aozora_documents()[:30]
    write_shards(tmp_path, docs, num_shards=2)
    ngram.build(tmp_path / "shards", tmp_path / "index")
    ngram.NgramIndex(tmp_path / "index", verify_shards=True).close()
    shard = sorted((tmp_path / "shards").glob("*.parquet"))[0]
    table = pq.read_table(shard).to_pylist()
    table[0]["text"] += "追記"
    pq.write_table(pa.Table.from_pylist(table, schema=doc_schema()), shard)
    with pytest.raises(UsageError, match="changed since the index was built"):
        ngram.NgramIndex(tmp_path / "index", verify_shards=True)
    corpus_file = tmp_path / "index" / "corpus.bin"
    corpus_file.write_bytes(corpus_file.read_bytes()[:-10])
    with pytest.raises(UsageError, match="damaged"):
        ngram.NgramIndex(tmp_path / "index")


def test_empty_shards_dir_is_refused(tmp_path):
    with pytest.raises(UsageError, match="no .parquet shards"):
        ngram.build(tmp_path, tmp_path / "index")


def brute_longest(docs: list[dict], query: str) -> int:
    texts = [d["text"] for d in docs]
    best = 0
    for i in range(len(query)):
        while i + best < len(query) and any(query[i : i + best + 1] in t for t in texts):
            best += 1
    return best


def test_longest_common_substring_equals_brute_force(corpus):
    _root, docs, index, _ = corpus
    rng = random.Random(3)
    for _ in range(15):
        a, b = rng.sample(docs, 2)
        i, j = rng.randrange(len(a["text"]) - 40), rng.randrange(len(b["text"]) - 40)
        # Two real pieces glued with a paraphrase-like edit: the longest overlap may start mid-span.
        query = a["text"][i : i + rng.randint(5, 40)] + "ゑ" + b["text"][j : j + rng.randint(5, 40)]
        span = index.longest_common_substring(query)
        assert span is not None and span.char_end - span.char_start == brute_longest(docs, query)
        assert span.num_occurrences == brute_count(docs, span.text)
    assert index.longest_common_substring("🍣🍣") is None


def test_run_directory_indexes_its_shards_not_its_rejects(tmp_path):
    from pipeline.schema import REJECT_SCHEMA

    (tmp_path / "shards").mkdir()
    (tmp_path / "rejects").mkdir()
    docs = [new_doc(id="d/1", text="吾輩は猫である。", source="t", source_ref="r1")]
    pq.write_table(
        pa.Table.from_pylist(docs, schema=doc_schema()), tmp_path / "shards" / "part-00000-of-00001.parquet"
    )
    pq.write_table(REJECT_SCHEMA.empty_table(), tmp_path / "rejects" / "part-00000-of-00001.parquet")
    assert [p.parent.name for p in ngram.shard_files(tmp_path)] == ["shards"]
