"""Reader for MediaWiki ``pages-articles`` XML dumps (``.xml``, ``.xml.bz2``, ``.xml.gz``), stage ``read_wikipedia``.

The dump is streamed: decompressed chunk by chunk (bz2/gzip/zstd detected by magic bytes, through Beam's
FileSystems so gs:// and s3:// work) into an incremental XML parser, and every ``<page>`` is released once
handled, so memory stays flat whatever the dump size. Each page is counted once in stage ``read_wikipedia``:

- ``out``: an article with clean text (``pipeline.wikitext``),
- ``dropped.namespace`` (not in ``WikipediaConfig.namespaces``), ``dropped.redirect``, ``dropped.content_model``
  (a page in an article namespace that is not wikitext), ``dropped.empty`` (no text left after cleaning),
- ``failed.truncated``: the dump ends early (a cut-off download; the shared sample ends without ``</mediawiki>``).
  Every complete page before the cut is still yielded; the damaged tail counts as one record, with the partial
  page's title and id when the cut fell inside a page,
- ``failed.bad_xml`` (malformed XML before the end), ``failed.corrupt`` (damaged compressed data),
  ``failed.unreadable`` (cannot be opened), ``failed.bad_page`` (a page without id or revision),
  ``failed.<ExceptionType>`` (the cleaner raised on one page; the reader goes on).

Document ids are ``<dbname>/<page id>`` (``jawiki/5``) and ``source_ref`` is ``<dbname>:page=<id>:rev=<revision>``,
so both ids are recoverable; ``crawl_date`` is the revision timestamp.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import apache_beam as beam

from pipeline.config import WikipediaConfig
from pipeline.formats import open_decompressed
from pipeline.schema import new_doc
from pipeline.stage import REJECTS, count, reject_row
from pipeline.wikitext import HIDDEN_LINK_NAMESPACES, clean_wikitext

log = logging.getLogger(__name__)
STAGE = "read_wikipedia"

_CHUNK_BYTES = 1 << 20
# Namespaces whose links are invisible in articles: Media (-2), File (6), Category (14).
_HIDDEN_NS_KEYS = ("-2", "6", "14")
# expat error codes that mean "the input stopped": no element found, unclosed token, partial character.
_TRUNCATION_CODES = (3, 5, 6)
_REDIRECT_MAGIC = ("#redirect", "#転送")


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteInfo:
    """What a dump's ``<siteinfo>`` tells us about its wiki."""

    dbname: str  # "jawiki"; the prefix of document ids
    url_prefix: str | None  # "https://ja.wikipedia.org/wiki/"; None when the dump has no <base>
    hidden_namespaces: frozenset[str]  # lower-case names of the File/Media/Category namespaces
    namespace_ids: dict[str, int]  # namespace name -> id, for exports without <ns> (schema < 0.6)


def site_info(fields: dict[str, str], namespaces: dict[str, str], fallback_dbname: str) -> SiteInfo:
    base = fields.get("base")
    hidden = set(HIDDEN_LINK_NAMESPACES)
    hidden.update(namespaces[key].lower() for key in _HIDDEN_NS_KEYS if namespaces.get(key))
    return SiteInfo(
        dbname=fields.get("dbname") or fallback_dbname,
        url_prefix=base.rsplit("/", 1)[0] + "/" if base and "/" in base else None,
        hidden_namespaces=frozenset(hidden),
        namespace_ids={name: int(key) for key, name in namespaces.items() if name and key.lstrip("-").isdigit()},
    )


def page_url(url_prefix: str | None, title: str) -> str | None:
    """``https://ja.wikipedia.org/wiki/日本語``: spaces become ``_``; characters that would end or break the path
    (``?``, ``#``, ``%``, quotes, ...) are percent-encoded; other characters stay readable (an IRI)."""
    if url_prefix is None:
        return None
    encoded = "".join(
        c if c.isalnum() or c in "_-.~/:,;!*()'@$&+=" or ord(c) > 127 else f"%{ord(c):02X}"
        for c in title.replace(" ", "_")
    )
    return url_prefix + encoded


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace_from_title(title: str, site: SiteInfo) -> int:
    prefix, colon, _rest = title.partition(":")
    return site.namespace_ids.get(prefix, 0) if colon else 0


