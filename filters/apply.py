"""Score a document with a plan's filters and decide from the scores: shared by the build stage and ``select``.

``select`` re-applies thresholds to stored score columns; it calls :func:`decide` on the columns read back from
a shard, the build stage calls it on the columns it just computed — one code path, so the decisions agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from filters.base import Filter, RuleRow, rule_table, rule_violations
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
    (result,) = score_documents(filters, [doc])
    if isinstance(result, FilterError):
        raise result
    return result


def score_documents(filters: tuple[Filter, ...], docs: list[dict[str, Any]]) -> list[dict[str, float] | FilterError]:
    """Score columns for each document, or the :class:`FilterError` of the first filter that raised on it.

    Filters that override ``score_batch`` (one compiled loop over the whole batch) score the batch in
    one call; if that call raises, they score the documents one by one, so only the documents they really fail on
    are failed — a batch never fails as a whole. The other filters run document by document, all of them on one
    document before the next, so the per-text views they share (sentences, word-list matches) are computed once.
    """
    columns: list[dict[str, float]] = [{} for _ in docs]
    errors: dict[int, tuple[int, FilterError]] = {}  # doc -> (position of the filter in the plan, its error)

    def fail(i: int, rank: int, f: Filter, exc: Exception) -> None:
        if i not in errors or rank < errors[i][0]:
            errors[i] = (rank, FilterError(f.name, exc))

    values_by_field: dict[str, tuple[Any, ...]] = {}  # one tuple per field, shared by the batched filters
    per_doc: list[tuple[int, Filter]] = []
    for rank, f in enumerate(filters):
        if type(f).score_batch is Filter.score_batch:
            per_doc.append((rank, f))
            continue
        values = values_by_field.get(f.input_field)
        if values is None:
            values = values_by_field[f.input_field] = tuple(d.get(f.input_field) for d in docs)
        try:
            _add_columns(f, f.score_batch(values), columns)
        except Exception:  # noqa: BLE001 - retried per document below, where the failing ones are named
            for i, value in enumerate(values):
                try:
                    columns[i].update(f.to_columns(f.score(value)))
                except Exception as exc:  # noqa: BLE001 - counted as failed.<filter> by the caller
                    fail(i, rank, f, exc)
    for i, doc in enumerate(docs):
        for rank, f in per_doc:
            try:
                columns[i].update(f.to_columns(f.score(doc.get(f.input_field))))
            except Exception as exc:  # noqa: BLE001 - counted as failed.<filter> by the caller
                fail(i, rank, f, exc)
                break
    return [errors[i][1] if i in errors else cols for i, cols in enumerate(columns)]


def _add_columns(f: Filter, scores: list, columns: list[dict[str, float]]) -> None:
    """``columns[i].update(f.to_columns(scores[i]))`` for every document, without a dict per document and filter
    (that and :func:`decide` were a tenth of the filter set's time once the filters were compiled)."""
    if len(scores) != len(columns):
        raise ValueError(f"{f.name}.score_batch returned {len(scores)} scores for {len(columns)} documents")
    names = f.column_names()
    if f.metrics:
        pairs = tuple(zip(names, f.metrics, strict=True))
        for cols, score in zip(columns, scores, strict=True):
            if not isinstance(score, dict):
                raise TypeError(f"{f.name}: dict score expected, got {type(score).__name__}")
            for col, metric in pairs:
                cols[col] = float(score[metric])
    else:
        (col,) = names
        for cols, score in zip(columns, scores, strict=True):
            if isinstance(score, dict):
                raise TypeError(f"{f.name}: float score expected, got a dict")
            cols[col] = float(score)


def decide(filters: tuple[Filter, ...], columns: dict[str, Any]) -> list[tuple[str, str]]:
    """``(rule, detail)`` of every failed rule, in decision order; the first one is the drop reason."""
    return rule_violations(_plan_rules(filters), columns)


_PLAN_RULES: dict[int, tuple[tuple[Filter, ...], tuple[RuleRow, ...]]] = {}


def _plan_rules(filters: tuple[Filter, ...]) -> tuple[RuleRow, ...]:
    """Every filter's active rules in order, as one table (memoised per filter tuple; it holds the tuple, so the
    id is never reused while the entry lives)."""
    if not isinstance(filters, tuple):
        return tuple(row for f in filters for row in rule_table(f))
    entry = _PLAN_RULES.get(id(filters))
    if entry is None or entry[0] is not filters:
        if len(_PLAN_RULES) >= 256:
            _PLAN_RULES.clear()
        entry = _PLAN_RULES[id(filters)] = (filters, tuple(row for f in filters for row in rule_table(f)))
    return entry[1]
