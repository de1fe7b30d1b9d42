"""``jpcorpus serve``: the provenance search as a web page on localhost, both engines side by side.

Standard library only (``http.server``): the engines are opened once at start and shared by every request.

- ``GET /``: the page (``index/static/search.html``, one self-contained file: no CDN, the box may be offline).
- ``GET /api/search?q=TEXT&mode=ngram&k=3`` and ``POST /api/search`` (JSON body ``{"q", "mode", "k"}``, for pastes
  too long for a URL): :func:`index.search.run_search`'s JSON, the same as ``jpcorpus search --json``.
- ``GET /api/info``: what the index holds (modes, vector index built or not, run joined or not), for the page.

A user error (empty, oversized or non-UTF-8 query, unknown mode, bad k) is HTTP 400 ``{"error": message}``; an
unknown path 404; a bug in a search is HTTP 500, logged with its traceback, and the server goes on serving.
"""

from __future__ import annotations

import argparse
import base64
import errno
import hashlib
import json
import logging
import re
import signal
import socket
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from index import search
from jpcorpus.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
MAX_K = 100  # a page of hits; more is a bulk export, which `jpcorpus search --json` does better
MAX_BODY_BYTES = 1 << 20  # a POST body: 20,000 characters of JSON-escaped text fit many times over
SOCKET_TIMEOUT_S = 30  # a client that opens a connection and sends nothing does not hold a thread forever
PAGE_FILE = "search.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, type=Path, help="directory written by `jpcorpus index build`")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--max-query-chars",
        type=int,
        default=search.DEFAULT_MAX_QUERY_CHARS,
        help=f"refuse longer queries (default {search.DEFAULT_MAX_QUERY_CHARS})",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the sha256 check that the shards are those indexed"
    )


def load_page() -> bytes:
    return resources.files("index").joinpath("static", PAGE_FILE).read_bytes()


