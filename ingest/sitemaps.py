"""Bounded, safe sitemap parsing (sitemaps.org protocol) without any I/O.

Our own parser on lxml rather than ultimate-sitemap-parser, because that library
fetches by itself and we need the crawler's politeness, size limits and robots rules
on every request. Input is hostile by assumption:

* XXE / billion laughs: documents with a DOCTYPE or ENTITY declaration are rejected
  before parsing; lxml additionally runs with entity resolution, DTD loading and network
  access off and with libxml2's size limits (``huge_tree=False``).
* Soft-404 HTML pages, JSON, feeds: kind "invalid", error "not a sitemap", no entries.
* Size: at most ``MAX_URLS`` entries per sitemap; elements are freed while streaming.

:class:`SitemapWalker` drives nested sitemap indexes (depth limit, cycles, redirects,
failures) while the crawler does the fetching.
"""

from __future__ import annotations

import io
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from lxml import etree

from ingest.urls import UrlError, canonicalize

MAX_URLS = 50_000  # sitemaps.org per-file limit; also the walker's default total
MAX_DEPTH = 3  # index -> index -> index -> urlset
MAX_SITEMAPS = 2_000  # sitemap files one walker hands out (empty-sitemap floods)

NOT_A_SITEMAP = "not a sitemap"
_VIDEO_KEYS = frozenset(
    {"title", "description", "content_loc", "player_loc", "thumbnail_loc", "duration", "publication_date"}
)
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_HTML_START = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_SITEMAP_ROOT = re.compile(rb"<(?:[\w.-]+:)?(?:urlset|sitemapindex)[\s>/]", re.IGNORECASE)
_YEAR_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")
_WHITESPACE = b" \t\r\n\f\v"


@dataclass(frozen=True)
class SitemapEntry:
    """One <url> of a urlset (or one line of a text sitemap)."""

    loc: str  # canonical absolute URL
    lastmod: datetime | None = None  # tz-aware UTC
    videos: tuple[dict[str, str], ...] = ()  # <video:video> children, keys in _VIDEO_KEYS

    def __hash__(self) -> int:
        # The generated hash would fail on the dicts in ``videos``; equal entries share loc/lastmod.
        return hash((self.loc, self.lastmod))