def _page_event(page: dict[str, Any], site: SiteInfo, cfg: WikipediaConfig) -> tuple[str, Any]:
    """("doc", doc) | ("dropped", (reason, detail, record)) | ("failed", (kind, detail, record)) for one page."""
    page_id, title, rev_id = page.get("id"), page.get("title") or "", page.get("rev_id")
    wikitext = page.get("text") or ""
    record = {
        "id": f"{site.dbname}/{page_id}" if page_id else None,
        "source": cfg.source_name,
        "url": page_url(site.url_prefix, title) if title else None,
        "title": title or None,
        "source_ref": f"{site.dbname}:page={page_id}:rev={rev_id}",
        "text": wikitext,
    }
    if not page_id or not (page_id.isdigit()) or rev_id is None:
        return "failed", ("bad_page", f"page without id or revision: id={page_id!r} rev={rev_id!r}", record)
    try:
        ns = int(page["ns"]) if "ns" in page else _namespace_from_title(title, site)
    except ValueError:
        return "failed", ("bad_page", f"namespace is not an integer: {page.get('ns')!r}", record)
    if ns not in cfg.namespaces:
        return "dropped", ("namespace", f"ns={ns}", record)
    if "redirect" in page or wikitext.lstrip()[:10].lower().startswith(_REDIRECT_MAGIC):
        return "dropped", ("redirect", page.get("redirect") or wikitext.strip().split("\n", 1)[0][:200], record)
    model = page.get("model", "wikitext")
    if model != "wikitext":
        return "dropped", ("content_model", model, record)
    try:
        text = clean_wikitext(wikitext, cut_sections=cfg.cut_sections, hidden_namespaces=site.hidden_namespaces)
    except Exception as exc:  # noqa: BLE001 - one page the cleaner cannot handle must not stop the dump
        return "failed", (type(exc).__name__, str(exc), record)
    if not text:
        return "dropped", ("empty", f"{len(wikitext)} chars of wikitext", record)
    return "doc", new_doc(
        id=record["id"],
        text=text,
        source=cfg.source_name,
        url=record["url"],
        title=title,
        source_ref=record["source_ref"],
        crawl_date=page.get("timestamp"),
        charset=None,
    )


def iter_pages(
    chunks: Iterable[bytes], cfg: WikipediaConfig, fallback_dbname: str = "wiki"
) -> Iterator[tuple[str, Any]]:
    """Parse a MediaWiki XML export streamed as byte ``chunks``; one event per page (see :func:`_page_event`).

    A chunk source that raises ``EOFError`` (a compressed stream cut short) or the XML ending before
    ``</mediawiki>`` yields one ``("failed", ("truncated", ...))`` after the last complete page.
    """
    parser = ET.XMLPullParser(events=("start", "end"))
    path: list[str] = []  # local names of the open elements
    site_fields: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    site: SiteInfo | None = None
    page: dict[str, Any] | None = None
    root: ET.Element | None = None
    done = False  # </mediawiki> seen

    def handle(events: Iterable[tuple[str, ET.Element]]) -> Iterator[tuple[str, Any]]:
        nonlocal site, page, root, done
        for event, elem in events:
            name = _local(elem.tag)
            if event == "start":
                if root is None:
                    root = elem
                path.append(name)
                if name == "page":
                    page = {}
                continue
            parent = path[-2] if len(path) >= 2 else ""
            path.pop()
            if page is not None:
                if parent == "page" and name in ("title", "ns", "id"):
                    page[name] = (elem.text or "").strip()
                elif parent == "page" and name == "redirect":
                    page["redirect"] = elem.get("title", "")
                elif parent == "revision" and name in ("id", "timestamp", "model", "text"):
                    # pages-articles has one revision; in a history dump the last one is the latest
                    page["rev_id" if name == "id" else name] = elem.text or ""
                elif name == "page":
                    if site is None:
                        site = site_info(site_fields, namespaces, fallback_dbname)
                    yield _page_event(page, site, cfg)
                    page = None
                    assert root is not None
                    root.clear()  # release the handled page: memory stays flat over the whole dump
            elif parent == "siteinfo" and name in ("dbname", "base", "sitename"):
                site_fields[name] = (elem.text or "").strip()
            elif name == "namespace":
                namespaces[elem.get("key", "")] = (elem.text or "").strip()
            elif name == "siteinfo":
                site = site_info(site_fields, namespaces, fallback_dbname)
            elif name == "mediawiki":
                done = True

    def truncated(detail: str) -> tuple[str, Any]:
        partial = page or {}
        dbname = site.dbname if site else fallback_dbname
        record = {
            "id": f"{dbname}/{partial['id']}" if partial.get("id") else None,
            "source": cfg.source_name,
            "title": partial.get("title"),
            "source_ref": f"{dbname}:page={partial.get('id')}:rev={partial.get('rev_id')}" if partial else None,
        }
        where = f"inside page {partial.get('title')!r}" if page is not None else "after the last complete page"
        return "failed", ("truncated", f"{detail} ({where})", record)

    try:
        for chunk in chunks:
            parser.feed(chunk)
            yield from handle(parser.read_events())
            if done:
                break
        else:
            parser.close()
            yield from handle(parser.read_events())
    except EOFError as exc:  # bz2/gzip stream cut before its end marker
        yield truncated(f"compressed stream ended early: {exc}")
    except ET.ParseError as exc:
        if exc.code in _TRUNCATION_CODES and not done:
            yield truncated(f"XML ended before </mediawiki>: {exc}")
        else:
            yield "failed", ("bad_xml", str(exc), {"source": cfg.source_name})
    except (OSError, zlib.error) as exc:
        yield "failed", ("corrupt", f"{type(exc).__name__}: {exc}", {"source": cfg.source_name})


