"""Page metadata from ``<head>``: plain meta tags, Open Graph and JSON-LD.

Why a module of its own: main-text extraction (``ingest.extract``) and metadata have different
failure modes. Metadata is best effort -- every reader here returns ``None``/empty on bad input
and never raises, so one malformed JSON-LD block or date cannot cost us the page.

Precedence (decided by the caller, ``ingest.extract``): JSON-LD, then Open Graph, then plain meta.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import html as lxml_html

from ingest.links import safe_urljoin

# JSON-LD nesting deeper than this is not metadata we need (and guards recursion).
_MAX_JSONLD_DEPTH = 20
_MAX_JSONLD_CHARS = 1_000_000

_WS_RE = re.compile(r"\s+")
# Tag-like text (a <title> may legally contain "<script>" as text): stored text never has markup.
MARKUP_RE = re.compile(r"<!--.*?-->|<\s*/?\s*[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?\s*>", re.DOTALL)


def clean_space(value: object) -> str:
    """Markup-free text with collapsed whitespace; non-strings become ''."""
    return _WS_RE.sub(" ", MARKUP_RE.sub(" ", value)).strip() if isinstance(value, str) else ""


def local_type(type_name: str) -> str:
    """'https://schema.org/VideoObject' or 'schema:VideoObject' -> 'VideoObject'."""
    return re.split(r"[/:#]", type_name.strip())[-1]


@dataclass
class HeadMeta:
    """Raw metadata signals of one page, before precedence is applied."""

    meta: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name/property -> contents
    title_tag: str = ""
    h1: str = ""
    lang: str | None = None
    canonical: str | None = None
    base_url: str = ""
    refresh: str | None = None
    robots: set[str] = field(default_factory=set)
    jsonld: list[dict] = field(default_factory=list)

    def first(self, *names: str) -> str | None:
        """First non-empty content among the given meta names/properties."""
        for name in names:
            for value in self.meta.get(name, ()):
                if value:
                    return value
        return None

    def all(self, *names: str) -> list[str]:
        """Every non-empty content of the given meta names/properties, in order."""
        return [v for name in names for v in self.meta.get(name, ()) if v]


def read_head(tree: lxml_html.HtmlElement, page_url: str) -> HeadMeta:
    """Collect meta tags, <title>, first <h1>, lang, canonical, refresh, robots and JSON-LD."""
    head = HeadMeta(base_url=page_url)
    for base in tree.iter("base"):
        # <base href> changes how relative URLs resolve; honour it only if it is usable.
        resolved = safe_urljoin(page_url, base.get("href"))
        if resolved:
            head.base_url = resolved
        break

    for meta in tree.iter("meta"):
        content = clean_space(meta.get("content"))
        http_equiv = (meta.get("http-equiv") or "").strip().lower()
        if http_equiv == "refresh" and head.refresh is None:
            head.refresh = _refresh_target(content, head.base_url)
        elif http_equiv == "content-language" and content:
            head.meta.setdefault("content-language", []).append(content)
        for attr in ("property", "name", "itemprop"):
            key = (meta.get(attr) or "").strip().lower()
            if key:
                head.meta.setdefault(key, []).append(content)
        if (meta.get("name") or "").strip().lower() == "robots":
            head.robots.update(t.strip().lower() for t in content.split(",") if t.strip())

    title = next(tree.iter("title"), None)
    head.title_tag = clean_space(title.text_content()) if title is not None else ""
    h1 = next(tree.iter("h1"), None)
    head.h1 = clean_space(h1.text_content()) if h1 is not None else ""
    head.lang = clean_space(tree.get("lang") or tree.get("xml:lang")) or None

    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels:
            head.canonical = safe_urljoin(head.base_url, link.get("href"))
            break

    head.jsonld = parse_jsonld(tree)
    return head


def _refresh_target(content: str, base_url: str) -> str | None:
    """'5; url=/next' -> absolute URL; a bare delay (self-refresh) -> None."""
    match = re.search(r"url\s*=\s*(.+)$", content, re.IGNORECASE)
    if not match:
        return None
    return safe_urljoin(base_url, match.group(1).strip().strip("'\""))


def parse_jsonld(tree: lxml_html.HtmlElement) -> list[dict]:
    """Every JSON-LD object on the page; invalid blocks are skipped, never fatal."""
    objects: list[dict] = []
    for script in tree.iter("script"):
        script_type = (script.get("type") or "").split(";")[0].strip().lower()
        if script_type != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        if not raw or len(raw) > _MAX_JSONLD_CHARS:
            continue
        # Some CMSs wrap the JSON in HTML comments or CDATA markers.
        raw = re.sub(r"^\s*(<!--|<!\[CDATA\[)|(-->|\]\]>)\s*$", "", raw).strip().rstrip(";")
        try:
            data = json.loads(raw, strict=False)  # strict=False: raw newlines inside strings
        except (ValueError, RecursionError):
            continue
        items = data if isinstance(data, list) else [data]
        objects.extend(item for item in items if isinstance(item, dict))
    return objects


def jsonld_nodes(objects: Iterable[dict]) -> Iterator[dict]:
    """Top-level JSON-LD objects and the members of their ``@graph`` (the page's entities).

    Nested values (an article's author Person, an embedded VideoObject) are deliberately not
    entities of the page: an embedded clip must not turn a blog post into a "video".
    """
    for obj in objects:
        graph = obj.get("@graph")
        if "@type" in obj or not graph:
            yield obj
        if isinstance(graph, list):
            yield from (node for node in graph if isinstance(node, dict))
        elif isinstance(graph, dict):
            yield graph


def node_types(node: dict) -> list[str]:
    """The ``@type`` of a node as a list of strings."""
    value = node.get("@type")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# Which entity describes the page: article-like first, then a generic web page.
_PRIMARY_TYPES = {
    "Article", "BlogPosting", "NewsArticle", "TechArticle", "Report", "ScholarlyArticle",
    "SocialMediaPosting", "AnalysisNewsArticle", "OpinionNewsArticle", "ReportageNewsArticle",
    "VideoObject", "PodcastEpisode", "PodcastSeries", "AudioObject", "CreativeWork", "HowTo", "Recipe",
}
_SECONDARY_TYPES = {"WebPage", "ItemPage", "AboutPage", "CollectionPage", "FAQPage", "ProfilePage", "QAPage"}


def main_entity(nodes: list[dict]) -> dict | None:
    """The JSON-LD node that best describes the page itself (None if there is none)."""
    for wanted in (_PRIMARY_TYPES, _SECONDARY_TYPES):
        for node in nodes:
            if any(local_type(t) in wanted for t in node_types(node)):
                return node
    return None


def id_index(nodes: Iterable[dict]) -> dict[str, dict]:
    """``@id`` -> node, to resolve references such as ``"author": {"@id": "#person"}``."""
    return {node["@id"]: node for node in nodes if isinstance(node.get("@id"), str)}


def jsonld_text(value: object) -> str | None:
    """A JSON-LD literal as text: string, number, or {"@value": ...}; lists give their first."""
    if isinstance(value, list):
        value = next((v for v in value if v), None)
    if isinstance(value, dict):
        value = value.get("@value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return clean_space(value) or None


def jsonld_people(value: object, ids: dict[str, dict], depth: int = 0) -> list[str]:
    """Names from an author value: string, Person/Organization, @id reference or list of them."""
    if depth > _MAX_JSONLD_DEPTH:
        return []
    if isinstance(value, list):
        return [n for item in value for n in jsonld_people(item, ids, depth + 1)]
    if isinstance(value, dict):
        if "name" not in value and value.get("@id") in ids:
            value = ids[value["@id"]]
        return jsonld_people(value.get("name"), ids, depth + 1)
    name = jsonld_text(value)
    # A bare profile URL is not a name.
    return [name] if name and not name.startswith(("http://", "https://")) else []


def keyword_list(value: object) -> list[str]:
    """Keywords from a comma-separated string or a list of strings."""
    if isinstance(value, str):
        return [k for k in (clean_space(p) for p in value.split(",")) if k]
    if isinstance(value, list):
        return [k for item in value if isinstance(item, str) for k in keyword_list(item)]
    return []


_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: object) -> datetime | None:
    """ISO 8601 (with or without zone, or date-only) -> tz-aware UTC; anything else -> None.

    A value without a zone is taken as UTC: guessing the site's zone would be no better.
    """
    if isinstance(value, int | float):  # a bare number is no ISO date (20240305, an epoch...)
        return None
    text = jsonld_text(value)
    if not text or len(text) > 64:
        return None
    text = text.replace(" ", "T", 1) if not _DATE_ONLY_RE.match(text) else text
    text = re.sub(r"[zZ]$", "+00:00", text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0200 -> +02:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 shifted before datetime.min
        return None


# ---------------------------------------------------------------------------------------------
# Precedence: JSON-LD, then Open Graph, then plain meta.

_TITLE_SEP_RE = re.compile(r"\s+[|\-–—·•»:]{1,2}\s+")
_MAX_TAGS = 50


def _norm(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def site_names(head: HeadMeta, nodes: list[dict], url: str) -> set[str]:
    """Normalised names the site might append to titles: og:site_name, publisher, domain."""
    names = {head.first("og:site_name", "application-name", "apple-mobile-web-app-title") or ""}
    for node in nodes:
        if {local_type(t) for t in node_types(node)} & {"WebSite", "Organization", "Corporation"}:
            names.add(jsonld_text(node.get("name")) or "")
        publisher = node.get("publisher")
        if isinstance(publisher, dict):
            names.add(jsonld_text(publisher.get("name")) or "")
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    # "blog.acme.co.uk" -> "blog", "acme": labels minus the TLD and generic second levels.
    labels = host.split(".")[:-1]
    names.update(lb for lb in labels if lb not in {"www", "com", "co", "org", "net", "ac", "gov"})
    return {n for n in (_norm(name) for name in names) if len(n) >= 3}


def strip_site_name(title: str, sites: set[str]) -> str:
    """'Post | Acme Blog' -> 'Post'; only separator-delimited parts that name the site go.

    Trailing parts may merely contain a site name ("Acme Blog"); a leading part must *be* one
    ("Acme | Post"), so that "Acme customers love it | Pricing" keeps its words.
    """
    spans, start = [], 0
    for match in _TITLE_SEP_RE.finditer(title):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(title)))
    if len(spans) < 2 or not sites:
        return title

    def key(span: tuple[int, int]) -> str:
        return _norm(title[span[0] : span[1]])

    def names_site(span: tuple[int, int]) -> bool:
        part = key(span)
        short = len(title[span[0] : span[1]].split()) <= 5
        return bool(part) and short and any(s in part or (len(part) >= 3 and part in s) for s in sites)

    while len(spans) > 1 and names_site(spans[-1]):
        spans.pop()
    if len(spans) > 1 and key(spans[0]) in sites:
        spans.pop(0)
    return title[spans[0][0] : spans[-1][1]].strip() or title


def same_title(heading: str, title: str) -> bool:
    """Does a heading merely repeat the page title (ignoring case and punctuation)?"""
    a, b = _norm(heading), _norm(title)
    return bool(a and b) and (a == b or (len(b) >= 20 and a.startswith(b)) or (len(a) >= 20 and b.startswith(a)))


def page_title(head: HeadMeta, nodes: list[dict], url: str) -> str:
    """og:title, JSON-LD headline/name, first <h1>, then <title>; site suffix removed."""
    entity = main_entity(nodes) or {}
    for candidate in (
        head.first("og:title"),
        jsonld_text(entity.get("headline")),
        jsonld_text(entity.get("name")),
        head.h1,
        head.title_tag,
        head.first("twitter:title"),
    ):
        if candidate:
            return strip_site_name(candidate, site_names(head, nodes, url))
    return ""


@dataclass
class PageInfo:
    """Descriptive metadata after precedence has been applied."""

    description: str | None
    authors: list[str]
    published: datetime | None
    modified: datetime | None
    tags: list[str]
    language: str | None


def _first_date(*values: object) -> datetime | None:
    for value in values:
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    return None


def _dedupe(values: Iterable[str], limit: int | None = None) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        value = clean_space(value)
        if value and len(value) <= 200 and value.casefold() not in seen:
            seen[value.casefold()] = value
    return list(seen.values())[:limit]


def describe(head: HeadMeta, nodes: list[dict]) -> PageInfo:
    """Description, authors, dates, tags and language from JSON-LD, Open Graph and meta."""
    entity = main_entity(nodes) or {}
    ids = id_index(nodes)
    description = (
        jsonld_text(entity.get("description"))
        or head.first("og:description")
        or head.first("description", "twitter:description")
    )
    authors = jsonld_people(entity.get("author"), ids) or [
        a for a in head.all("article:author", "author") if not a.startswith(("http://", "https://"))
    ]
    published = _first_date(
        entity.get("datePublished"),
        entity.get("uploadDate"),
        *head.all("article:published_time"),
        *head.all("datepublished", "date", "pubdate", "publishdate", "publish_date", "dc.date.issued", "dc.date"),
    )
    modified = _first_date(
        entity.get("dateModified"),
        *head.all("article:modified_time", "og:updated_time"),
        *head.all("datemodified", "last-modified", "dc.date.modified"),
    )
    tags = keyword_list(entity.get("keywords")) + head.all("article:tag")
    tags += [k for value in head.all("keywords", "news_keywords") for k in keyword_list(value)]
    # <html lang> is what the page declares about its own text; JSON-LD inLanguage comes last.
    language = (
        head.lang
        or head.first("content-language")
        or head.first("og:locale")
        or jsonld_text(entity.get("inLanguage"))
    )
    if language:
        language = language.split(",")[0].strip().replace("_", "-") or None
    return PageInfo(description, _dedupe(authors), published, modified, _dedupe(tags, _MAX_TAGS), language)