@dataclass
class ParsedSitemap:
    """Result of parsing one sitemap file."""

    kind: str  # "urlset" | "index" | "invalid"
    entries: list[SitemapEntry] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # child sitemap URLs of an index
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def parse_lastmod(text: str | None) -> datetime | None:
    """Parse a W3C datetime (YYYY, YYYY-MM, full ISO 8601) or RFC 2822 date into UTC.

    Naive values are taken as UTC; unparseable ones give None.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if match := _YEAR_MONTH.fullmatch(text):
            value = datetime(int(match[1]), int(match[2] or 1), 1)
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def _local(tag: object) -> str:
    """Lower-cased local name of an element tag; "" for comments, PIs and entities."""
    return tag[tag.rfind("}") + 1 :].lower() if isinstance(tag, str) else ""


def _read_url(element: etree._Element) -> tuple[str | None, str | None, tuple[dict[str, str], ...]]:
    """(loc, lastmod, videos) of a <url> or <sitemap> element, in one pass over its children."""
    loc = lastmod = None
    videos = []
    for child in element:
        name = _local(child.tag)
        if name == "loc":
            loc = child.text or ""
        elif name == "lastmod":
            lastmod = child.text or ""
        elif name == "video":
            videos.append({_local(v.tag): (v.text or "").strip() for v in child if _local(v.tag) in _VIDEO_KEYS})
    return loc, lastmod, tuple(videos)


def _looks_like_html(body: bytes) -> bool:
    """HTML markers before the sitemap root element (not inside it: a video description
    may legitimately carry HTML in CDATA)."""
    head = body[:4096]
    if root := _SITEMAP_ROOT.search(head):
        head = head[: root.start()]
    return bool(_HTML_START.search(head))


def _invalid(error: str, *warnings: str) -> ParsedSitemap:
    return ParsedSitemap(kind="invalid", error=error, warnings=list(warnings))


class _Collector:
    """Accumulates entries/children with the per-file cap and the skipped-URL counters."""

    def __init__(self, base: str, max_urls: int) -> None:
        self.base = base
        self.max_urls = max_urls
        self.entries: list[SitemapEntry] = []
        self.children: list[str] = []
        self.invalid_locs = 0
        self.bad_lastmods = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        return len(self.entries) + len(self.children) >= self.max_urls

    def resolve(self, loc: str | None, base: str | None) -> str | None:
        loc = (loc or "").strip()
        if not loc:
            return None  # canonicalize("", base) would be the sitemap itself
        try:
            return canonicalize(loc, base=base)
        except UrlError:
            return None

    def add(
        self,
        loc: str | None,
        lastmod: str | None = None,
        videos: tuple[dict[str, str], ...] = (),
        *,
        index: bool = False,
        relative: bool = True,
    ) -> None:
        if self.full:
            self.truncated = True
            return
        url = self.resolve(loc, self.base if relative else None)
        if url is None:
            self.invalid_locs += 1
        elif index:
            self.children.append(url)
        else:
            when = parse_lastmod(lastmod)
            if lastmod and when is None:
                self.bad_lastmods += 1
            self.entries.append(SitemapEntry(loc=url, lastmod=when, videos=videos))

    def result(self, kind: str, warnings: list[str]) -> ParsedSitemap:
        if self.truncated:
            warnings.append(f"more than {self.max_urls} URLs: kept the first {self.max_urls}")
        if self.invalid_locs:
            warnings.append(f"skipped {self.invalid_locs} invalid <loc> value(s)")
        if self.bad_lastmods:
            warnings.append(f"ignored {self.bad_lastmods} unparseable <lastmod> value(s)")
        return ParsedSitemap(kind=kind, entries=self.entries, children=self.children, warnings=warnings)


def _parse_text(data: bytes, url: str, max_urls: int) -> ParsedSitemap:
    """Plain-text sitemap: one absolute URL per line, nothing else."""
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines or not lines[0].lower().startswith(("http://", "https://")):
        return _invalid(NOT_A_SITEMAP, "neither XML nor a list of URLs")
    collector = _Collector(url, max_urls)
    for line in lines:
        # No base: a stray word must not turn into https://site/word.
        collector.add(line if line.lower().startswith(("http://", "https://")) else None, relative=False)
        if collector.truncated:
            break
    return collector.result("urlset", [])


def _parse_xml(data: bytes, url: str, max_urls: int) -> ParsedSitemap:
    if _DECLARATION.search(data):
        # Sitemaps never need a DTD; any declaration is an XXE/entity-expansion attempt or junk.
        return _invalid("DOCTYPE/ENTITY declarations are not allowed in sitemaps")
    collector = _Collector(url, max_urls)
    root: etree._Element | None = None
    kind = ""
    events = etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = 0  # element nesting: cheaper than asking lxml for parents
    try:
        for event, element in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    name = _local(element.tag)
                    if root.getroottree().docinfo.internalDTD is not None:  # second line of defence
                        return _invalid("DOCTYPE/ENTITY declarations are not allowed in sitemaps")
                    if name not in ("urlset", "sitemapindex"):
                        hint = " (an RSS/Atom feed)" if name in ("rss", "feed", "rdf") else ""
                        return _invalid(NOT_A_SITEMAP, f"root element <{name}>{hint}")
                    kind = "urlset" if name == "urlset" else "index"
                continue
            depth -= 1
            if depth != 1:  # only direct children of the root are entries
                continue
            name = _local(element.tag)
            if kind == "urlset" and name == "url":
                loc, lastmod, videos = _read_url(element)
                collector.add(loc, lastmod, videos)
            elif kind == "index" and name == "sitemap":
                collector.add(_read_url(element)[0], index=True)
            # Stream: free each finished element so memory stays flat on 50k-URL files.
            element.clear()
            while element.getprevious() is not None:
                del root[0]
            if collector.truncated:
                break
    except etree.XMLSyntaxError as exc:
        message = str(exc)[:200]
        if root is None or (not collector.entries and not collector.children):
            return _invalid(f"malformed XML: {message}")
        return collector.result(kind, [f"malformed XML, kept entries before the error: {message}"])
    if root is None:
        return _invalid("malformed XML: no root element")
    return collector.result(kind, [])


def parse_sitemap(data: bytes, url: str, max_urls: int = MAX_URLS) -> ParsedSitemap:
    """Parse one (already decompressed) sitemap body fetched from ``url``.

    Accepts <urlset> and <sitemapindex> with or without namespace, and plain-text
    sitemaps. Entry and child URLs are resolved against ``url`` and canonicalised.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4]:
        return _invalid("sitemap is not UTF-8 (UTF-16/32 is not allowed by the protocol)")
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip(_WHITESPACE)
    if not body:
        return _invalid("empty sitemap")
    if body[:1] in (b"{", b"["):
        return _invalid(NOT_A_SITEMAP, "JSON body")
    if _looks_like_html(body):
        return _invalid(NOT_A_SITEMAP, "HTML page")
    if body[:1] == b"<":
        return _parse_xml(body, url, max_urls)
    return _parse_text(body, url, max_urls)


