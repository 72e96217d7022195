"""Pages written straight into a knowledge base's database, for index tests that need no crawl."""

from __future__ import annotations

from sqlalchemy import select

from kb import content as store
from kb.models import Site
from kb.settings import SiteSettings
from kb.sites import add_site


def add_page(kb, url: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Store (or replace) a page at ``url`` whose passages are ``text`` split on ``|``."""
    with kb.transaction() as session:
        site = session.scalar(select(Site).where(Site.name == "s"))
        if site is None:
            site = add_site(session, SiteSettings(name="s", base_url="https://example.com/"))
        store.store_page(session, site.id, store.PageRecord(
            canonical_url=url, content_hash=text, title="T",
            passages=[store.PassageInput(text=t, ordinal=i) for i, t in enumerate(text.split("|"))]))


def retire_page(kb, url: str) -> None:  # type: ignore[no-untyped-def]
    with kb.transaction() as session:
        store.retire(session, [url], 404, "http_404")
