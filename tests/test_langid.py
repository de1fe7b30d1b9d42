import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import LangIdConfig
from pipeline.langid import LangId, default_model_path, load_model, predict
from pipeline.schema import new_doc
from pipeline.stage import CountedStage
from tests.conftest import TEST_DATA


@pytest.fixture(scope="module")
def model():
    return load_model(default_model_path())


def _texts():
    rows = [json.loads(line) for line in (TEST_DATA / "text" / "mixed.jsonl").read_text().splitlines()[:5]]
    return {r["id"]: r["text"] for r in rows}


def test_shipped_model_identifies_real_text(model):
    texts = _texts()
    assert predict(model, texts["000025_1053"])[0] == "ja"
    lang, score = predict(model, texts["en-1"])
    assert lang == "en" and score > 0.9
    # Newlines would end fastText's input line early: the whole text must count.
    assert predict(model, "Hello.\n" + texts["000025_1053"])[0] == "ja"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="lid.176.bin"):
        load_model(str(tmp_path / "lid.176.bin"))


def test_stage_keeps_japanese_and_counts_drops():
    texts = _texts()
    docs = [new_doc(id=k, text=v, source="t", source_ref=k) for k, v in texts.items()]
    with TestPipeline(runner="FnApiRunner") as p:
        kept, rejects = p | beam.Create(docs) | CountedStage(LangId(LangIdConfig(min_score=0.5)))
        assert_that(
            kept | beam.Map(lambda d: (d["id"], d["lang"])),
            equal_to([(k, "ja") for k in texts if k != "en-1"]),
            label="kept",
        )
        assert_that(
            rejects | beam.Map(lambda r: (r["id"], r["reason"], r["detail"][:3])),
            equal_to([("en-1", "wrong_lang", "en:")]),
            label="rejects",
        )
    result = p.result
    from pipeline.manifest import build_stages, counters_by_stage

    (stage,) = build_stages(counters_by_stage(result), ["langid"])
    assert stage["in"] == 5 and stage["out"] == 4 and stage["dropped"] == {"wrong_lang": 1}
    assert stage["reconciled"] and stage["stats"]["lang.ja"] == 4
