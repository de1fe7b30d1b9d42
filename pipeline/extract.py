"""Main-text extraction with trafilatura in a sandboxed worker process, stage ``extract``.

trafilatura (lxml underneath) can spin for minutes or blow up memory on a pathological page, and no Python-level
timeout can interrupt C code. So, as datatrove's ``ExtractorSandbox`` does, extraction runs in a persistent child
process started in ``DoFn.setup()``; the parent waits at most ``ExtractConfig.timeout_s`` per page. A page over
the limit kills the child (restarted for the next page) and counts ``failed.timeout``; an exception inside
trafilatura counts ``failed.extract_error``; a child that dies (segfault, OOM kill) counts ``failed.worker_died``.
An empty or too-short extraction is ``dropped.empty_extraction``. Nothing here stops the job.

Input records come from ``pipeline.predetect`` (``html``, ``charset``, ``url``, ...); outputs are
``pipeline.schema.new_doc`` dicts with the extracted text and trafilatura's title (falling back to the page's
``<title>``), ``lang``/``lang_score`` left to langid.

Protocol with the child: length-prefixed pickles over its stdin/stdout (the child moves its own stdout to a
private descriptor first, so library prints cannot corrupt the stream).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from typing import Any, BinaryIO

from pipeline.config import ExtractConfig
from pipeline.predetect import html_title
from pipeline.schema import new_doc
from pipeline.stage import CountedDoFn, Drop, Fail

log = logging.getLogger(__name__)

_LEN = struct.Struct("<Q")
_START_TIMEOUT_S = 120.0  # importing trafilatura and lxml in a fresh process; a cold cache on a busy box is slow


def extract_html(html: str, url: str | None, cfg: ExtractConfig) -> tuple[str, str | None]:
    """trafilatura's main text and title of ``html`` (empty text when it finds none). Runs in-process."""
    import trafilatura

    result = trafilatura.bare_extraction(
        html,
        url=url,
        favor_precision=cfg.favor_precision,
        include_tables=cfg.include_tables,
        include_comments=cfg.include_comments,
        include_images=False,
        include_links=False,
        with_metadata=True,  # for the title; only_with_metadata stays False, so pages without metadata are kept
        deduplicate=False,  # its LRU cache would make a page's output depend on the pages before it
    )
    if result is None:
        return "", None
    return (result.text or "").strip(), (result.title or None)


class ExtractionTimeout(Exception):
    pass


class WorkerDied(Exception):
    pass


class ExtractorSandbox:
    """A persistent child process running :func:`extract_html`, with a per-call time limit."""

    def __init__(self, cfg: ExtractConfig) -> None:
        self._cfg = cfg
        self._proc: subprocess.Popen[bytes] | None = None
        self.num_starts = 0

    def _start(self) -> None:
        env = dict(os.environ)
        # The child must import our packages from wherever the parent did (a checkout, a staged worker package).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-u", "-c", "from pipeline.extract import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.num_starts += 1
        self._send(("config", self._cfg))
        status = self._receive(_START_TIMEOUT_S)
        if status != ("ready",):
            self.close()
            raise WorkerDied(f"extraction worker failed to start: {status!r}")

    def _send(self, message: Any) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._proc.stdin.write(_LEN.pack(len(data)) + data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"cannot write to extraction worker: {exc}") from exc

    def _receive(self, timeout_s: float) -> Any:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        header = self._read_exact(self._proc.stdout, _LEN.size, deadline)
        return pickle.loads(self._read_exact(self._proc.stdout, _LEN.unpack(header)[0], deadline))

    def _read_exact(self, stream: BinaryIO, size: int, deadline: float) -> bytes:
        fd = stream.fileno()
        parts: list[bytes] = []
        num_left = size
        while num_left:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise ExtractionTimeout()
            ready, _, _ = select.select([fd], [], [], remaining_s)
            if not ready:
                raise ExtractionTimeout()
            chunk = os.read(fd, min(num_left, 1 << 20))
            if not chunk:
                code = self._proc.poll() if self._proc else None
                raise WorkerDied(f"extraction worker exited (status {code})")
            parts.append(chunk)
            num_left -= len(chunk)
        return b"".join(parts)

    def extract(self, html: str, url: str | None) -> tuple[str, str | None]:
        """Text and title; raises ``ExtractionTimeout``, ``WorkerDied`` or ``RuntimeError`` (trafilatura error)."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = None
            self._start()
        try:
            self._send(("extract", html, url))
            reply = self._receive(self._cfg.timeout_s)
        except (ExtractionTimeout, WorkerDied):
            self.close()  # the worker is stuck or gone: a fresh one takes the next page
            raise
        if reply[0] == "error":
            raise RuntimeError(reply[1])
        return reply[1], reply[2]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def _worker_main() -> None:
    """The child's loop: read a request, extract, reply; exits at end of input."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from here on goes to stderr, not into the reply stream
    stdin = sys.stdin.buffer
    logging.basicConfig(level=logging.WARNING)
    # trafilatura logs every page it discards ("discarding data", "empty HTML tree") at WARNING/ERROR; the parent
    # already counts those pages as empty extractions, so per-page lines would only bury the job's own log.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

    def read_message() -> Any:
        header = stdin.read(_LEN.size)
        if len(header) < _LEN.size:
            return None
        return pickle.loads(stdin.read(_LEN.unpack(header)[0]))

    def reply(message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LEN.pack(len(data)) + data)
        out.flush()

    first = read_message()
    if first is None or first[0] != "config":
        return
    cfg: ExtractConfig = first[1]
    import trafilatura  # noqa: F401 - import before saying ready, so the first page's time limit is for the page

    reply(("ready",))
    while (message := read_message()) is not None:
        _, html, url = message
        try:
            text, title = extract_html(html, url, cfg)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which counts it
            reply(("error", f"{type(exc).__name__}: {exc}"))
            continue
        reply(("ok", text, title))


class Extract(CountedDoFn):
    """Decoded HTML record -> document with trafilatura's main text (see module docstring)."""

    stage = "extract"

    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def setup(self) -> None:
        self._sandbox = ExtractorSandbox(self._cfg)

    def teardown(self) -> None:
        self._sandbox.close()

    def apply(self, rec: dict[str, Any]) -> dict[str, Any] | Drop | Fail:
        html = rec["html"]
        try:
            text, title = self._sandbox.extract(html, rec.get("url"))
        except ExtractionTimeout:
            return Fail("timeout", f"over {self._cfg.timeout_s} s ({len(html)} characters of HTML)")
        except WorkerDied as exc:
            return Fail("worker_died", str(exc))
        except RuntimeError as exc:
            return Fail("extract_error", str(exc))
        if len(text) < self._cfg.min_extracted_chars:
            return Drop("empty_extraction", f"{len(text)} characters extracted")
        return new_doc(
            id=rec["id"],
            text=text,
            source=rec["source"],
            url=rec.get("url"),
            title=title or html_title(html[:20_000]) or None,
            source_ref=rec["source_ref"],
            crawl_date=rec.get("crawl_date"),
            charset=rec.get("charset"),
        )
