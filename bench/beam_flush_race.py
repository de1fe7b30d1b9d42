"""Minimal reproduction of the Beam data-plane race that lost documents in the 100k ``--workers 2`` dedup run.

    python bench/beam_flush_race.py stream [--fixed]           # the output stream alone, ~1 s
    python bench/beam_flush_race.py pipeline [--fixed] [--elements 80000 --element-bytes 8000 --workers 2]

``stream``: a ``TimeBasedBufferingClosableOutputStream`` (as the local runner's data server creates them, with a
1 s flush period, here 5 ms) written by one thread while its periodic flush calls a callback that blocks (as
``_GrpcDataChannel._enqueue_to_send`` does when its 100 MB send queue is full). Bytes written between the flush's
``get()`` and ``_clear()`` are lost.

``pipeline``: ``Create -> FlatMap(large strings) -> Reshuffle -> count`` on ``FnApiRunner`` with
``direct_running_mode=multi_processing``, comparing Metrics counters before and after the Reshuffle. It did NOT
lose elements on the 2-core box at 80,000 x 8 KB: a grouped input is sent as one write per worker
(``execution.py`` ``_GroupingBuffer.partition``), and the race needs many writes into one stream (a non-grouped
buffer, ``ListBuffer.partition``: one write per ~10 MB chunk) while the worker falls behind. It is kept as a
smoke check of the multi-process path; the ``stream`` mode is the reproduction. ``--fixed`` applies
:func:`pipeline.beam_fixes.patch_time_based_flush_race` first.

See docs/dedup.md ("Data loss at 100k") and ``pipeline/beam_fixes.py`` for the Beam source lines. Exit status 1 if
anything was lost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def stream_race(chunks: int = 2000, chunk_bytes: int = 1000) -> tuple[int, int]:
    """(bytes written, bytes that reached the callbacks) for one stream written while it flushes periodically."""
    from apache_beam.runners.worker import data_plane

    received: list[bytes] = []

    def blocking_flush(data: bytes) -> None:  # the send queue is full: the put waits for the receiver
        time.sleep(0.02)
        received.append(data)

    stream = data_plane.TimeBasedBufferingClosableOutputStream(
        received.append, flush_callback=blocking_flush, time_flush_threshold_ms=5
    )
    chunk = b"x" * chunk_bytes
    for _ in range(chunks):
        stream.write(chunk)
        time.sleep(0.0002)  # the runner iterates over its buffered chunks between writes
    stream.close()
    return chunks * chunk_bytes, sum(map(len, received))


def pipeline_race(elements: int, element_bytes: int, workers: int) -> tuple[int, int]:
    """(elements produced before the Reshuffle, elements counted after it) on the multi-process local runner."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    per_key = 1000

    def make(key: int):
        before = Metrics.counter("race", "before")
        for i in range(per_key):
            if key * per_key + i < elements:
                before.inc()
                yield f"{key * per_key + i:08d}" + "x" * (element_bytes - 8)

    def after(element: str) -> None:
        Metrics.counter("race", "after").inc()

    options = PipelineOptions(
        ["--runner=FnApiRunner", f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    )
    p = beam.Pipeline(options=options)
    _ = p | beam.Create(range(-(-elements // per_key))) | beam.FlatMap(make) | beam.Reshuffle() | beam.Map(after)
    result = p.run()
    result.wait_until_finish()
    counts = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(MetricsFilter().with_namespace("race"))["counters"]
    }
    return counts.get("before", 0), counts.get("after", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("stream", "pipeline"))
    parser.add_argument("--fixed", action="store_true", help="apply pipeline.beam_fixes first")
    parser.add_argument("--elements", type=int, default=80_000)
    parser.add_argument("--element-bytes", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.fixed:
        from pipeline.beam_fixes import patch_time_based_flush_race

        patch_time_based_flush_race()
    if args.what == "stream":
        sent, got = stream_race()
        print(f"stream: written {sent:,} bytes, delivered {got:,}, lost {sent - got:,}")
    else:
        sent, got = pipeline_race(args.elements, args.element_bytes, args.workers)
        print(f"pipeline: {sent:,} elements before the Reshuffle, {got:,} after, lost {sent - got:,}")
    return 1 if got != sent else 0


if __name__ == "__main__":
    sys.exit(main())
