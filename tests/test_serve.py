"""`jpcorpus serve`: the HTTP API against `jpcorpus search --json`, every kind of bad request, and the page end to end
in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) on an index joined to a real tiny CPU
training run.

The corpus is real Aozora prose plus two web-like documents that quote HTML and script, the way crawled pages do,
with a `javascript:` URL and a very long URL: they must show as text, never run, and never widen a phone screen.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_train_corpus import SP_MODEL, aozora_documents, write_shards
from test_train_fsdp import torchrun

from index import search, serve
from jpcorpus import cli
from pipeline.schema import new_doc
from pipeline.tokenize import run as tokenize

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("JPCORPUS_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_S = 15
MAX_STEPS = 6

XSS_HTML = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
LONG_URL = "https://ja.wikipedia.org/wiki/" + "%E7%BE%85%E7%94%9F%E9%96%80" * 40  # 1,110 characters, no break


def web_documents(prose: str) -> list[dict]:
    """A page that quotes markup (as forum posts and tutorials do) and one with a long URL and an unbroken token."""
    return [
        new_doc(
            id="cc:xss:0000",
            text=f"{prose}\n{XSS_HTML}\n{prose[:20]}",
            source="cc",
            source_ref="planted-xss.warc.gz@0",
            url="javascript:window.__pwned = 3",
            title="<b onmouseover=window.__pwned=4>title</b>",
            lang="ja",
            lang_score=1.0,
        ),
        new_doc(
            id="cc:long:0000",
            text=f"{prose}\n{'ABCDEFGHIJ' * 30}\n{prose[:20]}",
            source="cc",
            source_ref="planted-long-url.warc.gz@0",
            url=LONG_URL,
            title="long",
            lang="ja",
            lang_score=1.0,
        ),
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("serve")
    aozora = aozora_documents()[:12]  # the vector index embeds every passage: 0.25-0.5 CPU-s each
    docs = aozora + web_documents(aozora[0]["text"].split("\n")[0][:60])
    write_shards(root, docs, num_shards=2)
    argv = ["index", "build", "--shards", str(root / "shards"), "--output", str(root / "plain"), "--no-vector"]
    assert cli.main(argv) == 0
    return root, docs


@contextlib.contextmanager
def serving(index_dir: Path) -> Iterator[serve.SearchServer]:
    engines = search.open_engines(index_dir)
    server = serve.make_server(engines, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.close_engines()
        thread.join(TIMEOUT_S)


@pytest.fixture(scope="module")
def plain(corpus) -> Iterator[tuple[str, Path, list[dict]]]:
    root, docs = corpus
    with serving(root / "plain") as server:
        yield server.url, root / "plain", docs


def request(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        assert err.headers["Content-Type"] == "application/json; charset=utf-8"
        return err.code, json.loads(err.read().decode("utf-8"))


def raw_request(url: str, request_bytes: bytes) -> tuple[int | None, dict]:
    """Send bytes no HTTP client library would send (raw non-UTF-8 in the request line)."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request_bytes)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/"):  # http.server answers an unparsable request line HTTP/0.9-style: body only
        return None, json.loads(data.decode("utf-8"))
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body.decode("utf-8"))


def cli_json(capsys, index_dir: Path, query: str, *argv: str) -> dict:
    assert cli.main(["search", query, "--index", str(index_dir), "--json", *argv]) == 0
    result = json.loads(capsys.readouterr().out)
    result.pop("index")  # the CLI names the directory it was given; the server does not expose paths
    return result


def test_api_equals_search_json(plain, capsys):
    url, index_dir, docs = plain
    queries = [docs[5]["text"][10:40], "ところ", XSS_HTML, docs[10]["text"][:25] + "🍣🍣", "🍣🍣"]
    for query in queries:
        expected = cli_json(capsys, index_dir, query, "-k", "4")
        status, got = request(f"{url}api/search?" + urllib.parse.urlencode({"q": query, "k": 4, "mode": "ngram"}))
        assert status == 200 and got == expected
        body = json.dumps({"q": query, "k": 4}, ensure_ascii=False).encode("utf-8")
        status, got = request(f"{url}api/search", body, {"Content-Type": "application/json"})
        assert status == 200 and got == expected
    # The XSS document is found by its markup, character for character.
    xss = cli_json(capsys, index_dir, XSS_HTML)
    assert xss["ngram"]["located_span"] == {"text": XSS_HTML, "count": 1}
    assert xss["ngram"]["hits"][0]["doc_id"] == "cc:xss:0000"
    # Only emoji: a valid query, with nothing found.
    _, none = request(f"{url}api/search?q=" + urllib.parse.quote("🍣🍣"))
    assert none["ngram"]["located_span"] is None and none["ngram"]["hits"] == []


