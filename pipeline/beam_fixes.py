"""Workarounds for Apache Beam bugs that lose data; applied by :func:`pipeline.run.beam_options`.

Beam 2.77 (``apache_beam/runners/worker/data_plane.py``), ``TimeBasedBufferingClosableOutputStream``: a daemon
thread (``_schedule_periodic_flush``) calls ``flush()`` every ``data_buffer_time_limit_ms``, and
``SizeBasedBufferingClosableOutputStream.flush`` does ``self._flush_callback(self.get()); self._clear()``.
``write()`` (the Cython ``OutputStream.write``) takes no lock. Bytes written by another thread after ``get()`` and
before ``_clear()`` are cleared without being sent. The flush callback is ``_GrpcDataChannel._enqueue_to_send``,
a put on a 100 MB ``ByteLimitedQueue``, and it blocks for as long as the receiver is behind, so the window is wide.

Who is hit: the local ``FnApiRunner`` with ``direct_running_mode=multi_processing`` (``--workers N``). Its data
server is ``BeamFnDataServicer(DATA_BUFFER_TIME_LIMIT_MS)`` with ``DATA_BUFFER_TIME_LIMIT_MS = 1000``
(``fn_api_runner/worker_handlers.py``), and ``BundleManager._send_input_to_worker`` (``fn_runner.py``) writes a
bundle's whole input into such a stream from the runner thread, before the worker is even told to start the bundle.
When a bundle's input is larger than what the worker's receive queue (5 chunks), gRPC and the 100 MB send queue
can hold, the periodic flush blocks in the put while the runner keeps writing, and whole encoded chunks (contiguous
runs of elements, so nothing fails to decode) disappear: a stage silently receives fewer elements than the step
before it produced. The SDK workers themselves flush by size only (``data_buffer_time_limit_ms`` defaults to 0
there), so outputs are not affected, and the in-process runner uses an in-memory channel.

Reproduction: ``python bench/beam_flush_race.py stream`` (the stream alone, about a second).

Fix here: ``write`` takes the stream's ``_flush_lock``, the lock ``flush()`` already holds, so no write can land
between ``get()`` and ``_clear()``. A writer now waits while a flush blocks on the send queue: that is the
back-pressure the queue was meant to give.
"""

from __future__ import annotations

import itertools
import logging
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_applied = False
HELD_BACK_LOG = "write held back by a time-based flush"
_MAX_HELD_BACK_LOGS = 20
held_back = {"writes": 0, "bytes": 0}


def _locked_write(self, b: bytes, nested: bool = False) -> None:
    if not self._flush_lock.acquire(blocking=False):
        # A flush is between get() and _clear(): unpatched, these bytes would have been cleared without being sent.
        self._flush_lock.acquire()
        held_back["writes"] += 1
        held_back["bytes"] += len(b)
        if held_back["writes"] <= _MAX_HELD_BACK_LOGS:
            log.info("%s (%d bytes; %d writes so far)", HELD_BACK_LOG, len(b), held_back["writes"])
    try:
        self._unlocked_write(b, nested)
    finally:
        self._flush_lock.release()


def patch_time_based_flush_race() -> bool:
    """Make ``TimeBasedBufferingClosableOutputStream.write`` atomic with its periodic flush (idempotent). Returns
    whether the class was patched by this call."""
    global _applied
    with _lock:
        if _applied:
            return False
        from apache_beam.runners.worker import data_plane

        cls = data_plane.TimeBasedBufferingClosableOutputStream
        if "write" in cls.__dict__:  # a Beam that already overrides write (fixed upstream, or patched elsewhere)
            _applied = True
            return False
        cls._unlocked_write = data_plane.SizeBasedBufferingClosableOutputStream.write
        cls.write = _locked_write
        _applied = True
        return True


