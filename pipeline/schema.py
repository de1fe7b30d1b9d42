"""Record layouts shared by every stage: the document dict, the shard schema and the rejects schema.

Between stages a document is a plain ``dict`` with the keys of ``DOC_FIELDS`` (Beam pickles dicts cheaply and
every runner accepts them). Stages that annotate documents (quality scores, dedup cluster ids) add columns; they
declare them as ``extra_fields`` so the writer's schema is fixed before any row is written.
"""

from __future__ import annotations

import pyarrow as pa

# Columns every shard has, in order. `id` is stable and derived from the source (see pipeline.ids).
DOC_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),  # cc | wikipedia | jsonl | parquet | ...
    pa.field("url", pa.string()),
    pa.field("title", pa.string()),
    pa.field("source_ref", pa.string(), nullable=False),  # "file.warc.gz@offset" or "jawiki:page=ID:rev=REV"
    pa.field("crawl_date", pa.string()),  # ISO 8601 as given by the source; None when the source has no date
    pa.field("charset", pa.string()),  # charset the bytes were decoded with; None for already-decoded text
    pa.field("lang", pa.string()),
    pa.field("lang_score", pa.float32()),
)
DOC_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in DOC_FIELDS)

# Rejects: what was removed, where and why. `text_head` keeps enough text for a person to judge the decision.
REJECT_TEXT_HEAD_CHARS = 2000
REJECT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("stage", pa.string(), nullable=False),
    pa.field("outcome", pa.string(), nullable=False),  # dropped | failed
    pa.field("reason", pa.string(), nullable=False),  # drop reason or failure kind
    pa.field("detail", pa.string()),  # free text: exception message, score, cluster id, ...
    pa.field("id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("url", pa.string()),
    pa.field("title", pa.string()),
    pa.field("source_ref", pa.string()),
    pa.field("text_head", pa.string()),
)
REJECT_SCHEMA = pa.schema(list(REJECT_FIELDS))


def doc_schema(extra_fields: tuple[pa.Field, ...] = ()) -> pa.Schema:
    """The shard schema: the base document columns followed by the stages' annotation columns."""
    names = set(DOC_FIELD_NAMES)
    for f in extra_fields:
        if f.name in names:
            raise ValueError(f"annotation column {f.name!r} is declared twice")
        names.add(f.name)
    return pa.schema(list(DOC_FIELDS) + list(extra_fields))


def new_doc(**fields: object) -> dict:
    """A document dict with every base column present (missing ones None); unknown keys are an error."""
    unknown = set(fields) - set(DOC_FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown document fields {sorted(unknown)}")
    return {name: fields.get(name) for name in DOC_FIELD_NAMES}
