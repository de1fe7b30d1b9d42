"""`jpcorpus tokenize` on real Aozora documents with a real SentencePiece model: layout, counts, determinism."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm
from test_train_corpus import SP_MODEL, aozora_documents, write_shards

from jpcorpus.cli import main as cli_main
from pipeline.tokenize import run
from train import shard_format as sf


@pytest.fixture(scope="module")
def docs():
    out = aozora_documents()
    # Bad input rides along: no text, whitespace only, no id. Each must be dropped with a reason, not crash.
    out.append({**out[0], "id": "bad:empty", "text": ""})
    out.append({**out[0], "id": "bad:blank", "text": " \n　"})
    out.append({**out[0], "id": "", "text": "本文はあるが識別子がない。"})
    return out


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory, docs):
    root = tmp_path_factory.mktemp("tok")
    write_shards(root / "in", docs, num_shards=2)
    argv = ["--input", str(root / "in"), "--tokenizer", str(SP_MODEL), "--output", str(root / "out")]
    assert run([*argv, "--val-fraction", "0.1", "--max-docs-per-shard", "40"]) == 0
    return root


def _read_split(out, split):
    meta = sf.read_meta(out)
    dtype = np.dtype(meta["dtype"])
    return [sf.open_shard(out, stem, dtype) for stem in meta["shards"][split]]


def test_every_document_round_trips_with_eos_in_exactly_one_split(tokenized, docs):
    out = tokenized / "out"
    meta = sf.read_meta(out)
    assert meta["dtype"] == "<u2" and meta["vocab_size"] == 8000 and meta["eos_id"] == 2
    sp = spm.SentencePieceProcessor(model_file=str(SP_MODEL))
    by_id = {d["id"]: d["text"] for d in docs}
    seen: dict[str, str] = {}
    for split in sf.SPLITS:
        for shard in _read_split(out, split):
            assert shard.doc_ids == sorted(shard.doc_ids)  # sorted within a shard: deterministic bytes
            for doc_id, off, n in zip(shard.doc_ids, shard.offsets, shard.lengths, strict=True):
                ids = shard.tokens[off : off + n].tolist()
                assert ids[-1] == 2 and 2 not in ids[:-1]
                assert sp.decode(ids[:-1]) == sp.decode(sp.encode(by_id[doc_id]))
                assert doc_id not in seen
                seen[doc_id] = split
    good = {d["id"] for d in docs if d["id"] and d["text"].strip()}
    assert set(seen) == good
    # Several train shards (max 40 docs each) and a real held-out split near the requested 10 %.
    assert len(meta["shards"]["train"]) >= 3
    num_val = sum(1 for s in seen.values() if s == "val")
    assert 3 <= num_val <= 25
    # The split is a function of the id alone.
    assert all((sf.hash_unit(i, "split") < 0.1) == (s == "val") for i, s in seen.items())


def test_manifest_reconciles_and_counts_tokens_per_source_and_shard(tokenized, docs):
    out = tokenized / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unreconciled"] == []
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["read_shards"]["in"] == len(docs)
    tok = stages["tokenize"]
    assert tok["in"] == len(docs)
    assert tok["dropped"] == {"empty_text": 2, "missing_id": 1}
    assert tok["out"] + 3 == len(docs)
    total = sum(manifest["output"]["tokens"].values())
    assert manifest["output"]["tokens_per_source"] == {"aozora": {"documents": tok["out"], "tokens": total}}
    assert sum(s["num_tokens"] for s in manifest["output"]["shards"]) == total
    for shard in manifest["output"]["shards"]:
        assert (out / (shard["stem"] + ".bin")).stat().st_size == 2 * shard["num_tokens"]
    rejects = pq.read_table(out / "rejects").to_pylist()
    assert sorted(r["reason"] for r in rejects) == ["empty_text", "empty_text", "missing_id"]


def test_output_bytes_do_not_depend_on_input_sharding(tokenized, docs, tmp_path):
    # Same documents, shuffled into 3 input shards instead of 2: identical token files and indexes.
    rng = np.random.default_rng(0)
    shuffled = [docs[i] for i in rng.permutation(len(docs))]
    write_shards(tmp_path / "in", shuffled, num_shards=3)
    argv = ["--input", str(tmp_path / "in"), "--tokenizer", str(SP_MODEL), "--output", str(tmp_path / "out")]
    assert run([*argv, "--val-fraction", "0.1", "--max-docs-per-shard", "40"]) == 0
    a, b = tokenized / "out", tmp_path / "out"
    assert sf.read_meta(a)["shards"] == sf.read_meta(b)["shards"]
    for split in sf.SPLITS:
        for stem in sf.read_meta(a)["shards"][split]:
            assert (a / f"{stem}.bin").read_bytes() == (b / f"{stem}.bin").read_bytes()
            assert pq.read_table(a / f"{stem}.idx.parquet").equals(pq.read_table(b / f"{stem}.idx.parquet"))


def test_truncated_shard_is_an_error_not_garbage(tokenized, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tokenized / "out", copy)
    stem = sf.read_meta(copy)["shards"]["train"][0]
    path = copy / f"{stem}.bin"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated or mismatched"):
        sf.open_shard(copy, stem, np.dtype("<u2"))


def test_token_dtype_widens_past_uint16():
    assert sf.token_dtype(8000) == np.dtype("<u2")
    assert sf.token_dtype(65536) == np.dtype("<u2")
    assert sf.token_dtype(65537) == np.dtype("<u4")  # e.g. llm-jp-tokenizer v3 (~100k pieces)


def test_missing_or_invalid_tokenizer_is_a_usage_error(tokenized, tmp_path, capsys):
    base = ["tokenize", "--input", str(tokenized / "in"), "--output", str(tmp_path / "o")]
    assert cli_main([*base, "--tokenizer", str(tmp_path / "nope.model")]) == 2
    assert "tokenizer model not found" in capsys.readouterr().err
    bogus = tmp_path / "bogus.model"
    bogus.write_bytes(b"not a model")
    assert cli_main([*base, "--tokenizer", str(bogus)]) == 2
    assert "not a SentencePiece model" in capsys.readouterr().err
    assert cli_main([*base, "--tokenizer", str(SP_MODEL), "--val-fraction", "1.5"]) == 2
    assert (
        cli_main(["tokenize", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--tokenizer", str(SP_MODEL)])
        == 2
    )
    assert "no shards" in capsys.readouterr().err
