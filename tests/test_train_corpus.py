"""Real Japanese test corpus for tokenize/train tests: Aozora works cut into documents, written as pipeline shards.

Helpers only, imported by tests/test_tokenize.py and tests/test_train_*.py, plus a check that the corpus is what
those tests assume (several hundred documents of real prose).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import doc_schema, new_doc

TRAIN_DATA = Path(__file__).resolve().parent / "data" / "train"
SP_MODEL = TRAIN_DATA / "test_ja_model.model"

_RUBY = re.compile(r"《[^》]*》|｜|［＃[^］]*］")


def aozora_body(text: str) -> str:
    """Strip the Aozora header/legend, ruby, editor notes and colophon (SOURCE.txt's recipe)."""
    parts = text.split("-------------------------------------------------------")
    body = parts[2] if len(parts) >= 3 else text
    body = body.split("\n底本：")[0]
    return _RUBY.sub("", body).strip()


def aozora_documents(target_chars: int = 400) -> list[dict]:
    """Each work cut into documents of whole paragraphs of about ``target_chars`` characters."""
    docs = []
    for path in sorted(TRAIN_DATA.glob("aozora_*.txt")):
        paragraphs = [p.strip() for p in aozora_body(path.read_text(encoding="utf-8")).split("\n") if p.strip()]
        buf: list[str] = []
        for para in paragraphs:
            buf.append(para)
            if sum(map(len, buf)) >= target_chars:
                docs.append(_doc(path, len(docs), "\n".join(buf)))
                buf = []
        if buf:
            docs.append(_doc(path, len(docs), "\n".join(buf)))
    return docs


def _doc(path: Path, n: int, text: str) -> dict:
    return new_doc(
        id=f"aozora:{path.stem}:{n:04d}",
        text=text,
        source="aozora",
        title=path.stem,
        source_ref=f"{path.name}#{n}",
        lang="ja",
        lang_score=1.0,
    )


def write_shards(out_dir: Path, docs: list[dict], num_shards: int = 2) -> Path:
    """Write ``docs`` as ``part-XXXXX.parquet`` pipeline shards (round robin) under ``out_dir/shards``."""
    shard_dir = out_dir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    schema = doc_schema()
    for i in range(num_shards):
        rows = docs[i::num_shards]
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, shard_dir / f"part-{i:05d}-of-{num_shards:05d}.parquet")
    return out_dir


def test_corpus_is_real_prose():
    docs = aozora_documents()
    assert len(docs) > 100
    assert all("《" not in d["text"] and "［＃" not in d["text"] for d in docs)
    assert len({d["id"] for d in docs}) == len(docs)
    assert "禅智内供" in "".join(d["text"] for d in docs)