def test_info_and_page(plain):
    url, _, docs = plain
    status, info = request(f"{url}api/info")
    assert status == 200 and info["num_docs"] == len(docs) and info["modes"] == ["ngram"]
    assert info["vector"] is False and info["run_joined"] is False
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        page = resp.read().decode("utf-8")
        csp = resp.headers["Content-Security-Policy"]
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<textarea" in page and "http://" not in page.replace('"http:"', "")  # nothing fetched from elsewhere
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("api/search", 400, "missing parameter q"),
        ("api/search?q=", 400, "query is empty"),
        ("api/search?q=%20%0A%20", 400, "query is empty"),
        ("api/search?q=%FF%FE", 400, "not valid UTF-8"),
        ("api/search?q=%E6%97", 400, "not valid UTF-8"),  # a character cut in half
        ("api/search?q=%ED%A0%80", 400, "not valid UTF-8"),  # an encoded lone surrogate
        ("api/search?q=a&q=b", 400, "given more than once"),
        ("api/search?q=a&mode=vectorz", 400, "unknown mode"),
        ("api/search?q=a&k=0", 400, "-k must be at least 1"),
        ("api/search?q=a&k=-3", 400, "-k must be at least 1"),
        ("api/search?q=a&k=1e9", 400, "whole number"),
        ("api/search?q=a&k=101", 400, "at most 100"),
        ("api/search?q=a&debug=1", 400, "unknown parameter"),
        ("api/search/extra?q=a", 404, "no such path"),
        ("nope", 404, "no such path"),
        ("../etc/passwd", 404, "no such path"),
    ],
)
def test_bad_get_requests(plain, path, status, message):
    url, _, _ = plain
    got_status, body = request(url + path)
    assert got_status == status and message in body["error"]


