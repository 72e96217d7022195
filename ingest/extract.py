"""Turn one fetched HTML page into main text, heading sections and metadata.

Main text comes from trafilatura (the best-scoring open extractor on the Zyte article benchmark,
see ``ingest.extraction_eval``); we ask it for its structured tree rather than flat text so that
headings become section boundaries for heading-aware chunking. Metadata (``ingest.metadata``)
comes from meta tags, Open Graph and JSON-LD with precedence JSON-LD > Open Graph > plain meta.
Links come from ``ingest.links`` and the content kind from ``ingest.kinds``.

Everything here is a pure function of (html, url): no network, no global state. Hostile input
(deep nesting, huge text nodes, binary bodies, script injection) must end in a result or an
``ExtractionError``, never in a crash or a hang.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from ingest import metadata as md
from ingest.kinds import DEFAULT_KIND_PATTERNS, KINDS, detect_kind
from ingest.links import page_links

log = logging.getLogger(__name__)

# KINDS, DEFAULT_KIND_PATTERNS and detect_kind live in ingest.kinds; callers import them from here too.
__all__ = ["DEFAULT_KIND_PATTERNS", "KINDS", "ExtractedPage", "ExtractionError", "Section", "detect_kind",
           "extract_page", "word_count"]

# Precision mode is trafilatura's best setting on the benchmark, but it occasionally keeps only a
# fragment (a reprint notice instead of the article). Below this many words we retry in balanced
# mode and keep the longer result. Measured on the 181 benchmark pages (see extraction_eval).
_RETRY_BELOW_WORDS = 50
# trafilatura is roughly linear but slow per element (~7 s for 40k elements); beyond this many
# elements we skip it and use the cheap lxml fallback so a hostile page cannot stall a crawl.
_MAX_ELEMENTS = 30_000
_SECTION_LEVELS = 4  # h1..h4 start sections; h5/h6 are kept as ordinary paragraphs

_HAN_KANA_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SOFT_404_RE = re.compile(
    r"^(?:error )?404\b|\b404 not found\b|\bpage (?:was )?not found\b|\bpage (?:does not|doesn't) exist\b"
    r"|^not found$",
    re.IGNORECASE,
)
_SOFT_404_MAX_WORDS = 150
# Short paragraphs that are page furniture rather than article text: reading prompts, share
# and newsletter calls, reprint notices, bare URLs. Only applied to paragraphs under
# _BOILERPLATE_MAX_WORDS words, so real prose that happens to start alike is kept.
_BOILERPLATE_RE = re.compile(
    r"^(?:https?://\S+"
    r"|(?:read|see) more\b.*|related(?: articles?| posts?| stories)?:.*|don'?t miss\b.*|also on \S+ .*"
    r"|like this (?:story|article)\?.*|share (?:this|on)\b.*|order reprints|print article"
    r"|(?:sign up|subscribe)\b.*\bnewsletters?\b.*|follow us on\b.*"
    r"|this copy is for your personal, non-commercial use only\b.*"
    r"|copyright ©.*|© \d{4}.*|all rights reserved\.?)$",
    re.IGNORECASE,
)
_BOILERPLATE_MAX_WORDS = 40
# Furniture the fallback removes: non-content elements, hidden ones, and containers whose
# class/id names a cookie banner, share bar, newsletter box, related-posts list and the like.
_FALLBACK_DROP_TAGS = {
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
    "svg", "iframe", "select", "dialog",
}
_FURNITURE_RE = re.compile(
    r"cookie|consent|share|social|newsletter|subscribe|related|sidebar|breadcrumb|comment|promo|advert|popup|modal",
    re.IGNORECASE,
)
# Private-use characters as structure markers (lxml text cannot hold control characters).
_BLOCK, _LINE, _HEADING = "\ue000", "\ue001", "\ue002"
_FALLBACK_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dd", "dt", "blockquote", "pre",
    "figure", "figcaption", "table", "tr", "td", "th", "hr", "address", "details", "summary",
}


@dataclass
class Section:
    """Main text under one heading path; paragraphs joined by a blank line."""

    heading_path: tuple[str, ...]
    text: str


@dataclass
class ExtractedPage:
    """Everything ingestion needs from one page. Text fields never contain markup."""

    title: str  # og:title / JSON-LD headline / <h1> / <title>, site-name suffix removed
    text: str  # main text only; blocks (headings included) separated by a blank line
    sections: list[Section]  # main text by h1..h4 heading path; text before any heading has path ()
    description: str | None = None
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None  # tz-aware UTC
    modified: datetime | None = None  # tz-aware UTC
    tags: list[str] = field(default_factory=list)  # JSON-LD keywords, article:tag, meta keywords
    kind: str = "page"  # one of KINDS
    language: str | None = None  # as declared, e.g. "en-GB"
    canonical_url: str | None = None  # absolute; the crawler decides whether to honour it
    links: list[str] = field(default_factory=list)  # every followable absolute http(s) <a href>
    noindex: bool = False  # <meta name=robots>
    nofollow: bool = False
    meta_refresh: str | None = None  # absolute target of <meta http-equiv=refresh>
    jsonld_types: list[str] = field(default_factory=list)  # @type of top-level and @graph nodes
    jsonld: list[dict] = field(default_factory=list)  # parsed JSON-LD objects (invalid blocks skipped)


class ExtractionError(Exception):
    """The page yields no usable content; ``reason`` is no_content | not_html | extract_failed.

    ``follow`` holds the URLs a crawler should still visit: a listing page or a bare meta-refresh
    redirect has too little text to index but leads somewhere (empty when the page says nofollow).
    """

    def __init__(self, reason: str, detail: str = "", follow: tuple[str, ...] = ()) -> None:
        super().__init__(reason, detail, follow)  # all in args, so the error pickles and re-creates
        self.reason = reason
        self.detail = detail
        self.follow = follow

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass
class _Block:
    text: str
    level: int = 0  # 0 = paragraph, 1..4 = heading level


def word_count(text: str) -> int:
    """Whitespace-separated words, plus one per two Han/kana characters.

    Chinese and Japanese are written without spaces; without the second term a long Japanese
    article would count as a handful of "words" and be rejected as no_content.
    """
    return len(text.split()) + len(_HAN_KANA_RE.findall(text)) // 2


def extract_page(
    html: str,
    url: str,
    *,
    kind_patterns: Mapping[str, Sequence[str]] | None = None,
    min_words: int = 25,
) -> ExtractedPage:
    """Extract main text, sections and metadata from ``html`` fetched at ``url``.

    Raises ExtractionError("not_html") for binary bodies, ("no_content") when fewer than
    ``min_words`` words of main text remain (empty pages, soft 404s, login walls) and
    ("extract_failed") when the page defeats the parser (e.g. recursion limits).
    """
    _reject_non_html(html)
    try:
        tree = _parse(html)
        head = md.read_head(tree, url)
        blocks = _main_blocks(html, tree, url)
        return _assemble(tree, head, blocks, url, kind_patterns, min_words)
    except ExtractionError:
        raise
    except RecursionError as exc:
        raise ExtractionError("extract_failed", "recursion limit") from exc
    except Exception as exc:  # one hostile page must never stop a crawl: report it as a failure
        log.warning("extraction failed for %s", url, exc_info=True)
        raise ExtractionError("extract_failed", f"{type(exc).__name__}: {exc}") from exc


def _reject_non_html(html: str) -> None:
    """Raise not_html for NUL bytes, binary magic numbers or text without any tag."""
    if not isinstance(html, str):
        raise ExtractionError("not_html", f"expected str, got {type(html).__name__}")
    head = html[:4096].lstrip("\ufeff \t\r\n")
    if "\x00" in html or head.startswith(("%PDF", "\x89PNG", "GIF8", "PK\x03\x04", "\x1f\x8b", "\xff\xd8\xff")):
        raise ExtractionError("not_html", "binary content")
    if head and len(_CONTROL_RE.findall(head)) > len(head) // 10:
        raise ExtractionError("not_html", "mostly control characters")
    if not re.search(r"<[A-Za-z!?/]", html[:200_000]):
        raise ExtractionError("not_html" if html.strip() else "no_content", "no markup")


def _parse(html: str) -> lxml_html.HtmlElement:
    """Parse like trafilatura does (encoding declarations, repairs), with a plain fallback."""
    tree = load_html(html)
    if tree is None:
        try:
            tree = lxml_html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html))
        except etree.ParserError as exc:
            raise ExtractionError("no_content", "unparseable") from exc
    return tree


def _main_blocks(html: str, tree: lxml_html.HtmlElement, url: str) -> list[_Block]:
    """Main-content blocks: trafilatura (precision, then balanced), else the lxml fallback."""
    if sum(1 for _ in islice(tree.iter(), _MAX_ELEMENTS + 1)) <= _MAX_ELEMENTS:
        try:
            blocks = _trafilatura_blocks(html, url, favor_precision=True)
            if _words(blocks) < _RETRY_BELOW_WORDS:
                balanced = _trafilatura_blocks(html, url, favor_precision=False)
                if _words(balanced) > _words(blocks):
                    blocks = balanced
        except RecursionError:
            raise
        except Exception:  # a trafilatura bug on one page should cost us quality, not the page
            log.warning("trafilatura failed on %s; using the lxml fallback", url, exc_info=True)
            blocks = []
        if blocks:
            return blocks
    return _fallback_blocks(tree)


def _words(blocks: Sequence[_Block]) -> int:
    return sum(word_count(b.text) for b in blocks)


def _trafilatura_blocks(html: str, url: str, *, favor_precision: bool) -> list[_Block]:
    document = trafilatura.bare_extraction(
        html,
        url=url or None,
        include_comments=False,  # reader comments are not the article (and cost precision)
        include_tables=True,
        favor_precision=favor_precision,
        with_metadata=False,  # our own metadata readers are stricter about precedence
    )
    body = getattr(document, "body", None)
    return list(_body_blocks(body)) if body is not None else []


def _body_blocks(container: etree._Element) -> Iterator[_Block]:
    """Walk trafilatura's output tree: headings become section boundaries, the rest paragraphs."""
    for child in container:
        if child.tag == "div" and any(True for _ in child.iter("head")):
            yield from _body_blocks(child)
            continue
        wrapper = etree.Element("body")
        wrapper.append(copy.deepcopy(child))  # xmltotxt renders lists/tables/quotes like txt output
        text = _clean_text(xmltotxt(wrapper, False))
        if not text:
            continue
        level = 0
        if child.tag == "head":
            match = re.fullmatch(r"h([1-6])", child.get("rend") or "")
            level = int(match.group(1)) if match else _SECTION_LEVELS
            level = level if level <= _SECTION_LEVELS else 0
            text = md.clean_space(text) if level else text
        yield _Block(text, level)


