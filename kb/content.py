"""Storing crawled content: one canonical Content per page, other URLs as aliases.

The ingester hands over a :class:`PageRecord` per fetched page; :func:`store_page` decides whether it
is new, changed (passages replaced, to be re-embedded), unchanged (nothing re-embedded) or a
duplicate of content already stored under another URL (kept once, the URL becomes an alias).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kb.models import Content, ContentAlias, Passage, utcnow
from kb.sql_dialect import insert_if_absent


@dataclass(frozen=True)
class PassageInput:
    text: str
    heading_path: Sequence[str] = ()
    ordinal: int = 0
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclass
class PageRecord:
    """Everything the ingester learned about one page."""

    canonical_url: str
    content_hash: str
    passages: list[PassageInput]
    other_urls: list[str] = field(default_factory=list)  # requested URL, redirect hops, final URL
    kind: str = "page"
    title: str = ""
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    modified_at: datetime | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    language: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = 200


def find_content(session: Session, urls: Iterable[str]) -> Content | None:
    """The content stored under any of ``urls``, as canonical URL or alias."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return None
    found = session.scalars(select(Content).where(Content.canonical_url.in_(urls))).first()
    if found is not None:
        return found
    return session.scalars(
        select(Content).join(ContentAlias).where(ContentAlias.url.in_(urls))
    ).first()


def store_page(session: Session, site_id: int, record: PageRecord) -> tuple[str, Content]:
    """Insert or update one page; returns ``(outcome, content)`` with outcome
    ``new`` / ``changed`` / ``unchanged`` / ``duplicate``."""
    now = utcnow()
    content = _content_for(session, record)
    if isinstance(content, str):  # the URL is an alias of identical content stored elsewhere
        twin = find_content(session, [record.canonical_url])
        assert twin is not None
        add_aliases(session, twin, record.other_urls)
        return "duplicate", twin
    if content is None:
        twin = session.scalars(
            select(Content).where(
                Content.site_id == site_id,
                Content.content_hash == record.content_hash,
                Content.status == "live",
            )
        ).first()
        if twin is not None:  # same text under another URL and no canonical link: store it once
            add_aliases(session, twin, [record.canonical_url, *record.other_urls])
            return "duplicate", twin
        # INSERT ... ON CONFLICT: when another crawl stores this URL at the same moment, one row results
        # and this page updates it (found by canonical URL on the second pass) instead of failing.
        created = insert_if_absent(session, Content, "canonical_url", {
            "site_id": site_id, "canonical_url": record.canonical_url, "content_hash": record.content_hash,
            "first_seen_at": now})
        if created is None:
            return store_page(session, site_id, record)
        content = session.get_one(Content, created)
        _apply(content, record, now)
        session.flush()
        _replace_passages(session, content, record.passages)
        add_aliases(session, content, record.other_urls)
        return "new", content

    add_aliases(session, content, record.other_urls)
    _record_fetch(content, record, now)
    if content.content_hash == record.content_hash and content.status == "live":
        return "unchanged", content
    _apply(content, record, now)
    _replace_passages(session, content, record.passages)
    return "changed", content


def _content_for(session: Session, record: PageRecord) -> Content | str | None:
    """The stored content this page updates; ``"alias"`` when its URL is an alias of identical content.

    An alias whose page now differs from its content is detached and becomes content of its own (two
    pages that were identical once are not the same page forever). A page that moved (its old URL is
    now a redirect hop) keeps its content, whose canonical URL moves to the new address.
    """
    url = record.canonical_url
    # FOR UPDATE (PostgreSQL; SQLite's write transactions are already exclusive): a concurrent crawl of the
    # same page waits here, so two crawls never replace one content's passages at once (duplicates).
    content = session.scalar(select(Content).where(Content.canonical_url == url).with_for_update())
    if content is not None:
        return content
    alias = session.scalar(select(ContentAlias).where(ContentAlias.url == url))
    if alias is not None:
        owner = alias.content
        if owner.content_hash == record.content_hash and owner.status == "live":
            return "alias"
        session.delete(alias)
        session.flush()
        return None
    if record.other_urls:
        moved = session.scalar(select(Content).where(Content.canonical_url.in_(record.other_urls)))
        if moved is not None:
            old = moved.canonical_url
            moved.canonical_url = url
            session.flush()
            add_aliases(session, moved, [old])
            return moved
    return None


def mark_not_modified(session: Session, urls: Iterable[str], http_status: int = 304) -> Content | None:
    """A conditional re-fetch said nothing changed: only the crawl metadata moves."""
    content = find_content(session, urls)
    if content is not None:
        content.last_fetched_at = utcnow()
        content.last_status = http_status
        content.last_error = None
    return content


def retire(session: Session, urls: Iterable[str], http_status: int | None, reason: str) -> Content | None:
    """The page is gone (404/410): stop serving it. Passages go, the row stays as history."""
    content = find_content(session, urls)
    if content is None or content.status == "retired":
        return None
    content.status = "retired"
    content.retired_at = utcnow()
    content.last_status = http_status
    content.last_error = reason
    session.execute(delete(Passage).where(Passage.content_id == content.id))
    return content


def add_aliases(session: Session, content: Content, urls: Iterable[str]) -> None:
    """Record ``urls`` as aliases of ``content`` unless already known (for it or another item)."""
    wanted = {u for u in urls if u and u != content.canonical_url}
    if not wanted:
        return
    taken = set(session.scalars(select(ContentAlias.url).where(ContentAlias.url.in_(wanted))))
    taken |= set(session.scalars(select(Content.canonical_url).where(Content.canonical_url.in_(wanted))))
    for url in sorted(wanted - taken):  # ON CONFLICT: a concurrent crawl may record the same alias first
        insert_if_absent(session, ContentAlias, "url", {"content_id": content.id, "url": url, "created_at": utcnow()})
    session.expire(content, ["aliases"])


def _record_fetch(content: Content, record: PageRecord, now: datetime) -> None:
    content.etag = record.etag
    content.last_modified = record.last_modified
    content.last_fetched_at = now
    content.last_status = record.http_status
    content.last_error = None


def _apply(content: Content, record: PageRecord, now: datetime) -> None:
    content.kind = record.kind
    content.title = record.title
    content.authors = list(record.authors)
    content.published_at = record.published_at
    content.modified_at = record.modified_at
    content.description = record.description
    content.tags = list(record.tags)
    content.language = record.language
    content.content_hash = record.content_hash
    content.status = "live"
    content.retired_at = None
    content.changed_at = now
    _record_fetch(content, record, now)


def _replace_passages(session: Session, content: Content, passages: Sequence[PassageInput]) -> None:
    """Old passages are deleted (the index reconciler drops their vectors); new ones await embedding."""
    session.execute(delete(Passage).where(Passage.content_id == content.id))
    session.expire(content, ["passages"])
    for ordinal, passage in enumerate(passages):
        session.add(
            Passage(
                content_id=content.id,
                ordinal=ordinal,
                text=passage.text,
                heading_path=list(passage.heading_path),
                start_seconds=passage.start_seconds,
                end_seconds=passage.end_seconds,
                embedded=False,
            )
        )
    session.flush()
