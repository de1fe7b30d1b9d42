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


def _grouping_buffer(groups: dict[bytes, list[str]]):
    from apache_beam import coders
    from apache_beam.coders.coders import GlobalWindowCoder
    from apache_beam.runners.portability.fn_api_runner.execution import GroupingBuffer
    from apache_beam.transforms import core
    from apache_beam.transforms.window import GlobalWindows

    kv = coders.TupleCoder([coders.BytesCoder(), coders.StrUtf8Coder()])
    grouped = coders.TupleCoder([coders.BytesCoder(), coders.IterableCoder(coders.StrUtf8Coder())])
    window_coder = GlobalWindowCoder()
    pre = coders.WindowedValueCoder(kv, window_coder)
    post = coders.WindowedValueCoder(grouped, window_coder)
    buffer = GroupingBuffer(pre, post, core.Windowing(GlobalWindows()))
    encode = pre.get_impl()
    for key, values in groups.items():
        buffer.append(b"".join(encode.encode_nested(GlobalWindows.windowed_value((key, v))) for v in values))
    return buffer, post.get_impl()


def _decode_chunks(chunks: list[bytes], coder_impl) -> list[tuple[bytes, list[str]]]:
    from apache_beam.coders.coder_impl import create_InputStream

    out = []
    for chunk in chunks:
        stream = create_InputStream(chunk)
        while stream.size() > 0:
            key, values = coder_impl.decode_from_stream(stream, True).value
            out.append((key, list(values)))
    return out


def test_grouped_parts_come_in_chunks_of_whole_groups(monkeypatch):
    """The chunked ``GroupingBuffer.partition`` gives each worker the same groups in the same order as Beam's, cut
    into chunks of whole groups of about GROUPED_CHUNK_BYTES, and empties the table as it goes."""
    import random

    from pipeline import beam_fixes

    rng = random.Random(3)
    groups = {f"k{i:04d}".encode(): ["あ" * rng.randint(1, 300) for _ in range(rng.randint(1, 6))] for i in range(800)}
    reference, coder_impl = _grouping_buffer(groups)
    beams_partition = beam_fixes._bundle_patch.get("original_partition", type(reference).partition)
    expected = [_decode_chunks(part, coder_impl) for part in beams_partition(reference, 3)]
    monkeypatch.setattr(beam_fixes, "GROUPED_CHUNK_BYTES", 20_000)
    chunked, _ = _grouping_buffer(groups)
    parts = beam_fixes._chunked_grouping_partition(chunked, 3)
    assert not chunked._table
    assert [_decode_chunks(part, coder_impl) for part in parts] == expected
    largest_group = 6 * (300 * 3 + 8) + 64  # encoded: six values of up to 300 three-byte characters
    for part in parts:
        assert len(part) > 5
        assert all(len(chunk) < 20_000 + largest_group for chunk in part)
    assert sorted(k for part in expected for k, _ in part) == sorted(groups)


def test_split_into_bundles_bounds_bytes_and_keeps_every_chunk():
    from pipeline.beam_fixes import split_into_bundles

    parts = {"a": [b"x" * 30, b"y" * 50, b"z" * 10], "b": [b"w" * 70, b"v" * 200]}
    bundles = split_into_bundles(parts, 100)
    assert [sum(len(c) for cs in b.values() for c in cs) for b in bundles] == [90, 70, 200]
    assert all(set(b) == {"a", "b"} for b in bundles)
    assert [c for b in bundles for c in b["a"]] == parts["a"] and [c for b in bundles for c in b["b"]] == parts["b"]
    assert split_into_bundles({"a": []}, 100) == [{"a": []}]  # a worker still gets its (empty) bundle


def test_bundle_size_option_is_checked():
    import pytest

    from jpcorpus.errors import UsageError

    with pytest.raises(UsageError, match="max_local_bundle_mb"):
        beam_options(["--max_local_bundle_mb=0"], workers=2)


def test_workers_get_allocator_settings_unless_set(monkeypatch):
    import os

    from pipeline.beam_fixes import LOCAL_WORKER_ENV

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setenv("PYTHONMALLOC", "pymalloc")
    beam_options([], workers=0)
    assert "MALLOC_ARENA_MAX" not in os.environ  # in-process runs start no worker processes
    beam_options([], workers=2)
    assert os.environ["MALLOC_ARENA_MAX"] == LOCAL_WORKER_ENV["MALLOC_ARENA_MAX"]
    assert os.environ["PYTHONMALLOC"] == "pymalloc"  # a setting the user made is kept


def test_bundle_patch_only_for_the_beam_it_copies():
    from apache_beam.version import __version__

    from pipeline.beam_fixes import bounded_bundles_supported

    assert bounded_bundles_supported(__version__)  # the pinned Beam: patched (the multi-process dedup test runs it)
    assert bounded_bundles_supported("2.77.1")
    assert not bounded_bundles_supported("2.78.0") and not bounded_bundles_supported("3.0.0")