def _fallback_blocks(tree: lxml_html.HtmlElement) -> list[_Block]:
    """Plain-lxml main text: the <article>/<main> element minus obvious furniture.

    Linear in the page size (unlike trafilatura), so it also serves oversized pages. Block
    elements get boundary markers (headings a level marker too), then the text is split on them.
    """
    root = next(
        (found[0] for xp in ("//article", "//main", "//*[@role='main']", "//body") if (found := tree.xpath(xp))),
        tree,
    )
    root = copy.deepcopy(root)
    # One pass in Python: XPath with per-element string functions is several times slower here.
    for element in [e for e in root.iterdescendants() if _is_furniture(e)]:
        element.drop_tree()
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        heading = re.fullmatch(r"h([1-6])", tag)
        if heading or tag in _FALLBACK_BLOCKS:
            element.text = (f"{_BLOCK}{_HEADING}{heading.group(1)}" if heading else _BLOCK) + (element.text or "")
            element.tail = _BLOCK + (element.tail or "")
        elif tag == "br":
            element.tail = _LINE + (element.tail or "")
    # Source line breaks are just spaces; only <br> and block boundaries break the text.
    flat = re.sub(r"\s+", " ", root.text_content())
    blocks: list[_Block] = []
    for chunk in flat.split(_BLOCK):
        chunk = chunk.replace(_LINE, "\n")
        if chunk.startswith(_HEADING) and len(chunk) > 1:
            level, text = int(chunk[1]), md.clean_space(chunk[2:])
            if text:
                blocks.append(_Block(text, level if level <= _SECTION_LEVELS else 0))
        elif text := _clean_text(chunk.replace(_HEADING, "")):
            blocks.append(_Block(text))
    return blocks


