"""zlib compression ratio (LLM-jp corpus v1): real prose within [0.30, 0.70], repeated text below."""

from __future__ import annotations

import zlib

from filters.compression import ZlibRatio
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}


def test_prose_keeps_and_value_is_llmjp_formula():
    f = ZlibRatio()
    for i, text in DOCS.items():
        data = text.encode("utf-8")
        assert f.score(text) == len(zlib.compress(data, 9)) / len(data)
        if i.startswith(("aozora/", "wikipedia/")):
            assert f.keep(f.score(text)), i


def test_repeated_text_compresses_too_well():
    text = DOCS["wikipedia/jawiki:jawiki/316"][:200] * 20
    assert ZlibRatio().violations(ZlibRatio().score(text))[0][0] == "zlib_ratio_v1"


def test_lone_surrogate_and_empty_text_score():
    assert ZlibRatio().score("") == 0.0
    assert 0 < ZlibRatio().score("壊れた\ud800文字") < 2


def test_keeping_the_heap_between_compressions_changes_no_score():
    from filters.compression import keep_heap_between_compressions

    text = "吾輩は猫である。名前はまだ無い。" * 40
    before = ZlibRatio().score(text)
    keep_heap_between_compressions()  # True on glibc Linux; a no-op elsewhere
    assert ZlibRatio().score(text) == before
