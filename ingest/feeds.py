"""RSS / Atom parsing with feedparser (plus a small JSON Feed reader), over fetched bytes.

feedparser is given a ``BytesIO``, never a string: a string that looks like a URL or a
path would make it fetch or open a file by itself.

Entity attacks: feedparser's strict parser is expat with external entities off (no XXE),
and expat stops billion-laughs expansion, but only after a few MB of expansion delivered
to Python callbacks one "lol" at a time (over a second of CPU per request). feedparser's
own DOCTYPE scrubbing only sees declarations at the start of a line, so it can be
bypassed. We therefore disable every ``<!ENTITY`` declaration before parsing: feedparser
falls back to its loose parser, which never expands declared entities. Real feeds do not
declare entities.
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser

import feedparser

from ingest.urls import UrlError, canonicalize

FEED_CONTENT_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/x-rss+xml",
        "application/x-atom+xml",
        "application/feed+json",
    }
)
# Types whose body may or may not be a feed: we look at the content.
_SNIFF_CONTENT_TYPES = frozenset(
    {
        "",
        "text/xml",
        "application/xml",
        "text/plain",
        "application/octet-stream",
        "text/html",
        "application/json",
    }
)
# Skip the prolog (XML declaration, comments, PIs, DOCTYPE) and read the root element's name.
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.DOTALL | re.IGNORECASE)
_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)")
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf:rdf"})
_JSON_FEED = re.compile(rb'"version"\s*:\s*"https?://jsonfeed\.org/version/', re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"<[A-Za-z/!?]")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class FeedEntry:
    """One feed item that points at a page worth crawling."""

    link: str  # canonical absolute URL
    title: str  # plain text, HTML removed, whitespace collapsed
    published: datetime | None = None  # UTC


class _TextExtractor(HTMLParser):
    """Collects the text content of an HTML fragment (entities decoded, tags dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed."""
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return _SPACES.sub(" ", "".join(extractor.parts)).strip()


def _title(entry: feedparser.FeedParserDict) -> str:
    title = entry.get("title") or ""
    detail = entry.get("title_detail") or {}
    if detail.get("type") == "text/plain" and not _TAG.search(title):
        # Already text, and no tags: an HTML pass would only risk mangling "a < b".
        return _SPACES.sub(" ", title).strip()
    # HTML, or "plain text" that carries tags anyway (feedparser calls a title with
    # <script> in it text/plain because it is not an HTML tag it sanitises).
    return html_to_text(title)


def _published(entry: feedparser.FeedParserDict) -> datetime | None:
    # feedparser normalises every date format it knows to a UTC struct_time.
    # dict.get skips FeedParserDict's deprecated updated->published key aliasing (and its warning).
    parsed: time.struct_time | None = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _link(entry: feedparser.FeedParserDict) -> str | None:
    if entry.get("link"):
        return entry["link"]
    for link in entry.get("links") or []:
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            return link["href"]
    return None


def _parse_json_feed(data: bytes) -> list[tuple[str | None, str, datetime | None]] | None:
    """Items of a JSON Feed (jsonfeed.org) as (link, title, published), or None if not one.

    feedparser 6 does not read JSON Feed; the format is simple enough to read here.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
    ):
        return None
    items = []
    for item in document.get("items") or []:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        title = item.get("title") or item.get("summary") or ""
        when = item.get("date_published") or item.get("date_modified")
        published = None
        if isinstance(when, str):
            try:
                published = datetime.fromisoformat(when)
                published = published.replace(tzinfo=published.tzinfo or UTC).astimezone(UTC)
            except ValueError:
                published = None
        items.append((link if isinstance(link, str) else None, html_to_text(str(title)), published))
    return items


def parse_feed(data: bytes, url: str) -> tuple[list[FeedEntry], str | None]:
    """Parse a feed body fetched from ``url`` into ``(entries, warning)``.

    Malformed feeds give what feedparser could salvage plus a warning; a body that is not
    a feed at all gives ``([], "not a feed")``. Links are absolutised against ``url`` (and
    any xml:base) and canonicalised; entries without a usable link are skipped.
    """
    warnings = []
    items = _parse_json_feed(data) if data.lstrip()[:1] == b"{" else None
    if items is None:
        if _ENTITY_DECLARATION.search(data):
            # "<!-ENTITY" is no declaration: expat rejects the DTD, the loose parser ignores it.
            # The replacement has no "<" after its first character, so it cannot splice
            # neighbouring text into a new "<!ENTITY".
            data = _ENTITY_DECLARATION.sub(b"<!-ENTITY", data)
        result = feedparser.parse(
            io.BytesIO(data),
            response_headers={"content-location": url},  # the base for relative links
            sanitize_html=True,
        )
        if not result.get("version") and not result.entries:
            return [], "not a feed"
        exc = result.get("bozo_exception") if result.get("bozo") else None
        # "Things nobody cares about" are feedparser's notes on a missing/odd content type,
        # which we never pass (the crawler has already decided this is a feed).
        if exc is not None and not isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe):
            warnings.append(f"malformed feed ({type(exc).__name__}: {str(exc)[:200]})")
        items = [(_link(e), _title(e), _published(e)) for e in result.entries]
    entries: list[FeedEntry] = []
    skipped = 0
    for link, title, published in items:
        try:
            canonical = canonicalize(link, base=url) if link else None
        except UrlError:
            canonical = None
        if canonical is None:
            skipped += 1
            continue
        entries.append(FeedEntry(link=canonical, title=title, published=published))
    if skipped:
        warnings.append(f"skipped {skipped} entr{'y' if skipped == 1 else 'ies'} without a usable link")
    return entries, "; ".join(warnings) or None


def looks_like_feed(content_type: str, data: bytes) -> bool:
    """True if a response is an RSS/Atom/RDF/JSON feed, judged by type and first bytes.

    A feed content type is trusted; generic types (XML, text, octet-stream, HTML, JSON —
    servers mislabel feeds all the time) are confirmed by the document's root element.
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in FEED_CONTENT_TYPES:
        return True
    if mime not in _SNIFF_CONTENT_TYPES and not mime.endswith(("+xml", "/xml")):
        return False
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{"):
        return bool(_JSON_FEED.search(head))
    position = 0
    while match := _PROLOG.match(head, position):
        if match.end() == position:
            break
        position = match.end()
    root = _ROOT.match(head, position)
    return bool(root) and root.group(1).lower() in _FEED_ROOTS
