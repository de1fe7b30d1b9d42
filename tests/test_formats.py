import bz2
import gzip

import pytest

from jpcorpus.errors import UsageError
from pipeline.formats import detect_format, expand_inputs, sniff
from tests.conftest import SHARED_DATA, TEST_DATA

WARC_DIR = SHARED_DATA / "warc_real"


def test_detects_real_files_by_content(tmp_path):
    assert detect_format(str(WARC_DIR / "resiliparse_clueweb09-ja_quirk.warc.gz")) == "warc"
    assert detect_format(str(WARC_DIR / "whirlwind_CC-MAIN-2024-22.warc.wet.gz")) == "warc"
    assert detect_format(str(TEST_DATA / "text" / "mixed.jsonl")) == "jsonl"
    # The name lies: content decides.
    disguised = tmp_path / "pages.txt"
    disguised.write_bytes(gzip.decompress((WARC_DIR / "whirlwind_CC-MAIN-2024-22.warc.gz").read_bytes()))
    assert detect_format(str(disguised)) == "warc"


def test_detects_mediawiki_xml_through_bz2(tmp_path):
    xml = b'<?xml version="1.0"?>\n<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/"><siteinfo>'
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(bz2.compress(xml))
    assert detect_format(str(path)) == "mediawiki_xml"


def test_detects_truncated_gzip_head():
    # The clipped WARC is a truncated gzip member; its head is still recognisable.
    assert detect_format(str(WARC_DIR / "resiliparse_clipped.warc.gz")) == "warc"


def test_unknown_format_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("吾輩は猫である。", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown input format"):
        detect_format(str(path))
    assert sniff(b"<html><body>") is None


def test_expand_inputs_directories_globs_and_missing(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text("{}\n")
    (tmp_path / "SOURCE.md").write_text("notes")
    found = expand_inputs([str(tmp_path)])
    assert [p.rsplit("/", 1)[-1] for p in found] == ["a.jsonl", "b.jsonl"]
    assert expand_inputs([str(tmp_path / "*.jsonl"), str(tmp_path / "a.jsonl")]) == [str(tmp_path / "a.jsonl")]
    with pytest.raises(UsageError, match=r"matched no files: '.*nothing-\*\.warc\.gz'"):
        expand_inputs([str(tmp_path / "nothing-*.warc.gz")])
