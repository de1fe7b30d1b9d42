"""Score a document with a plan's filters and decide from the scores: shared by the build stage and ``select``.

``select`` re-applies thresholds to stored score columns; it calls :func:`decide` on the columns read back from
a shard, the build stage calls it on the columns it just computed — one code path, so the decisions agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from filters.config import FilterPlan

PARAMS_METADATA_KEY = b"jpcorpus.filter"  # pa.Field metadata: {"filter": name, "params": {...}} as JSON


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One score column: its name, the filter that writes it and that filter's scoring parameters."""

    name: str
    filter_name: str
    params: dict[str, Any]

    def metadata(self) -> dict[bytes, bytes]:
        payload = {"filter": self.filter_name, "params": self.params}
        return {PARAMS_METADATA_KEY: json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")}


def column_specs(plan: FilterPlan) -> tuple[ColumnSpec, ...]:
    """Score columns of every scored filter (deciding, then annotate-only), in a fixed order."""
    return tuple(ColumnSpec(col, f.name, f.params()) for f in plan.scored for col in f.column_names())


class FilterError(Exception):
    """A filter raised while scoring; ``filter_name`` says which (the stage counts it as failed)."""

    def __init__(self, filter_name: str, cause: Exception) -> None:
        super().__init__(f"{filter_name}: {type(cause).__name__}: {cause}")
        self.filter_name = filter_name


def score_document(filters: tuple[Filter, ...], doc: dict[str, Any]) -> dict[str, float]:
    """All score columns for ``doc``; a filter that raises becomes a :class:`FilterError` naming it."""
    columns: dict[str, float] = {}
    for f in filters:
        try:
            columns.update(f.to_columns(f.score(doc.get(f.input_field))))
        except Exception as exc:  # noqa: BLE001 - re-raised with the filter's name for the failed.<filter> count
            raise FilterError(f.name, exc) from exc
    return columns


def decide(filters: tuple[Filter, ...], columns: dict[str, Any]) -> list[tuple[str, str]]:
    """``(rule, detail)`` of every failed rule, in decision order; the first one is the drop reason."""
    out: list[tuple[str, str]] = []
    for f in filters:
        out.extend(f.violations(f.from_columns(columns)))
    return out