def _is_furniture(element: etree._Element) -> bool:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions carry no text anyway
        return False
    if tag in _FALLBACK_DROP_TAGS or element.get("hidden") is not None or element.get("aria-hidden") == "true":
        return True
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    return bool(names.strip()) and _FURNITURE_RE.search(names) is not None


def _clean_text(text: str) -> str:
    """Drop leftover markup and control characters; tidy whitespace, keep line breaks.

    Tag-like text (e.g. "&lt;script&gt;" shown on the page) is removed: the stored text must never
    contain markup. Plain text such as "{{7*7}}" stays exactly as it is.
    """
    text = text or ""
    if "<" in text:
        text = md.MARKUP_RE.sub(" ", text)
    text = _CONTROL_RE.sub("", text)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _assemble(
    tree: lxml_html.HtmlElement,
    head: md.HeadMeta,
    blocks: list[_Block],
    url: str,
    kind_patterns: Mapping[str, Sequence[str]] | None,
    min_words: int,
) -> ExtractedPage:
    """Combine main-text blocks and metadata into an ExtractedPage (or raise no_content)."""
    nodes = list(md.jsonld_nodes(head.jsonld))
    title = md.page_title(head, nodes, url)
    blocks = _drop_furniture(blocks, title)
    # No title anywhere in the markup: the first heading of the main text is the best label left.
    title = title or next((b.text for b in blocks if b.level), "")
    text = "\n\n".join(b.text for b in blocks)
    words = word_count(text)
    nofollow = bool(head.robots & {"nofollow", "none"})
    links = page_links(tree, head.base_url)
    if words < min_words or (words < _SOFT_404_MAX_WORDS and any(_SOFT_404_RE.search(t) for t in (title, head.h1))):
        follow = () if nofollow else tuple(u for u in (head.refresh, *links) if u)
        detail = f"{words} words of main text" if words < min_words else "soft 404"
        raise ExtractionError("no_content", detail, follow)

    jsonld_types = list(dict.fromkeys(t for node in nodes for t in md.node_types(node)))
    og_type = head.first("og:type")
    info = md.describe(head, nodes)
    return ExtractedPage(
        title=title,
        text=text,
        sections=_sections(blocks),
        description=info.description,
        authors=info.authors,
        published=info.published,
        modified=info.modified,
        tags=info.tags,
        kind=detect_kind(url, jsonld_types, og_type, kind_patterns),
        language=info.language,
        canonical_url=head.canonical,
        links=links,
        noindex=bool(head.robots & {"noindex", "none"}),
        nofollow=nofollow,
        meta_refresh=head.refresh,
        jsonld_types=jsonld_types,
        jsonld=head.jsonld,
    )


def _drop_furniture(blocks: list[_Block], title: str) -> list[_Block]:
    """Remove a leading heading that repeats the title, and short boilerplate paragraphs."""
    if blocks and blocks[0].level and md.same_title(blocks[0].text, title):
        # The title is stored on its own; as a heading it would prefix every heading path.
        blocks = blocks[1:]
    return [b for b in blocks if b.level or not _is_boilerplate(b.text)]


def _is_boilerplate(paragraph: str) -> bool:
    # Length check first: a multi-megabyte paragraph is never furniture and regexes cost time.
    return (
        len(paragraph) < 20 * _BOILERPLATE_MAX_WORDS
        and word_count(paragraph) < _BOILERPLATE_MAX_WORDS
        and _BOILERPLATE_RE.match(paragraph) is not None
    )


def _sections(blocks: list[_Block]) -> list[Section]:
    """Group paragraphs under their heading path (a stack of h1..h4 headings)."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def flush() -> None:
        if paragraphs:
            sections.append(Section(tuple(t for _, t in stack), "\n\n".join(paragraphs)))
            paragraphs.clear()

    for block in blocks:
        if block.level:
            flush()
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text))
        else:
            paragraphs.append(block.text)
    flush()
    return sections