def test_bad_post_requests_and_oversized_queries(plain):
    url, _, _ = plain
    json_header = {"Content-Type": "application/json"}
    cases = [
        (b"not json", "not JSON"),
        (b'["q"]', "must be a JSON object"),
        (b'{"q": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"q": 5}', "q must be a string"),
        (b'{"k": 3}', "missing parameter q"),
        (json.dumps({"q": "猫" * 100_000}).encode(), "more than --max-query-chars 20,000"),  # a 100 KB paste
    ]
    for body, message in cases:
        status, answer = request(f"{url}api/search", body, json_header)
        assert status == 400 and message in answer["error"], (body[:20], answer)
    # A body larger than the limit is refused from its Content-Length, without reading it.
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=TIMEOUT_S)
    conn.putrequest("POST", "/api/search")
    conn.putheader("Content-Length", str(serve.MAX_BODY_BYTES + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 400 and "more than" in json.loads(resp.read())["error"]
    conn.close()
    # A query too long for any URL: http.server's own refusal, as JSON, pointing to POST.
    status, answer = request(f"{url}api/search?q=" + "a" * 70_000)
    assert status == 414 and "POST" in answer["error"]
    status, answer = request(f"{url}api/other", b"{}", json_header)
    assert status == 404


def test_raw_bytes_in_the_request_line(plain):
    url, _, docs = plain
    # Unescaped UTF-8 (curl sends it so) is read as UTF-8. http.server splits the request line on Latin-1 spaces,
    # so a character holding byte 0x85 or 0xA0 (元, 、) is refused as a bad request line: clients must %-escape.
    query = "日本"
    status, body = raw_request(url, b"GET /api/search?q=" + query.encode("utf-8") + b" HTTP/1.0\r\n\r\n")
    assert status == 200 and body["query"] == query
    status, body = raw_request(url, "GET /api/search?q=元 HTTP/1.0\r\n\r\n".encode())
    assert status in (None, 400) and "Bad request" in body["error"]
    status, body = raw_request(url, b"GET /api/search?q=\xff\xfe\x00 HTTP/1.0\r\n\r\n")
    assert status == 400 and "not valid UTF-8" in body["error"]
    for garbage in (b"GARBAGE\r\n\r\n", b"GET / junk HTTP/9z\r\n\r\n", b"\x00\xff\r\n\r\n"):
        status, body = raw_request(url, garbage)
        assert status in (None, 400) and "Bad" in body["error"], (garbage, body)
    status, body = raw_request(url, b"DELETE / HTTP/1.0\r\n\r\n")
    assert status == 501
    # Still serving after all of it.
    status, body = request(f"{url}api/search?q=" + urllib.parse.quote(docs[7]["text"][3:13]))
    assert status == 200 and body["ngram"]["hits"]


def test_server_error_is_500_logged_and_survived(plain, monkeypatch, caplog):
    url, _, _ = plain

    def broken(*_args, **_kwargs):
        raise RuntimeError("planted failure in the search engine")

    monkeypatch.setattr(search, "run_search", broken)
    with caplog.at_level(logging.INFO, logger="index.serve"):
        status, body = request(f"{url}api/search?q=%E3%81%AE")
    assert status == 500 and "internal server error" in body["error"]
    assert "planted failure" in caplog.text and "Traceback" in caplog.text  # the traceback is in the log
    assert "'GET /api/search?q=%E3%81%AE HTTP/1.1' 500" in caplog.text  # one log line per request
    monkeypatch.undo()
    status, body = request(f"{url}api/search?q=%E3%81%AE")
    assert status == 200 and body["ngram"]["located_span"]["text"] == "の"


def start_cli_server(index_dir: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "jpcorpus", "serve", "--index", str(index_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    if not lines or "http://" not in lines[0]:
        proc.kill()
        pytest.fail(f"`jpcorpus serve` printed no URL: {lines} {proc.stderr.read()[-2000:]}")
    return proc, lines[0].split(" at ")[1].split()[0]


def test_cli_port_zero_port_in_use_and_sigterm(corpus):
    root, docs = corpus
    proc, url = start_cli_server(root / "plain")
    try:
        status, body = request(f"{url}api/search?q=" + urllib.parse.quote(docs[1]["text"][:12]))
        assert status == 200 and body["ngram"]["hits"][0]["doc_id"] == docs[1]["id"]
        port = urllib.parse.urlsplit(url).port
        cmd = [sys.executable, "-m", "jpcorpus", "serve", "--index", str(root / "plain"), "--port", str(port)]
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT_S) == 0
        log = proc.stderr.read()
        assert "/api/search?q=" in log and " 200 " in log and "stopping (SIGTERM)" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT_S)


def test_cli_bad_arguments_exit_2(corpus, tmp_path, capsys):
    root, _ = corpus
    assert cli.main(["serve", "--index", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve", "--index", str(root / "plain"), "--port", "70000"]) == 2
    assert "--port must be 0..65535" in capsys.readouterr().err
    assert cli.main(["serve", "--index", str(root / "plain"), "--host", "no-such-host.invalid"]) == 2
    assert "not an address of this machine" in capsys.readouterr().err


# -- end to end in a real browser, on an index joined to a real training run ------------------------------------


@pytest.fixture(scope="module")
def trained(corpus) -> tuple[Path, dict[str, int]]:
    """Token shards of the corpus, a 6-step 1-process CPU FSDP run, the index built with --run.

    Returns the index and the first trained step of every document, read straight from the raw provenance log.
    """
    root, _ = corpus
    argv = ["--input", str(root / "shards"), "--tokenizer", str(SP_MODEL), "--output", str(root / "tokens")]
    assert tokenize([*argv, "--val-fraction", "0.1", "--runner=FnApiRunner"]) == 0
    torchrun(
        {
            "data.tokens_dir": str(root / "tokens"),
            "data.micro_batch_size": 4,
            "run.output_dir": str(root / "run"),
            "run.max_steps": MAX_STEPS,
            "checkpoint.every_steps": 100,
            "eval.every_steps": 100,
        },
        nproc=1,
    )
    argv = ["index", "build", "--shards", str(root / "shards"), "--run", str(root / "run")]
    assert cli.main([*argv, "--tokens", str(root / "tokens"), "--output", str(root / "joined")]) == 0
    first: dict[str, int] = {}
    for path in (root / "run" / "provenance").glob("rank-*.jsonl"):
        for rec in map(json.loads, path.open()):
            if rec["status"] == "trained":
                for _epoch, doc_id, _lo, _hi in rec["spans"]:
                    first[doc_id] = min(first.get(doc_id, rec["step"]), rec["step"])
    return root / "joined", first


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: the serve page is tested in a real browser. Install Debian's chromium "
            "(`make browser`, i.e. apt-get install -y --no-install-recommends chromium) or set JPCORPUS_CHROMIUM."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox. Never `playwright install`: offline.
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"], timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_S * 1000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("body[data-state=ready], body[data-state=done]")
    return page, problems


def submit(page, query: str, k: int, mode: str = "both") -> None:
    page.fill("#q", query)
    page.select_option("#mode", mode)
    page.fill("#k", str(k))
    page.click("#go")
    page.wait_for_selector("body[data-state=done]")


def hit_texts(page, column: str) -> list[dict]:
    return page.eval_on_selector_all(
        f"#{column} .hit",
        """hits => hits.map(h => ({
            head: h.querySelector('.hit-head').textContent,
            where: h.querySelector('.where').textContent,
            links: [...h.querySelectorAll('.where a')].map(a => a.href),
            docref: h.querySelector('.docref').textContent,
            snippet: h.querySelector('.snippet').textContent,
            marks: [...h.querySelectorAll('mark')].map(m => m.textContent),
            iteration: h.querySelector('.iteration').textContent,
        }))""",
    )


def test_page_says_when_the_vector_index_is_missing(browser, plain):
    url, _, docs = plain
    page, problems = open_page(browser, url, 1280, 900)
    try:
        assert page.text_content("#col-vector .note") == "vector index not built"
        assert [o for o in page.eval_on_selector_all("#mode option", "os => os.map(o => o.value)")] == ["ngram"]
        submit(page, docs[3]["text"][:20], k=1, mode="ngram")
        (hit,) = hit_texts(page, "col-ngram")
        assert (
            hit["marks"] == [docs[3]["text"][:20]]
            and hit["iteration"] == "training: no run joined (index build --run)"
        )
        assert page.text_content("#col-vector .note") == "vector index not built" and problems == []
    finally:
        page.close()


@pytest.mark.slow
def test_page_in_headless_chromium(browser, trained, corpus, capsys):
    index_dir, first = trained
    _, docs = corpus
    texts = {d["id"]: d["text"] for d in docs}
    with serving(index_dir) as server:
        page, problems = open_page(browser, server.url, 1280, 900)
        assert page.input_value("#mode") == "both" and f"{MAX_STEPS} steps" in page.text_content("#info")

        # A document the run trained on: both engines' hits, the highlighted match, the iteration from the raw log.
        seen_id = max(first, key=first.get)
        text = texts[seen_id]
        query = text[len(text) // 2 : len(text) // 2 + 30]
        submit(page, query, k=2)
        api = cli_json(capsys, index_dir, query, "-k", "2", "--mode", "both")
        assert api["ngram"]["located_span"] == {"text": query, "count": 1}
        (hit,) = hit_texts(page, "col-ngram")
        title = next(d["title"] for d in docs if d["id"] == seen_id)
        assert hit["marks"] == [query] and query in hit["snippet"] and hit["head"] == "#1ngramaozora"
        assert hit["docref"].startswith(f"{seen_id} @ char ") and hit["where"] == title and hit["links"] == []
        assert hit["iteration"].startswith(f"Iteration: {first[seen_id]:,} / {MAX_STEPS}")
        assert hit["iteration"] == search._iteration_line(api["ngram"]["hits"][0]["training"])
        vector_hits = hit_texts(page, "col-vector")
        assert len(vector_hits) == len(api["vector"]["hits"]) == 2
        for shown, data in zip(vector_hits, api["vector"]["hits"], strict=True):
            assert shown["head"] == f"#{data['rank']}vectorscore {data['score']:.3f}{data['source']}"
            assert shown["marks"] == [data["snippet"]["match"]] and data["doc_id"] in shown["docref"]
            assert shown["iteration"] == search._iteration_line(data["training"])
        assert vector_hits[0]["docref"].startswith(seen_id)  # the passage holding the query ranks first
        # the vector hit's iteration is the same join to the raw provenance log as the n-gram hit's
        top = api["vector"]["hits"][0]
        assert top["doc_id"] == seen_id and top["training"]["first_step"] == first[seen_id]
        assert api["vector"]["model"] in page.text_content("#col-vector .note")
        assert page.locator("#spans li.located").count() == 1
        assert "q=" in page.url  # shareable: reloading the address shows the same result
        page.reload()
        page.wait_for_selector("body[data-state=done]")
        assert hit_texts(page, "col-ngram") == [hit] and page.input_value("#q") == query

        # A document the run never reached (or a validation one): never trained on.
        unseen_id = next(i for i in texts if i.startswith("aozora") and i not in first)
        unseen = texts[unseen_id]
        query = unseen[len(unseen) // 2 : len(unseen) // 2 + 30]
        submit(page, query, k=1, mode="ngram")
        api = cli_json(capsys, index_dir, query, "-k", "1", "--mode", "ngram")
        (hit,) = hit_texts(page, "col-ngram")
        assert hit["iteration"].startswith("not seen in training")
        assert hit["iteration"] == search._iteration_line(api["ngram"]["hits"][0]["training"])
        assert page.text_content("#col-vector .note").startswith("not searched in this mode")

        # Markup from the corpus is shown as text and never runs; a javascript: URL is not a link.
        submit(page, XSS_HTML, k=3)
        (hit,) = hit_texts(page, "col-ngram")
        assert hit["marks"] == [XSS_HTML] and hit["where"] == "javascript:window.__pwned = 3" and hit["links"] == []
        assert any(XSS_HTML in h["snippet"] for h in hit_texts(page, "col-vector"))
        assert page.evaluate("window.__pwned") is None
        assert page.locator(".engines script, .engines img, .engines b").count() == 0

        # Errors from the server are shown in the page; a query of emoji only finds nothing, and says so.
        submit(page, "  \n ", k=3)
        assert page.is_visible("#error") and "query is empty" in page.text_content("#error")
        assert problems == [
            "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        problems.clear()
        submit(page, "🍣🍣", k=3, mode="ngram")
        assert not page.is_visible("#error")
        assert page.text_content("#col-ngram .note") == "no part of the query occurs in the corpus"

        # Wide screen: the two engines side by side.
        ngram_box = page.locator("#col-ngram").bounding_box()
        vector_box = page.locator("#col-vector").bounding_box()
        assert ngram_box["y"] == vector_box["y"] and vector_box["x"] >= ngram_box["x"] + ngram_box["width"]
        assert problems == []
        page.close()

        # Phone width, opened from a shared address: stacked columns, no horizontal scroll with a 1,110-character
        # URL and long unbroken tokens in view.
        shared = "ABCDEFGHIJ" * 8  # 80 unbroken characters, matched in the long-URL document
        address = server.url + "?" + urllib.parse.urlencode({"q": shared, "mode": "both", "k": 5})
        phone, problems = open_page(browser, address, 390, 844)
        hits = hit_texts(phone, "col-ngram")
        assert any(h["links"] == [LONG_URL] for h in hits) and all(shared in h["snippet"] for h in hits)
        # The address is shown decoded and cut short; the link keeps all of it.
        assert any(h["where"].startswith("https://ja.wikipedia.org/wiki/羅生門羅生門") for h in hits)
        assert all(len(h["where"]) < 200 for h in hits)
        assert hit_texts(phone, "col-vector")
        overflow = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1] == 390, overflow
        ngram_box = phone.locator("#col-ngram").bounding_box()
        vector_box = phone.locator("#col-vector").bounding_box()
        assert vector_box["y"] >= ngram_box["y"] + ngram_box["height"] and ngram_box["width"] <= 390
        assert problems == []
        phone.close()
