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