def read_chunks(stream: IO[bytes], chunk_bytes: int = _CHUNK_BYTES) -> Iterator[bytes]:
    while chunk := stream.read(chunk_bytes):
        yield chunk


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def iter_wikipedia(path: str, cfg: WikipediaConfig) -> Iterator[tuple[str, Any]]:
    """Events of one dump file; its name gives the wiki when the dump lacks ``<siteinfo>`` (``jawiki-2024...``)."""
    fallback = _basename(path).split("-", 1)[0].split(".", 1)[0] or "wiki"
    with open_decompressed(path) as stream:
        yield from iter_pages(read_chunks(stream), cfg, fallback_dbname=fallback)


class ReadWikipedia(beam.DoFn):
    """One MediaWiki XML dump file (element: its path) -> article documents; counted as stage ``read_wikipedia``."""

    def __init__(self, cfg: WikipediaConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._warned: set[str] = set()

    def process(self, path: str):
        start = time.monotonic()
        num_by_outcome: Counter[str] = Counter()
        try:
            for kind, value in iter_wikipedia(path, self._cfg):
                count(STAGE, "in")
                if kind == "doc":
                    count(STAGE, "out")
                    num_by_outcome["out"] += 1
                    yield value
                    continue
                reason, detail, record = value
                if not record.get("source_ref"):
                    record["source_ref"] = _basename(path)
                count(STAGE, f"{kind}.{reason}")
                num_by_outcome[f"{kind}.{reason}"] += 1
                if kind == "failed" and reason not in self._warned:
                    self._warned.add(reason)
                    log.warning("%s: %s: first failure of kind %s: %s", STAGE, path, reason, detail[:300])
                yield beam.pvalue.TaggedOutput(REJECTS, reject_row(STAGE, kind, reason, detail, record))
        except OSError as exc:  # cannot open: missing file, permission, remote error
            log.warning("%s: %s: %s", STAGE, path, exc)
            count(STAGE, "in")
            count(STAGE, "failed.unreadable")
            num_by_outcome["failed.unreadable"] += 1
            yield beam.pvalue.TaggedOutput(
                REJECTS,
                reject_row(
                    STAGE, "failed", "unreadable", f"{type(exc).__name__}: {exc}", {"source_ref": _basename(path)}
                ),
            )
        elapsed_s = time.monotonic() - start
        num_pages = sum(num_by_outcome.values())
        log.info(
            "%s: %s: %d records in %.1f s (%.1f records/s): %s",
            STAGE,
            path,
            num_pages,
            elapsed_s,
            num_pages / max(elapsed_s, 1e-9),
            dict(sorted(num_by_outcome.items())),
        )
