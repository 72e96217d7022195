"""Followable links out of a page, and the safe URL resolution they share with ``<head>`` URLs.

Why a module of its own: which URLs a page points to is a crawl-frontier question (untrusted
``href`` values must resolve to absolute http(s) URLs or be dropped), not page metadata; it also has
no dependency on the metadata readers, so :mod:`ingest.metadata` (``<base>``, canonical, refresh)
and :mod:`ingest.extract` both import :func:`safe_urljoin` / :func:`page_links` from here.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

__all__ = ["page_links", "safe_urljoin"]


def safe_urljoin(base: str, href: str | None) -> str | None:
    """Absolute http(s) URL for ``href`` or None (javascript:, mailto:, data:, garbage)."""
    if not href:
        return None
    # Browsers strip surrounding whitespace and drop tabs/newlines inside URLs.
    href = re.sub(r"[\t\n\r]", "", href.strip())
    if not href:
        return None
    try:
        absolute = urljoin(base, href)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. "http://[broken"
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return absolute


def page_links(tree: lxml_html.HtmlElement, base_url: str) -> list[str]:
    """Absolute http(s) hrefs of every <a> on the page, in order, without rel=nofollow ones."""
    links: dict[str, None] = {}
    for anchor in tree.iter("a"):
        if "nofollow" in (anchor.get("rel") or "").lower().split():
            continue
        absolute = safe_urljoin(base_url, anchor.get("href"))
        if absolute:
            links.setdefault(absolute, None)
    return list(links)
