"""pipeline/minhash.py and pipeline/dedup_config.py: shingles, signatures (datasketch / rensa compatibility),
estimator accuracy on real Japanese text, LSH parameters and config validation."""

from __future__ import annotations

import dataclasses
import random
import unicodedata

import datasketch
import numpy as np
import pytest
import rensa
from datasketch.lsh import _optimal_param as datasketch_optimal_param
from dedup_corpus import (
    aozora_chunks,
    aozora_windows,
    clueweb_docs,
    edit,
    planted_corpus,
    shingle_set,
    true_jaccard_pairs,
)

from jpcorpus.config import from_dict
from jpcorpus.errors import ConfigError
from pipeline import minhash
from pipeline.dedup_config import DedupConfig, MinHashConfig, NormalizeConfig


@pytest.fixture(scope="module")
def windows() -> list[str]:
    return [minhash.normalize(t, NormalizeConfig()) for t in aozora_windows(12, 2000, seed=3)]


def test_normalize_folds_width_case_digits_and_whitespace():
    cfg = NormalizeConfig()
    assert minhash.normalize("ＡＢＣ ｶﾀｶﾅ\n価格：１，２８０円", cfg) == "abcカタカナ価格:0,000円"
    assert minhash.normalize("吾輩は　猫である。\n", cfg) == "吾輩は猫である。"
    raw = NormalizeConfig(nfkc=False, lowercase=False, digits_to_zero=False, remove_whitespace=False)
    assert minhash.normalize("ＡＢＣ 12", raw) == "ＡＢＣ 12"


def test_fast_nfkc_equals_unicodedata_on_real_and_tricky_text():
    texts = aozora_chunks(300, 2000) + [d["text"] for d in clueweb_docs()]
    texts += ["ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ", "か\u3099き\u309a", "①②㈱㍻ＡＢＣ１２３！？\u3000", "é e\u0301 \u1100\u1161\u11a8"]
    texts += ["ﬁ ﬀ Ⅻ ½ ㌔", "\U0001d400\U0001f600", "가\u11a8 ᄀ\u1161", "ｱ\uff9eﾞ\u0301"]
    for text in texts:
        assert minhash.nfkc(text) == unicodedata.normalize("NFKC", text), text[:40]


def test_shingle_hashes_match_scalar_reference_and_respect_text_boundaries():
    texts = ["吾輩は猫である。名前はまだ無い。", "", "abcd", "abcde", "どこで生れたかとんと見当がつかぬ。"]
    hashes, offsets = minhash.shingle_hashes(texts, 5)
    assert list(np.diff(offsets)) == [len(texts[0]) - 4, 0, 0, 1, len(texts[4]) - 4]
    for i, text in enumerate(texts):
        expected = [minhash.shingle_hash64(text[j : j + 5]) for j in range(len(text) - 4)]
        assert [int(h) for h in hashes[offsets[i] : offsets[i + 1]]] == expected
    empty_hashes, empty_offsets = minhash.shingle_hashes(["", "abc"], 5)
    assert len(empty_hashes) == 0 and list(empty_offsets) == [0, 0, 0]


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42)])
def test_datasketch_backend_is_bit_identical_to_datasketch(windows, num_perm, seed):
    cfg = MinHashConfig(backend="datasketch", num_perm=num_perm, seed=seed)
    texts = windows[:4] + ["短い文章です。"]
    sigs = minhash.signatures(*minhash.shingle_hashes(texts, 5), cfg)
    for text, sig in zip(texts, sigs, strict=True):
        reference = datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=minhash.datasketch_hashfunc)
        reference.update_batch([text[j : j + 5] for j in range(len(text) - 4)])
        assert reference.scheme == "affine32"
        np.testing.assert_array_equal(sig, reference.hashvalues)


def test_rensa_backend_equals_rensa_on_the_same_token_hashes(windows):
    cfg = MinHashConfig(backend="rensa", num_perm=128, seed=7)
    hashes, offsets = minhash.shingle_hashes(windows[:4], 5)
    sigs = minhash.signatures(hashes, offsets, cfg)
    token_sets = [[int(h) for h in hashes[offsets[i] : offsets[i + 1]]] for i in range(4)]
    reference = rensa.RMinHash.digest_matrix_from_token_hash_sets(token_sets, 128, 7).to_rows()
    np.testing.assert_array_equal(sigs, np.array(reference, dtype=np.uint32))


