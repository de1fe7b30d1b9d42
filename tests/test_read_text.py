import gzip

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.read_text import ReadText, iter_jsonl, iter_parquet, make_doc
from pipeline.stage import REJECTS
from tests.conftest import TEST_DATA

MIXED = TEST_DATA / "text" / "mixed.jsonl"


def test_jsonl_records_are_docs_drops_or_failures():
    kinds = [kind for kind, _ in iter_jsonl(str(MIXED))]
    assert kinds.count("doc") == 5
    assert kinds.count("dropped") == 2  # no text, blank text
    assert kinds.count("failed") == 1  # invalid JSON
    docs = [v for k, v in iter_jsonl(str(MIXED)) if k == "doc"]
    assert docs[0]["id"] == "aozora/000025_1053"
    assert docs[0]["source_ref"] == "mixed.jsonl:1"
    assert docs[0]["text"].startswith("八っちゃんが黒い石も")


def test_ids_are_stable_without_given_id():
    a = make_doc({"text": "テスト"}, "jsonl", "f.jsonl:7")
    b = make_doc({"text": "テスト"}, "jsonl", "f.jsonl:7")
    c = make_doc({"text": "テスト"}, "jsonl", "f.jsonl:8")
    assert a["id"] == b["id"] != c["id"]


def test_parquet_without_text_column_fails_once(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"body": ["本文"]}), path)
    assert [k for k, _ in iter_parquet(str(path))] == ["failed"]


def test_truncated_gzip_jsonl_keeps_complete_lines_and_counts_damage(tmp_path):
    data = gzip.compress(MIXED.read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    num_before_damage = 0
    try:
        for kind, _ in iter_jsonl(str(path)):
            num_before_damage += kind == "doc"
    except EOFError:
        pass
    assert num_before_damage >= 1  # the cut leaves whole lines before it
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([(str(path), "jsonl")]) | beam.ParDo(ReadText()).with_outputs(REJECTS, main="docs")
        assert_that(out[REJECTS] | beam.Map(lambda r: r["reason"]), equal_to(["unreadable"]), label="damage")
        assert_that(out.docs | beam.combiners.Count.Globally(), equal_to([num_before_damage]), label="kept")
