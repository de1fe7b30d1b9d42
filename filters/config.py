"""``[filters]`` config: which preset, which overrides, whether to drop or only annotate; resolved to a plan.

TOML (a table of the build config; ``jpcorpus select --config`` reads the same table)::

    [filters]
    preset = "swallow_v1"               # default | swallow_v1 | llmjp_v1 | fineweb2_jpn
    drop = true                         # false: score and store columns, drop nothing ("annotate, then select")
    disable = ["ng_char_ratio_v1"]      # filter or clean-up step names removed from the preset
    annotate = ["llmjp_v1"]             # extra filters (or whole presets) scored and stored, never deciding
    pii = true
    pii_kinds = ["email", "phone", "ip", "credit_card", "my_number"]

    [filters.overrides.hiragana_ratio_v1]   # any field of a filter or clean-up step in the plan
    min_ratio = 0.15

An unknown preset, filter, step or field is a ``ConfigError`` at start-up (never a silent default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from filters import FILTERS_BY_NAME, CleanupStep, Filter
from filters.pii import PII_KINDS, PiiMasker
from filters.presets import PRESETS, get_preset
from jpcorpus.config import replace_dotted
from jpcorpus.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class FiltersConfig:
    enabled: bool = True  # false: no clean-up, quality or PII stage at all
    preset: str = "default"  # name of a preset in filters/presets.py
    drop: bool = True  # false: annotate only (every document is kept with its scores)
    disable: tuple[str, ...] = ()  # filter / clean-up step names removed from the preset
    annotate: tuple[str, ...] = ()  # extra filter or preset names: scored and stored, never deciding
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {field: value}
    pii: bool = True  # mask PII in kept documents
    pii_kinds: tuple[str, ...] = PII_KINDS

    def __post_init__(self) -> None:
        build_plan(self)  # every name and field is checked now, at start-up


@dataclass(frozen=True, slots=True)
class FilterPlan:
    """The resolved stages: what runs, in order. Built from a :class:`FiltersConfig` by :func:`build_plan`."""

    preset: str
    cleanup: tuple[CleanupStep, ...]
    filters: tuple[Filter, ...]  # deciding filters, in decision order
    annotate_only: tuple[Filter, ...]  # scored and stored, never deciding
    post_cleanup: tuple[CleanupStep, ...]
    pii: PiiMasker | None
    drop: bool

    @property
    def scored(self) -> tuple[Filter, ...]:
        return self.filters + self.annotate_only

    def rule_names(self) -> tuple[str, ...]:
        """Every rule that can drop a document, in decision order."""
        return tuple(r for f in self.filters for r in f.rule_names())


def build_plan(cfg: FiltersConfig) -> FilterPlan:
    try:
        preset = get_preset(cfg.preset)
    except ValueError as exc:
        raise ConfigError(f"filters.preset: {exc}") from None
    names_in_preset = {x.name for x in (*preset.cleanup, *preset.filters, *preset.post_cleanup)}
    unknown = sorted(set(cfg.disable) - names_in_preset)
    if unknown:
        raise ConfigError(
            f"filters.disable: {unknown} not in preset {preset.name!r}; it has {sorted(names_in_preset)}"
        )
    filters = [f for f in preset.filters if f.name not in cfg.disable]
    annotate: list[Filter] = []
    for name in cfg.annotate:
        if name in PRESETS:
            extra = list(PRESETS[name].filters)
        elif name in FILTERS_BY_NAME:
            extra = [FILTERS_BY_NAME[name]()]
        else:
            raise ConfigError(
                f"filters.annotate: {name!r} is neither a filter nor a preset; filters: {sorted(FILTERS_BY_NAME)}, "
                f"presets: {sorted(PRESETS)}"
            )
        have = {f.name for f in (*filters, *annotate)}
        annotate.extend(f for f in extra if f.name not in have)
    cleanup = [s for s in preset.cleanup if s.name not in cfg.disable]
    post = [s for s in preset.post_cleanup if s.name not in cfg.disable]

    plan_items = {x.name for x in (*cleanup, *filters, *annotate, *post)}
    for name, values in cfg.overrides.items():
        if name not in plan_items:
            raise ConfigError(
                f"filters.overrides.{name}: no such filter or clean-up step in this plan; it has {sorted(plan_items)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"filters.overrides.{name}: expected a table, got {values!r}")

    def apply(obj):
        if obj.name not in cfg.overrides:
            return obj
        try:
            return replace_dotted(obj, cfg.overrides[obj.name])
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"filters.overrides.{obj.name}: {exc}") from None

    try:
        pii = PiiMasker(kinds=tuple(cfg.pii_kinds)) if cfg.pii else None
    except ValueError as exc:
        raise ConfigError(f"filters.pii_kinds: {exc}") from None
    return FilterPlan(
        preset=preset.name,
        cleanup=tuple(apply(s) for s in cleanup),
        filters=tuple(apply(f) for f in filters),
        annotate_only=tuple(apply(f) for f in annotate),
        post_cleanup=tuple(apply(s) for s in post),
        pii=pii,
        drop=cfg.drop,
    )


def plan_summary(plan: FilterPlan) -> dict[str, Any]:
    """A JSON view of the plan for logs and manifests: names and every field of every step."""

    def describe(obj) -> dict[str, Any]:
        return {"name": obj.name, **{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}}

    return {
        "preset": plan.preset,
        "drop": plan.drop,
        "cleanup": [describe(s) for s in plan.cleanup],
        "filters": [describe(f) for f in plan.filters],
        "annotate_only": [describe(f) for f in plan.annotate_only],
        "post_cleanup": [describe(s) for s in plan.post_cleanup],
        "pii": list(plan.pii.kinds) if plan.pii else [],
    }