def content_security_policy(page: bytes) -> str:
    """Allow exactly the page's own inline script and style (by hash), and requests back to this server only.

    Corpus text is web text: pages quoting HTML and JavaScript. The page inserts it with ``textContent`` only; this
    policy is the second wall, so that even a mistake there could not run a script from the corpus.
    """
    text = page.decode("utf-8")
    hashes = {}
    for tag in ("script", "style"):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.S)
        assert bodies, f"{PAGE_FILE} has no inline <{tag}>"  # the page ships with the package
        hashes[tag] = " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in bodies
        )
    return (
        f"default-src 'none'; script-src {hashes['script']}; style-src {hashes['style']}; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def parse_query_string(raw_query: str) -> dict[str, str]:
    """``a=1&b=%E6%97%A5`` -> ``{"a": "1", "b": "日"}``, refusing bytes that are not UTF-8.

    ``urllib.parse.parse_qs`` would replace undecodable bytes with U+FFFD, and a search for text the user never
    typed is a wrong answer. ``http.server`` hands the request line over as Latin-1, so raw (unescaped) UTF-8 bytes
    are recovered with ``encode("latin-1")`` before percent-decoding.
    """
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key_raw, _, value_raw = part.partition("=")
        try:
            key, value = (
                urllib.parse.unquote_to_bytes(s.replace("+", " ").encode("latin-1")).decode("utf-8")
                for s in (key_raw, value_raw)
            )
        except (UnicodeEncodeError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"the request's parameters are not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
        if key in params:
            raise UsageError(f"parameter {key!r} given more than once")
        params[key] = value
    return params


def search_request(
    engines: search.Engines, params: dict[str, Any], max_query_chars: int, lock: threading.Lock
) -> dict[str, Any]:
    """Validate one request's ``q``, ``mode`` and ``k`` like the CLI does, then run the search."""
    unknown = sorted(set(params) - {"q", "mode", "k"})
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}: expected q, mode, k")
    query = params.get("q")
    if not isinstance(query, str):
        raise UsageError("missing parameter q: the text to search for" if query is None else "q must be a string")
    search.check_query(query, max_query_chars)
    mode = params.get("mode", search.default_mode(engines))  # as the CLI: both when the index has vectors
    k_raw = params.get("k", 3)
    try:
        k = int(k_raw)
    except (TypeError, ValueError):
        raise UsageError(f"k must be a whole number, got {str(k_raw)[:40]!r}") from None
    if k > MAX_K:
        raise UsageError(f"k must be at most {MAX_K}, got {k}")
    if not isinstance(mode, str):
        raise UsageError("mode must be a string")
    # One search at a time: the engines (a memory-mapped suffix array, an embedding model) are shared and were not
    # written for concurrent use; a search takes milliseconds, and the page itself is served without the lock.
    with lock:
        return search.run_search(engines, query, mode, k)


def index_info(engines: search.Engines, max_query_chars: int) -> dict[str, Any]:
    vector = engines.vector
    prov = engines.prov
    return {
        "index": engines.index_dir.name,
        "num_docs": engines.ngram.num_docs,
        "modes": [m for m in search.MODES if vector is not None or m == "ngram"],
        "vector": vector is not None,
        "default_mode": search.default_mode(engines),
        "run_joined": prov is not None,
        "total_steps": None if prov is None else prov[1]["total_steps"],
        "max_query_chars": max_query_chars,
        "max_k": MAX_K,
    }


class SearchServer(ThreadingHTTPServer):
    """One server: the opened engines, the page, and the lock that serialises searches."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], engines: search.Engines, max_query_chars: int):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.engines = engines
        self.max_query_chars = max_query_chars
        self.search_lock = threading.Lock()
        self.page = load_page()
        self.csp = content_security_policy(self.page)
        super().__init__(address, SearchHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def close_engines(self) -> None:
        with self.search_lock:  # not under a search still running in a handler thread
            self.engines.close()


class SearchHandler(BaseHTTPRequestHandler):
    server: SearchServer
    server_version = "jpcorpus-serve"
    timeout = SOCKET_TIMEOUT_S

    def handle_one_request(self) -> None:
        self._start_s = time.perf_counter()
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError) as exc:  # the client went away; nothing to answer
            log.debug("%s: client closed the connection (%s)", self.client_address[0], exc)

    def do_GET(self) -> None:
        self._dispatch(head_only=False)

    def do_HEAD(self) -> None:
        self._dispatch(head_only=True)

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path != "/api/search":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: POST {path[:200]}"})
            return
        try:
            params = self._read_json_body()
            result = search_request(self.server.engines, params, self.server.max_query_chars, self.server.search_lock)
        except UsageError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except Exception:
            self._internal_error()
            return
        self._send_json(HTTPStatus.OK, result)

    def _dispatch(self, head_only: bool) -> None:
        path, _, raw_query = self.path.partition("?")
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8", head_only)
            elif path == "/api/info":
                self._send_json(HTTPStatus.OK, index_info(self.server.engines, self.server.max_query_chars), head_only)
            elif path == "/api/search":
                params = parse_query_string(raw_query)
                result = search_request(
                    self.server.engines, params, self.server.max_query_chars, self.server.search_lock
                )
                self._send_json(HTTPStatus.OK, result, head_only)
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {path[:200]}"}, head_only)
        except UsageError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, head_only)
        except Exception:
            self._internal_error()

    def _read_json_body(self) -> dict[str, Any]:
        length_raw = self.headers.get("Content-Length")
        if length_raw is None or not length_raw.isdigit():
            raise UsageError("POST /api/search needs a Content-Length header")
        length = int(length_raw)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise UsageError(f"the request body has {length:,} bytes, more than {MAX_BODY_BYTES:,}")
        body = self.rfile.read(length)
        try:
            params = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UsageError(f"the request body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            raise UsageError(f"the request body is not JSON ({exc.msg} at character {exc.pos})") from exc
        if not isinstance(params, dict):
            raise UsageError('the request body must be a JSON object {"q": ..., "mode": ..., "k": ...}')
        return params

    def _internal_error(self) -> None:
        log.exception("internal error answering %s", self.requestline[:200])
        self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error (see the server's log)"})

    def _send_json(self, status: HTTPStatus, body: dict[str, Any], head_only: bool = False) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8", head_only)

    def _send(self, status: HTTPStatus, data: bytes, content_type: str, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", self.server.csp)
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (request line too long, bad request line, unknown method), as JSON."""
        if code == HTTPStatus.REQUEST_URI_TOO_LONG:
            text = "the request line is too long for a URL: POST the query as JSON to /api/search"
        else:
            text = message or HTTPStatus(code).phrase
        self.close_connection = True
        if code >= 400 and self.command != "HEAD":
            self._send_json(code, {"error": text})  # type: ignore[arg-type]
        else:
            super().send_error(code, message, explain)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        elapsed_ms = (time.perf_counter() - getattr(self, "_start_s", time.perf_counter())) * 1000
        # Never the whole query in the log: a pasted passage can be 20,000 characters.
        line = self.requestline if len(self.requestline) <= 200 else self.requestline[:200] + "..."
        line = line or "(request line unreadable or too long)"
        log.info("%s %r %s %.1f ms", self.client_address[0], line, int(code), elapsed_ms)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.info("%s %s", self.client_address[0], format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        # send_error already logs the request line with its status through log_request.
        log.debug("%s %s", self.client_address[0], format % args)


def make_server(
    engines: search.Engines, host: str = "127.0.0.1", port: int = DEFAULT_PORT, max_query_chars: int | None = None
) -> SearchServer:
    """Bind (port 0: a free one); a port in use or an address this machine does not have is a UsageError."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {port}")
    limit = search.DEFAULT_MAX_QUERY_CHARS if max_query_chars is None else max_query_chars
    try:
        return SearchServer((host, port), engines, limit)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} is not an address of this machine ({exc.strerror})") from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is in use: stop the other server, or choose --port (0 picks a free one)"
            ) from exc
        if exc.errno == errno.EACCES:
            raise UsageError(f"no permission to bind port {port} on {host}: use a port above 1023") from exc
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})") from exc


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unknown arguments: {' '.join(extra)}")
    if args.max_query_chars < 1:
        raise UsageError(f"--max-query-chars must be at least 1, got {args.max_query_chars}")
    try:
        engines = search.open_engines(args.index, verify_shards=not args.no_verify)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        server = make_server(engines, args.host, args.port, args.max_query_chars)
    except UsageError:
        engines.close()
        raise
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this address can read the corpus", args.host)
    # SIGTERM (systemd, docker stop, kill) stops the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    info = index_info(engines, args.max_query_chars)
    print(
        f"serving {args.index} ({info['num_docs']:,} documents; modes {', '.join(info['modes'])}) "
        f"at {server.url} (Ctrl-C to stop)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt as exc:
        log.info("stopping (%s)", exc or "SIGINT")
    finally:
        server.server_close()
        server.close_engines()
    return 0