# --- Bounded bundles on the local multi-process runner -------------------------------------------------------------
#
# Beam 2.77's ``ParallelBundleManager.process_bundle`` (``fn_api_runner/fn_runner.py``) splits every stage's input
# into exactly ``num_workers`` parts, one bundle per worker, and ``BundleManager.process_bundle`` writes a part's
# whole input to the worker before it sends the request that starts the bundle. ``GroupingBuffer.partition``
# (``execution.py``) encodes each worker's share of a grouped PCollection as ONE byte string. So an SDK worker holds
# 1/N of the stage's input (gRPC buffers, then the message being decoded) for the whole bundle: its memory grows
# with the corpus, ~21 KB per document in the dedup stage (docs/dedup.md), which is what a runner that bounds
# bundles (Dataflow, Flink) never does. With the patch:
#
# * a grouped part is a list of chunks of about ``GROUPED_CHUNK_BYTES`` (whole groups; a group is never split), and
#   the grouping table is emptied key by key while it is encoded, so the runner no longer holds the decoded table
#   and its encoded copy at the same time;
# * each worker's part is cut into bundles of at most ``max_bundle_bytes`` (whole chunks), and each worker runs its
#   bundles one after another: a worker holds one bounded bundle's input at a time.
#
# Bundling is the runner's choice in the Beam model, so results do not change (every stage that depends on how
# elements are batched is tested to give the same output, e.g. the dedup stage in- and multi-process). Stages with
# timers or split managers (tests) and single-worker runs keep Beam's own code.

# Allocator settings for the local runner's worker processes (``pipeline.run.beam_options`` sets them unless they
# are set): glibc's per-thread arenas and pymalloc keep the freed memory of earlier bundles, so a worker's RSS crept
# up with every bundle it ran; with these it stays near its working set (docs/dedup.md, "What grows").
LOCAL_WORKER_ENV = {"PYTHONMALLOC": "malloc", "MALLOC_ARENA_MAX": "2"}
GROUPED_CHUNK_BYTES = 4 << 20
DEFAULT_MAX_BUNDLE_BYTES = 16 << 20
_bundle_patch: dict[str, object] = {}
bundle_stats = {"stages": 0, "bundles": 0}


def _chunked_grouping_partition(self, n: int) -> list[list[bytes]]:
    """``GroupingBuffer.partition`` (Beam 2.77) with each part cut into chunks of whole groups."""
    if not self._grouped_output:
        from apache_beam.coders.coder_impl import create_OutputStream
        from apache_beam.transforms import trigger
        from apache_beam.transforms.window import GlobalWindow, GlobalWindows
        from apache_beam.utils import windowed_value

        if self._windowing.is_default():
            globally_window = GlobalWindows.windowed_value(
                None,
                timestamp=GlobalWindow().max_timestamp(),
                pane_info=windowed_value.PaneInfo(
                    is_first=True,
                    is_last=True,
                    timing=windowed_value.PaneInfoTiming.ON_TIME,
                    index=0,
                    nonspeculative_index=0,
                ),
            ).with_value

            def windowed_key_values(key, values):
                return [globally_window((key, values))]
        else:
            windowed_key_values = trigger.create_trigger_driver(self._windowing, True).process_entire_key
        coder_impl = self._post_grouped_coder.get_impl()
        key_coder_impl = self._key_coder.get_impl()
        chunk_bytes = GROUPED_CHUNK_BYTES  # read per call, so a test can make chunks small
        parts: list[list[bytes]] = [[] for _ in range(n)]
        streams = [create_OutputStream() for _ in range(n)]
        table = self._table
        for idx, encoded_key in enumerate(list(table)):
            windowed_values = table.pop(encoded_key)  # free the decoded group as soon as it is encoded
            out = streams[idx % n]
            for wkvs in windowed_key_values(key_coder_impl.decode(encoded_key), windowed_values):
                coder_impl.encode_to_stream(wkvs, out, True)
            if out.size() >= chunk_bytes:
                parts[idx % n].append(out.get())
                streams[idx % n] = create_OutputStream()
        for ix, out in enumerate(streams):
            if out.size() or not parts[ix]:
                parts[ix].append(out.get())
        self._grouped_output = parts
    return self._grouped_output


class _PinnedContext:
    """A stage's ``BundleContextManager`` that offers one worker handler, so every bundle run through it goes to
    that worker (``BundleManager.process_bundle`` picks ``worker_handlers[counter % len]``)."""

    def __init__(self, context, handler) -> None:
        self._context = context
        self.worker_handlers = [handler]

    def __getattr__(self, name: str):
        return getattr(self._context, name)


