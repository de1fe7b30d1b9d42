"""The Beam data-plane workaround (pipeline/beam_fixes.py): a time-flushed output stream keeps every byte.

Without the patch, bytes written while the periodic flush is blocked in its callback are cleared unsent
(``python bench/beam_flush_race.py stream`` shows it); the loss depends on thread timing, so only the fixed side is
asserted here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from beam_flush_race import stream_race  # noqa: E402

from pipeline.beam_fixes import patch_time_based_flush_race  # noqa: E402
from pipeline.run import beam_options  # noqa: E402


def test_patched_stream_delivers_every_byte():
    patch_time_based_flush_race()
    written, delivered = stream_race(chunks=500, chunk_bytes=1000)
    assert delivered == written


def test_patch_is_idempotent_and_applied_by_beam_options():
    from apache_beam.runners.worker import data_plane

    beam_options([], workers=2)
    cls = data_plane.TimeBasedBufferingClosableOutputStream
    assert "write" in cls.__dict__
    assert patch_time_based_flush_race() is False
    stream = cls(lambda b: None, flush_callback=lambda b: None, time_flush_threshold_ms=1000)
    stream.write(b"abc")
    stream.write(b"de", True)  # nested: length-prefixed
    assert stream.get() == b"abc\x02de"
    stream.close()
