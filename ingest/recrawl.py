"""What a re-crawl knows about a site's stored pages: which URLs to check again, and how to ask cheaply.

Split out of :mod:`ingest.crawler` (which decides what to do with the answers): stored pages are put back
on the frontier so removed ones are retired, and each is asked for conditionally (``If-None-Match`` /
``If-Modified-Since``) so an unchanged page costs a 304 and no re-embedding. Recordings embedded in posts
are content too, but they have no page of their own: they are re-checked through their post.
"""

from __future__ import annotations

from email.utils import formatdate

from sqlalchemy import select

from kb import content as content_store
from kb.knowledge_base import KnowledgeBase
from kb.models import Content

__all__ = ["conditional_headers", "known_urls"]


def known_urls(kb: KnowledgeBase, site_id: int) -> list[str]:
    """Canonical URLs of the site's live pages (not its posts' embedded recordings)."""
    with kb.sessions() as session:
        return list(session.scalars(
            select(Content.canonical_url).where(Content.site_id == site_id, Content.status == "live",
                                                Content.parent_content_id.is_(None))
        ))


def conditional_headers(kb: KnowledgeBase, url: str) -> dict[str, str]:
    """Validators of the live content stored under ``url``, as request headers ({} when none is stored)."""
    with kb.sessions() as session:
        found = content_store.find_content(session, [url])
        if found is None or found.status != "live":
            return {}
        headers = {}
        if found.etag:
            headers["If-None-Match"] = found.etag
        if found.last_modified:
            headers["If-Modified-Since"] = found.last_modified
        elif found.last_fetched_at:
            headers["If-Modified-Since"] = formatdate(found.last_fetched_at.timestamp(), usegmt=True)
        return headers
