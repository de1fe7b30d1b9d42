"""The filter protocol: score a document, then decide with thresholds (NeMo-Curator's score/keep split).

A filter is a frozen dataclass with a stable, versioned ``name``. ``score(value)`` is pure and returns either a
float or a dict of named floats (``metrics`` lists the keys, in order). Fields listed in ``score_params`` change
the score (e.g. how many leading characters are inspected); all other fields are thresholds, declared in
``thresholds`` as :class:`Threshold` records. A threshold set to ``None`` disables that rule (datatrove style).

Scores are stored as columns (``column_names``) so ``jpcorpus select`` can re-apply other thresholds later
without recomputing (dolma's "tag, then mix"); :func:`violations` works on stored scores exactly as on fresh ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Score = float | dict[str, float]
COLUMN_PREFIX = "q_"  # score columns in the shards: q_<filter>, or q_<filter>__<metric> for dict scores


@dataclass(frozen=True, slots=True)
class Threshold:
    """Rule ``metric >= field value`` (op "min") or ``metric <= field value`` (op "max").

    ``metric`` is None for a float-scored filter. ``strict`` makes the comparison strict (keep only if
    ``metric > value`` / ``< value``), for published rules written as "reject if score >= x".
    """

    field: str
    op: Literal["min", "max"]
    metric: str | None = None
    strict: bool = False


class Filter:
    """Mixin for filter dataclasses: naming, columns and the generic threshold decision."""

    __slots__ = ()
    name: ClassVar[str]
    input_field: ClassVar[str] = "text"  # document key the filter scores: "text" or "url"
    metrics: ClassVar[tuple[str, ...]] = ()  # empty: score() returns a float
    thresholds: ClassVar[tuple[Threshold, ...]] = ()
    score_params: ClassVar[tuple[str, ...]] = ()

    def score(self, value: str) -> Score:
        raise NotImplementedError

    def score_batch(self, values: tuple[str, ...]) -> list[Score]:
        """Scores of several documents at once, equal to ``[self.score(v) for v in values]``.

        Filters whose work is a loop over code points override this to run one compiled loop over the whole batch
        (per-call overhead, not arithmetic, dominates on 2,000-character documents). ``values`` is one tuple object
        shared by every filter of a batch, so per-batch views can be memoised on its identity.
        """
        return [self.score(v) for v in values]

    def __post_init__(self) -> None:
        for t in self.thresholds:
            value = getattr(self, t.field)
            if value is not None and (not isinstance(value, (int, float)) or math.isnan(value)):
                raise ValueError(f"{self.name}.{t.field} must be a number or unset, got {value!r}")

    # -- columns ---------------------------------------------------------------------------------------------

    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        names = _COLUMN_NAMES.get(cls)
        if names is None:
            base = COLUMN_PREFIX + cls.name
            names = _COLUMN_NAMES[cls] = tuple(f"{base}__{m}" for m in cls.metrics) if cls.metrics else (base,)
        return names

    def to_columns(self, score: Score) -> dict[str, float]:
        if self.metrics:
            if not isinstance(score, dict):
                raise TypeError(f"{self.name}: dict score expected, got {type(score).__name__}")
            return {col: float(score[m]) for col, m in zip(self.column_names(), self.metrics, strict=True)}
        if isinstance(score, dict):
            raise TypeError(f"{self.name}: float score expected, got a dict")
        return {self.column_names()[0]: float(score)}

    def from_columns(self, row: dict[str, Any]) -> Score:
        """The score as stored in a shard row (the inverse of :meth:`to_columns`)."""
        if self.metrics:
            return {m: row[col] for col, m in zip(self.column_names(), self.metrics, strict=True)}
        return row[self.column_names()[0]]

    def params(self) -> dict[str, Any]:
        """The scoring parameters: stored next to the columns so ``select`` can tell if they still apply."""
        return {p: _plain(getattr(self, p)) for p in self.score_params}

    # -- decision --------------------------------------------------------------------------------------------

    def rule_name(self, t: Threshold) -> str:
        return self.name if t.metric is None else f"{self.name}.{t.metric}"

    def rule_names(self) -> tuple[str, ...]:
        """Every rule this filter can fail, in order (each threshold's metric once)."""
        names: list[str] = []
        for t in self.thresholds:
            n = self.rule_name(t)
            if n not in names:
                names.append(n)
        return tuple(names)

    def violations(self, score: Score) -> list[tuple[str, str]]:
        """``(rule, detail)`` for every active threshold the score fails; empty means keep."""
        if self.metrics:
            columns = {col: score[m] for col, m in zip(self.column_names(), self.metrics, strict=True)}  # type: ignore[index]
        else:
            columns = {self.column_names()[0]: score}
        return self.column_violations(columns)

    def keep(self, score: Score) -> bool:
        return not self.violations(score)

    def column_violations(self, columns: dict[str, Any]) -> list[tuple[str, str]]:
        """:meth:`violations` of the score stored in ``columns`` (a shard row or fresh ``to_columns`` output).

        The same rules and messages, read straight from the columns through a per-filter table built once:
        deciding is per document, so the generic path's dict building dominated it.
        """
        return rule_violations(rule_table(self), columns)


RuleRow = tuple[str, str, bool, bool, float, str, str]  # (rule, column, is_min, strict, bound, field, label)


def rule_violations(table: tuple[RuleRow, ...], columns: dict[str, Any]) -> list[tuple[str, str]]:
    """``(rule, detail)`` of every rule of ``table`` (rows of :func:`rule_table`) that ``columns`` fail."""
    out: list[tuple[str, str]] = []
    for rule, column, is_min, strict, bound, field, label in table:
        value = columns[column]
        if value is None or value != value:  # missing or NaN
            out.append((rule, f"{field}: score missing"))
            continue
        if is_min:
            ok = value > bound if strict else value >= bound
        else:
            ok = value < bound if strict else value <= bound
        if not ok:
            out.append((rule, f"{label}={value:.6g} fails {field}={bound}"))
    return out


_COLUMN_NAMES: dict[type, tuple[str, ...]] = {}
_RULE_TABLES: dict[int, tuple[Filter, tuple[RuleRow, ...]]] = {}


def rule_table(f: Filter) -> tuple[RuleRow, ...]:
    """``(rule, column, is_min, strict, bound, field, label)`` of each active threshold of ``f``, in order."""
    entry = _RULE_TABLES.get(id(f))
    if entry is None or entry[0] is not f:  # the filter is kept in the entry, so its id is never reused
        columns = dict(zip(f.metrics or (None,), f.column_names(), strict=True))
        table = tuple(
            (f.rule_name(t), columns[t.metric], t.op == "min", t.strict, bound, t.field, t.metric or "score")
            for t in f.thresholds
            if (bound := getattr(f, t.field)) is not None
        )
        if len(_RULE_TABLES) >= 4096:  # a process that builds filters in a loop does not grow without bound
            _RULE_TABLES.clear()
        entry = _RULE_TABLES[id(f)] = (f, table)
    return entry[1]


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)  # type: ignore[arg-type]
    return value


def ratio(num: float, den: float) -> float:
    """``num / den``, 0.0 for an empty denominator (an empty document has no bad ratio)."""
    return num / den if den else 0.0
