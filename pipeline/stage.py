"""Counting conventions every Beam stage follows, so the manifest can reconcile per stage.

A stage counts, in the Beam metrics namespace ``jpcorpus.<stage>``:
  ``in``  — records that entered the stage,
  ``out`` — records it passed on,
  ``dropped.<reason>`` — records it removed on purpose (each also written to the rejects output),
  ``failed.<kind>``    — records it could not process (also written to rejects).
Invariant checked by the manifest: in == out + sum(dropped) + sum(failed).

Most stages are 1 -> 0..1 maps: subclass :class:`CountedDoFn` and implement ``apply(doc)`` returning the
(possibly annotated) doc, a :class:`Drop` or a :class:`Fail` (or :class:`BatchedCountedDoFn` and
``apply_batch(docs)`` for vectorised work). Readers (1 file -> N records) use
:func:`count` and :func:`reject_row` directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.schema import REJECT_TEXT_HEAD_CHARS

REJECTS = "rejects"  # tag of every stage's side output of reject rows
NAMESPACE_PREFIX = "jpcorpus."

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Drop:
    """A deliberate removal: ``reason`` is a stable snake_case key (it becomes a counter name)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Fail:
    """A record the stage could not process (exception, timeout, undecodable bytes)."""

    kind: str
    detail: str = ""


def count(stage: str, key: str, n: int = 1) -> None:
    """Increment counter ``key`` (``in``, ``out``, ``dropped.X``, ``failed.X``) of ``stage``."""
    Metrics.counter(NAMESPACE_PREFIX + stage, key).inc(n)


def reject_row(stage: str, outcome: str, reason: str, detail: str, record: dict[str, Any]) -> dict[str, Any]:
    """A row of the rejects output, built from whatever identifying fields ``record`` has."""
    text = record.get("text")
    return {
        "stage": stage,
        "outcome": outcome,
        "reason": reason,
        "detail": detail[:2000] if detail else None,
        "id": record.get("id"),
        "source": record.get("source"),
        "url": record.get("url"),
        "title": record.get("title"),
        "source_ref": record.get("source_ref"),
        "text_head": text[:REJECT_TEXT_HEAD_CHARS] if isinstance(text, str) else None,
    }


class CountedDoFn(beam.DoFn):
    """A 1 -> 0..1 stage with counting and rejects built in.

    Subclasses set ``stage`` and implement ``apply``. An exception escaping ``apply`` is a per-record failure,
    counted as ``failed.<ExceptionType>`` and written to rejects (with a warning logged once per kind), never
    a crash of the job. Output: main = kept docs, ``REJECTS`` = reject rows.
    """

    stage: ClassVar[str]

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        raise NotImplementedError

    def process(self, doc: dict[str, Any]):
        count(self.stage, "in")
        try:
            result = self.apply(doc)
        except Exception as exc:  # noqa: BLE001 - the dead-letter path: count, reject, go on
            result = Fail(type(exc).__name__, str(exc))
        yield from self._route(doc, result)

    def _route(self, doc: dict[str, Any], result: dict[str, Any] | Drop | Fail):
        """Count the outcome and yield the kept doc, or the reject row tagged ``REJECTS``."""
        if isinstance(result, Drop):
            count(self.stage, f"dropped.{result.reason}")
            yield beam.pvalue.TaggedOutput(
                REJECTS, reject_row(self.stage, "dropped", result.reason, result.detail, doc)
            )
        elif isinstance(result, Fail):
            count(self.stage, f"failed.{result.kind}")
            if result.kind not in self._warned:
                self._warned.add(result.kind)
                log.warning("%s: first failure of kind %s: %s", self.stage, result.kind, result.detail[:300])
            yield beam.pvalue.TaggedOutput(REJECTS, reject_row(self.stage, "failed", result.kind, result.detail, doc))
        else:
            count(self.stage, "out")
            yield result


class BatchedCountedDoFn(CountedDoFn):
    """A :class:`CountedDoFn` that works on batches: ``apply_batch(docs)`` returns one result per doc.

    Documents are buffered per bundle (up to ``max_batch_docs`` documents or ``max_batch_chars`` characters) and
    flushed when the buffer is full and at the end of the bundle, so vectorised work (filters/ scoring a batch
    with one numpy call per step) amortises its per-call cost. Each output keeps its input's timestamp and
    window. If ``apply_batch`` raises, the batch is retried one document at a time, so only the documents that
    really fail are counted ``failed.<ExceptionType>``.
    """

    # Small batches: the arrays of a 16 x 2,000-character batch stay in the CPU's L2 cache; filters/ scoring is
    # faster per document at 8-32 documents than at 64-128 (bench/bench_filters.py --batch-docs).
    max_batch_docs: ClassVar[int] = 16
    max_batch_chars: ClassVar[int] = 1 << 15

    def apply_batch(self, docs: list[dict[str, Any]]) -> list[dict[str, Any] | Drop | Fail]:
        raise NotImplementedError

    def apply(self, doc: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        return self.apply_batch([doc])[0]

    def start_bundle(self) -> None:
        self._batch: list[tuple[dict[str, Any], Any, Any]] = []
        self._batch_chars = 0

    def process(self, doc: dict[str, Any], timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        count(self.stage, "in")
        self._batch.append((doc, timestamp, window))
        text = doc.get("text") if isinstance(doc, dict) else None
        self._batch_chars += len(text) if isinstance(text, str) else 0
        if len(self._batch) >= self.max_batch_docs or self._batch_chars >= self.max_batch_chars:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self):
        from apache_beam.utils.windowed_value import WindowedValue

        batch, self._batch, self._batch_chars = self._batch, [], 0
        if not batch:
            return
        docs = [doc for doc, _, _ in batch]
        try:
            results = self.apply_batch(docs)
        except Exception:  # noqa: BLE001 - retried per document: only the failing ones are counted as failed
            results = []
            for doc in docs:
                try:
                    results.append(self.apply(doc))
                except Exception as exc:  # noqa: BLE001 - the dead-letter path
                    results.append(Fail(type(exc).__name__, str(exc)))
        for (doc, timestamp, window), result in zip(batch, results, strict=True):
            for out in self._route(doc, result):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, (window,)))
                else:
                    yield WindowedValue(out, timestamp, (window,))


class CountedStage(beam.PTransform):
    """Wrap a :class:`CountedDoFn` as a labelled step returning ``(kept, rejects)``."""

    def __init__(self, dofn: CountedDoFn) -> None:
        super().__init__(label=None)
        self._dofn = dofn

    def expand(self, pcoll):
        outputs = pcoll | beam.ParDo(self._dofn).with_outputs(REJECTS, main="kept")
        return outputs.kept, outputs[REJECTS]


class LogProgress(beam.DoFn):
    """Pass-through that logs, at most every ``interval_s`` seconds per worker, how many records went by and how fast.

    Beam metrics are only visible to the driver at the end on local runners; this gives long runs a heartbeat.
    """

    def __init__(self, label: str, interval_s: float = 30.0) -> None:
        self._label = label
        self._interval_s = interval_s

    def setup(self) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._last = self._clock()
        self._num_seen = 0

    def process(self, element):
        self._num_seen += 1
        now = self._clock()
        if now - self._last >= self._interval_s:
            self._last = now
            rate = self._num_seen / max(now - self._start, 1e-9)
            log.info("progress %s: %d records (%.1f records/s on this worker)", self._label, self._num_seen, rate)
        yield element
