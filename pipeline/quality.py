"""Beam stages for filters/: clean-up, quality (annotate, then decide) and PII masking.

    docs --cleanup--> --quality--> --post_cleanup--> --pii--> docs with q_* score columns

- ``cleanup`` / ``post_cleanup`` rewrite text with the plan's clean-up steps; per step, ``stats.<step>.docs``
  (documents changed) and ``stats.<step>.edits``. A document the clean-up leaves blank is dropped as
  ``empty_after_cleanup``. ``post_cleanup`` runs on kept documents only (the presets that modify text after
  filtering, as Swallow and LLM-jp do).
- ``quality`` stores every score as a column (``quality_fields``), then drops on the first failed rule in the
  preset's order (``dropped.<rule>``, detail = every failed rule with its value). Also counted:
  ``stats.fails.<rule>`` (documents failing each rule, independently of order) and
  ``stats.dropped_chars.<rule>``. With ``drop = false`` nothing is dropped; the would-be reason is counted as
  ``stats.would_drop.<rule>``. A filter that raises counts as ``failed.<filter>`` with the document in rejects.
- ``pii`` masks PII in kept text: ``stats.pii_<kind>`` replacements and ``stats.pii_docs`` documents changed.

Keys starting with ``stats.`` are reported in the manifest but are not part of its in/out reconciliation.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from filters.apply import FilterError, column_specs, decide, score_documents
from filters.cleanup import CleanupStep
from filters.compression import keep_heap_between_compressions
from filters.config import FilterPlan, FiltersConfig, build_plan
from filters.pii import PiiMasker
from pipeline.stage import BatchedCountedDoFn, CountedDoFn, Drop, Fail, count

log = logging.getLogger(__name__)

EMPTY_AFTER_CLEANUP = "empty_after_cleanup"


def quality_fields(cfg: FiltersConfig) -> tuple[pa.Field, ...]:
    """The score columns the quality stage adds (float64, with the filter's scoring parameters as metadata)."""
    if not cfg.enabled:
        return ()
    return tuple(pa.field(spec.name, pa.float64(), metadata=spec.metadata()) for spec in column_specs(build_plan(cfg)))


def quality_stages(cfg: FiltersConfig) -> list[CountedDoFn]:
    """The 1 -> 0..1 stages, in order, for ``pipeline.run.doc_stages`` (empty when filters are disabled)."""
    if not cfg.enabled:
        return []
    plan = build_plan(cfg)
    stages: list[CountedDoFn] = []
    if plan.cleanup:
        stages.append(Cleanup("cleanup", plan.cleanup))
    stages.append(Quality(plan))
    if plan.post_cleanup:
        stages.append(Cleanup("post_cleanup", plan.post_cleanup))
    if plan.pii is not None:
        stages.append(MaskPii(plan.pii))
    return stages


def _text_of(doc: dict[str, Any]) -> str | Fail:
    text = doc.get("text")
    if not isinstance(text, str):
        return Fail("invalid_text", f"text is {type(text).__name__}, not str")
    return text


class Cleanup(CountedDoFn):
    """Apply clean-up steps in order; counted per step."""

    def __init__(self, stage: str, steps: tuple[CleanupStep, ...]) -> None:
        super().__init__()
        self.stage = stage  # type: ignore[misc] - instance value of the class-level stage name
        self._steps = steps

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        text = _text_of(doc)
        if isinstance(text, Fail):
            return text
        for step in self._steps:
            new, num_edits = step.apply(text)
            if new != text:
                count(self.stage, f"stats.{step.name}.docs")
                count(self.stage, f"stats.{step.name}.edits", num_edits)
                count(self.stage, f"stats.{step.name}.chars_removed", max(0, len(text) - len(new)))
                text = new
        if not text.strip():
            return Drop(EMPTY_AFTER_CLEANUP, f"{len(doc['text'])} characters before clean-up")
        return {**doc, "text": text}


class Quality(BatchedCountedDoFn):
    """Score with every filter of the plan, store the scores as columns, drop on the first failed rule.

    Batched: each filter scores a whole batch at once (filters/apply.py ``score_documents``).
    """

    stage = "quality"

    def __init__(self, plan: FilterPlan) -> None:
        super().__init__()
        self._plan = plan

    def setup(self) -> None:
        super().setup()
        # zlib_ratio_v1 compresses every document; without this each call page-faults its state back in
        keep_heap_between_compressions()

    def apply_batch(self, docs: list[dict[str, Any]]) -> list[dict[str, Any] | Drop | Fail]:
        results: list[dict[str, Any] | Drop | Fail | None] = [None] * len(docs)
        scorable = []
        for i, doc in enumerate(docs):
            text = _text_of(doc)
            if isinstance(text, Fail):
                results[i] = text
            else:
                scorable.append(i)
        scored = score_documents(self._plan.scored, [docs[i] for i in scorable])
        for i, columns in zip(scorable, scored, strict=True):
            if isinstance(columns, FilterError):
                results[i] = Fail(columns.filter_name, str(columns))
            else:
                results[i] = self._decide(docs[i], columns)
        return results  # type: ignore[return-value] - every slot is filled above

    def _decide(self, doc: dict[str, Any], columns: dict[str, float]) -> dict[str, Any] | Drop:
        text = doc["text"]
        failed = decide(self._plan.filters, columns)
        for rule in dict.fromkeys(r for r, _ in failed):
            count(self.stage, f"stats.fails.{rule}")
        if failed:
            rule = failed[0][0]
            if self._plan.drop:
                count(self.stage, f"stats.dropped_chars.{rule}", len(text))
                return Drop(rule, "; ".join(d for _, d in failed))
            count(self.stage, f"stats.would_drop.{rule}")
        count(self.stage, "stats.kept_chars", len(text))
        return {**doc, **columns}


class MaskPii(CountedDoFn):
    """Replace PII with typed placeholders; never drops."""

    stage = "pii"

    def __init__(self, masker: PiiMasker) -> None:
        super().__init__()
        self._masker = masker

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        text = _text_of(doc)
        if isinstance(text, Fail):
            return text
        masked, counts = self._masker.mask(text)
        for kind, n in counts.items():
            if n:
                count(self.stage, f"stats.pii_{kind}", n)
        if masked == text:
            return doc
        count(self.stage, "stats.pii_docs")
        return {**doc, "text": masked}


def quality_funnel(stage_entry: dict[str, Any], plan: FilterPlan) -> list[dict[str, Any]]:
    """Per rule, in decision order: documents in / kept / dropped and dropped characters (the manifest funnel).

    A document is dropped by the first rule it fails, so rule i sees what rules before it kept:
    ``in_i = stage in - failed - sum(dropped before i)``. ``fails`` counts every document failing the rule
    regardless of order (what dropping this rule alone would remove).
    """
    stats = stage_entry.get("stats", {})
    dropped = stage_entry.get("dropped", {})
    num_in = stage_entry["in"] - sum(stage_entry.get("failed", {}).values())
    rows = []
    for rule in plan.rule_names():
        num_dropped = dropped.get(rule, 0) if plan.drop else stats.get(f"would_drop.{rule}", 0)
        rows.append(
            {
                "rule": rule,
                "in": num_in,
                "kept": num_in - num_dropped,
                "dropped": num_dropped,
                "dropped_chars": stats.get(f"dropped_chars.{rule}", 0),
                "fails": stats.get(f"fails.{rule}", 0),
            }
        )
        num_in -= num_dropped
    return rows


def format_funnel(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'rule':<46}{'in':>9}{'kept':>9}{'dropped':>9}{'chars':>12}{'fails':>9}"]
    for r in rows:
        lines.append(
            f"{r['rule']:<46}{r['in']:>9}{r['kept']:>9}{r['dropped']:>9}{r['dropped_chars']:>12}{r['fails']:>9}"
        )
    return "\n".join(lines)
