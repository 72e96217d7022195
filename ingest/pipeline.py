"""Page pipeline: a fetched HTML page becomes a :class:`kb.content.PageRecord` ready to store.

Steps: extract (main text + metadata) -> canonical URL -> heading-aware passages -> content hash.
Pure: no network and no database, so each step is unit-testable on fixture HTML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.chunking import chunk_sections
from ingest.extract import ExtractedPage, extract_page
from ingest.urls import UrlError, canonicalize
from kb.content import PageRecord, PassageInput


@dataclass
class ProcessedPage:
    page: ExtractedPage
    record: PageRecord


def content_hash(title: str, text: str) -> str:
    """Hash of what a reader sees; whitespace-insensitive so re-rendered markup is not a change."""
    normalised = " ".join(title.split()) + "\n" + " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def choose_canonical(page_url: str, declared: str | None, hosts: Sequence[str]) -> str:
    """Honour ``rel=canonical`` only when it points inside the same site; otherwise the page's URL."""
    if declared:
        try:
            target = canonicalize(declared, base=page_url)
        except UrlError:
            return page_url
        if urlsplit(target).netloc.lower() in {h.lower() for h in hosts}:
            return target
    return page_url


def process_html(
    html: str,
    *,
    url: str,
    other_urls: Sequence[str],
    hosts: Sequence[str],
    kind_patterns: Mapping[str, Sequence[str]] | None,
    max_words: int,
    overlap_words: int,
    etag: str | None = None,
    last_modified: str | None = None,
    http_status: int = 200,
) -> ProcessedPage:
    """Extract and chunk one page. Raises ``ingest.extract.ExtractionError`` for unusable pages."""
    page = extract_page(html, url, kind_patterns=kind_patterns)
    canonical = choose_canonical(url, page.canonical_url, hosts)
    drafts = chunk_sections(page.sections, max_words=max_words, overlap_words=overlap_words)
    passages = [
        PassageInput(
            text=d.text,
            heading_path=tuple(d.heading_path),
            ordinal=d.ordinal,
            start_seconds=d.start_seconds,
            end_seconds=d.end_seconds,
        )
        for d in drafts
    ]
    others = [u for u in dict.fromkeys([url, *other_urls]) if u != canonical]
    record = PageRecord(
        canonical_url=canonical,
        content_hash=content_hash(page.title, page.text),
        passages=passages,
        other_urls=others,
        kind=page.kind,
        title=page.title,
        authors=list(page.authors),
        published_at=page.published,
        modified_at=page.modified,
        description=page.description,
        tags=list(page.tags),
        language=page.language,
        etag=etag,
        last_modified=last_modified,
        http_status=http_status,
    )
    return ProcessedPage(page=page, record=record)