def split_into_bundles(parts: dict[str, list[bytes]], max_bundle_bytes: int) -> list[dict[str, list[bytes]]]:
    """One worker's share of a stage's inputs (input name -> encoded chunks) cut into bundles of whole chunks, each
    at most ``max_bundle_bytes`` unless a single chunk is larger. Always at least one bundle (maybe empty): the
    worker must still see every input's end of stream."""
    bundles: list[dict[str, list[bytes]]] = []
    current: dict[str, list[bytes]] = {name: [] for name in parts}
    size = 0
    for name, chunks in parts.items():
        for chunk in chunks:
            if size and size + len(chunk) > max_bundle_bytes:
                bundles.append(current)
                current, size = {name: [] for name in parts}, 0
            current[name].append(chunk)
            size += len(chunk)
    bundles.append(current)
    return bundles


def _bounded_process_bundle(self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run=False):
    """``ParallelBundleManager.process_bundle`` with each worker's share run as bundles of bounded size."""
    from apache_beam.metrics import monitoring_infos
    from apache_beam.portability.api import beam_fn_api_pb2
    from apache_beam.runners.portability.fn_api_runner.fn_runner import BundleManager
    from apache_beam.utils import thread_pool_executor

    original = _bundle_patch["original_process_bundle"]
    context = self.bundle_context_manager
    if fired_timers or expected_output_timers or context.split_managers:
        return original(self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run)
    max_bundle_bytes = _bundle_patch["max_bundle_bytes"]
    n = self._num_workers
    partitioned = {name: buffer.partition(n) for name, buffer in inputs.items()}
    handlers = context.worker_handlers
    bundle_stats["stages"] += 1

    def run_worker(ix: int):
        manager = BundleManager(
            _PinnedContext(context, handlers[ix % len(handlers)]),
            self._progress_frequency,
            cache_token_generator=self._cache_token_generator,
        )
        results = []
        for bundle in split_into_bundles({name: parts[ix] for name, parts in partitioned.items()}, max_bundle_bytes):
            bundle_stats["bundles"] += 1
            results.append(manager.process_bundle(bundle, expected_outputs, {}, expected_output_timers, dry_run))
        return results

    with thread_pool_executor.shared_unbounded_instance() as executor:
        results = [r for worker_results in executor.map(run_worker, range(n)) for r in worker_results]
    split_results = [split for _result, splits in results for split in splits]
    responses = [result for result, _splits in results]
    if len(responses) == 1:
        return responses[0], split_results
    # As Beam merges its per-worker responses, but in one pass over all bundles (it folds them pairwise).
    merged = beam_fn_api_pb2.InstructionResponse(
        process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
            monitoring_infos=monitoring_infos.consolidate(
                itertools.chain.from_iterable(r.process_bundle.monitoring_infos for r in responses)
            )
        ),
        error=next((r.error for r in responses if r.error), ""),
    )
    return merged, split_results


BOUNDED_BUNDLES_BEAM = "2.77."  # the Beam release whose runner internals the patch copies


def bounded_bundles_supported(beam_version: str) -> bool:
    """Whether the bundle patch was written against this Beam (``GroupingBuffer.partition`` and
    ``ParallelBundleManager.process_bundle`` are private and change between releases)."""
    return beam_version.startswith(BOUNDED_BUNDLES_BEAM)


def patch_bounded_local_bundles(max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> bool:
    """Bound the bundles of the local multi-process ``FnApiRunner`` (see above). Idempotent; a later call only
    changes the bundle size. Returns whether Beam's classes were patched by this call. On another Beam release it
    patches nothing and warns (once): the runner then works as Beam wrote it, one bundle per worker and stage."""
    if max_bundle_bytes <= 0:
        raise ValueError(f"max_bundle_bytes must be > 0, got {max_bundle_bytes}")
    with _lock:
        _bundle_patch["max_bundle_bytes"] = max_bundle_bytes
        if "original_process_bundle" in _bundle_patch or "unsupported" in _bundle_patch:
            return False
        from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
        from apache_beam.version import __version__ as beam_version

        if not bounded_bundles_supported(beam_version):
            _bundle_patch["unsupported"] = beam_version
            log.warning(
                "apache-beam %s: local bundles are not bounded (patch written for %sx); a worker of --workers N "
                "holds 1/N of each stage's input",
                beam_version,
                BOUNDED_BUNDLES_BEAM,
            )
            return False

        _bundle_patch["original_process_bundle"] = fn_runner.ParallelBundleManager.process_bundle
        _bundle_patch["original_partition"] = execution.GroupingBuffer.partition
        execution.GroupingBuffer.partition = _chunked_grouping_partition
        fn_runner.ParallelBundleManager.process_bundle = _bounded_process_bundle
        return True