class SitemapWalker:
    """Drives nested sitemaps without doing I/O itself.

    The crawler loops: ``url = walker.next_sitemap()``, fetch it, then ``feed(url, parsed,
    final_url)`` or ``failed(url, reason)``. Every sitemap URL is handed out at most once
    (so cycles such as an index listing itself or A <-> B end), indexes nested deeper than
    ``max_depth`` are skipped with a warning, and at most ``max_urls`` distinct entries
    are collected in total.
    """

    def __init__(
        self,
        roots: list[str],
        max_depth: int = MAX_DEPTH,
        max_urls: int = MAX_URLS,
        max_sitemaps: int = MAX_SITEMAPS,
    ) -> None:
        self.max_depth = max_depth
        self.max_urls = max_urls
        self.max_sitemaps = max_sitemaps
        self.entries: list[SitemapEntry] = []
        self.warnings: list[str] = []
        self.errors: dict[str, str] = {}
        self._queue: deque[str] = deque()
        self._depth: dict[str, int] = {}  # every sitemap URL seen (queued, fetched, redirected to)
        self._locs: set[str] = set()
        self._handed_out = 0
        self._stopped = False
        for root in roots:
            self.add_root(root)

    def add_root(self, url: str) -> bool:
        """Queue another top-level sitemap (e.g. found later in robots.txt); False if seen."""
        return self._enqueue(url, 0)

    def _enqueue(self, url: str, depth: int) -> bool:
        try:
            key = canonicalize(url)
        except UrlError as exc:
            self.errors[url] = f"invalid sitemap URL: {exc.reason}"
            return False
        if key in self._depth:
            return False
        self._depth[key] = depth
        self._queue.append(key)
        return True

    @staticmethod
    def _key(url: str) -> str:
        try:
            return canonicalize(url)
        except UrlError:
            return url

    def next_sitemap(self) -> str | None:
        """The next sitemap URL to fetch, or None when done (or a limit was reached)."""
        if self._stopped or not self._queue:
            return None
        if self._handed_out >= self.max_sitemaps:
            self.warnings.append(f"sitemap limit of {self.max_sitemaps} files reached: {len(self._queue)} skipped")
            self._queue.clear()
            return None
        self._handed_out += 1
        return self._queue.popleft()

    def feed(self, url: str, parsed: ParsedSitemap, final_url: str | None = None) -> None:
        """Record the parse of ``url`` (fetched, possibly redirected to ``final_url``)."""
        key = self._key(url)
        depth = self._depth.setdefault(key, 0)
        if final_url:
            final = self._key(final_url)
            if final != key:
                if final in self._depth:
                    self.warnings.append(f"{url}: redirected to already-seen sitemap {final_url}; skipped")
                    return
                self._depth[final] = depth
        self.warnings.extend(f"{url}: {w}" for w in parsed.warnings)
        if parsed.kind == "invalid":
            self.errors[url] = parsed.error or "invalid sitemap"
            return
        if parsed.children:
            if depth + 1 > self.max_depth:
                self.warnings.append(
                    f"{url}: skipped {len(parsed.children)} child sitemap(s): nesting deeper than {self.max_depth}"
                )
            else:
                seen = sum(not self._enqueue(child, depth + 1) for child in parsed.children)
                if seen:
                    self.warnings.append(f"{url}: {seen} child sitemap(s) already seen (cycle or duplicate)")
        for entry in parsed.entries:
            if entry.loc in self._locs:
                continue  # first listing wins
            if len(self.entries) >= self.max_urls:
                self.warnings.append(f"URL limit of {self.max_urls} reached: remaining sitemaps skipped")
                self._stopped = True
                return
            self._locs.add(entry.loc)
            self.entries.append(entry)

    def failed(self, url: str, reason: str) -> None:
        """Record that ``url`` could not be fetched (404, timeout, ...); others go on."""
        self._depth.setdefault(self._key(url), 0)
        self.errors[url] = reason