@pytest.mark.parametrize("backend", ["rensa", "datasketch"])
def test_signature_agreement_estimates_true_jaccard(backend):
    """On real text with planted edits, the fraction of equal hashes tracks the brute-force Jaccard, unbiased."""
    cfg = MinHashConfig(backend=backend, num_perm=256)

    base = aozora_windows(8, 1500, seed=11)
    docs = []
    for i, text in enumerate(base):
        for fraction in (0.0, 0.01, 0.03, 0.06, 0.1):
            docs.append(
                {"id": f"{i}-{fraction}", "text": edit(text, fraction, random.Random(i)) if fraction else text}
            )
    truth = true_jaccard_pairs(docs, 5, NormalizeConfig())
    norm = {d["id"]: minhash.normalize(d["text"], NormalizeConfig()) for d in docs}
    ids = sorted(norm)
    sigs = dict(zip(ids, minhash.signatures(*minhash.shingle_hashes([norm[i] for i in ids], 5), cfg), strict=True))
    errors = np.array(
        [np.mean(sigs[a] == sigs[b]) - j for (a, b), j in truth.items() if a.split("-")[0] == b.split("-")[0]]
    )
    assert len(errors) == 8 * 10
    assert abs(errors.mean()) < 0.02  # unbiased
    assert np.sqrt(np.mean(errors**2)) < 0.05  # binomial sd at 256 hashes is <= 0.031
    unrelated = [np.mean(sigs[a] == sigs[b]) for a, b in truth if a.split("-")[0] != b.split("-")[0]]
    assert max(unrelated) < 0.05


def test_shingle_sets_agree_with_string_shingles(windows):
    """The hashed shingle set has exactly as many members as the set of n-gram strings (no 64-bit collisions)."""
    for text in windows:
        assert len(minhash.unique_shingles(text, 5)) == len(shingle_set(text, 5, NormalizeConfig()))


def test_sorted_unique_and_jaccard_equal_numpy_and_python_sets(windows):
    """The fast set primitives of verification against np.unique and Python set arithmetic on real shingles."""
    rng = random.Random(4)
    sets = []
    for text in windows[:4] + [edit(windows[0], 0.02, rng), edit(windows[1], 0.05, rng), windows[2][:3], ""]:
        hashes, _ = minhash.shingle_hashes([text], 5)
        unique = minhash.sorted_unique(hashes)
        assert np.array_equal(unique, np.unique(hashes)) and unique.dtype == np.uint64
        sets.append(unique)
    for a in sets:
        for b in sets:
            sa, sb = set(a.tolist()), set(b.tolist())
            expected = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
            assert minhash.jaccard(a, b) == pytest.approx(expected, abs=1e-12)
    assert minhash.jaccard(sets[0], sets[4]) > 0.8 > minhash.jaccard(sets[1], sets[5]) > 0.5


def test_band_keys_change_only_for_the_band_that_differs():
    sigs = np.arange(2 * 24, dtype=np.uint32).reshape(2, 24)
    sigs[1] = sigs[0]
    sigs[1, 9] += 1  # inside band 2 of 3x8 (hashes 8..15)
    keys = minhash.band_keys(sigs, 3, 8)
    assert [a == b for a, b in zip(keys[0], keys[1], strict=True)] == [True, False, True]
    assert len({k[:2] for k in keys[0]}) == 3  # band index prefix: equal values in different bands never collide


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.5, 128), (0.8, 128), (0.9, 64)])
def test_optimal_param_matches_datasketch(threshold, num_perm):
    for weights in ((0.5, 0.5), (0.05, 0.95)):
        assert minhash.optimal_param(threshold, num_perm, *weights) == datasketch_optimal_param(
            threshold, num_perm, *weights
        )


def test_lsh_params_of_presets_and_threshold():
    assert minhash.lsh_params(MinHashConfig(banding="swallow", num_perm=800)) == (20, 40)
    assert minhash.lsh_params(MinHashConfig(banding="fineweb", num_perm=112)) == (14, 8)
    assert minhash.lsh_params(MinHashConfig(banding="nemo", num_perm=260)) == (20, 13)
    assert minhash.lsh_params(MinHashConfig(banding="9x13")) == (9, 13)
    assert minhash.lsh_params(MinHashConfig()) == (16, 8)  # threshold 0.8, weights 0.05/0.95, 128 hashes
    assert minhash.caught_probability(0.8, 16, 8) == pytest.approx(1 - (1 - 0.8**8) ** 16)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="swallow.*needs 20x40=800.*num_perm = 800"):
        MinHashConfig(banding="swallow")
    with pytest.raises(ConfigError, match="banding: 'fast'"):
        MinHashConfig(banding="fast")
    with pytest.raises(ConfigError, match="threshold"):
        MinHashConfig(threshold=0.0)
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(DedupConfig, {"minhash": {"num_perms": 64}})
    cfg = from_dict(DedupConfig, {"method": "exact", "minhash": {"banding": "nemo", "num_perm": 260}})
    assert cfg.method == "exact" and cfg.minhash.num_perm == 260
    assert dataclasses.replace(cfg.minhash, verify=False).verify is False


def test_planted_corpus_has_the_expected_variants():
    docs = planted_corpus(2, 1, 2000, seed=7)
    kinds = sorted(d["id"].split("-", 2)[2] for d in docs if d["id"].startswith("ao-000"))
    assert kinds == sorted(
        ["orig", "exact", "edit1", "edit2", "edit3", "edit5", "boilerplate", "reorder", "overlap50"]
    )
    assert sum(d["id"].startswith("cw-") for d in docs) == 29
    assert all(d["text"] for d in docs)
