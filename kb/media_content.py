"""Recordings as content: a post's embedded videos stored as content of their own, and each item's player.

Why a module of its own (beside :mod:`kb.content`, which stores pages): an embedded video has no page of
its own on the site -- it is found *in* a post -- so its lifecycle follows the post, not a fetch: it is
stored or updated each time the post's HTML is read, retired when the post stops embedding it or the
post itself is gone, and never put on the crawl frontier (its canonical URL is the platform's watch page
or a fragment of the post). The per-content caption state (validators and last outcome of every caption
URL) lives here too, so a re-crawl can ask for caption files conditionally and retry only what failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import content as content_store
from kb.content import PageRecord
from kb.models import Content

__all__ = ["ChildRecord", "caption_states", "children_of", "retire_children", "set_player",
           "store_children", "update_caption_state"]


@dataclass
class ChildRecord:
    """A recording embedded in a post, ready to store: its record and where its timed links land."""

    record: PageRecord  # canonical_url: the platform's watch URL, or ``post#media-...`` for an own player
    media_url: str  # where a timed link lands (watch page, or the post for an HTML5 player)
    platform: str  # "youtube" | "vimeo" | "wistia" | "loom" | "html5"
    caption_state: dict[str, Any] | None = None


def set_player(content: Content, media_url: str | None, platform: str | None) -> None:
    """Record the player a content item's timed links should open (None: the page itself)."""
    content.media_url = media_url
    content.media_platform = platform


def store_children(
    session: Session, site_id: int, parent: Content, children: Sequence[ChildRecord]
) -> list[tuple[str, Content]]:
    """Store the recordings ``parent`` embeds now and retire those it no longer embeds.

    Returns ``(outcome, content)`` per child, with outcome as :func:`kb.content.store_page` gives it,
    plus ``("retired", content)`` for each child the post dropped. A recording another post embedded
    first moves to this post (one parent; the latest post that embeds it wins).
    """
    results: list[tuple[str, Content]] = []
    kept: set[int] = set()
    for child in children:
        outcome, content = content_store.store_page(session, site_id, child.record)
        if content.id == parent.id:  # a post whose own URL is the watch URL: never its own child
            continue
        set_player(content, child.media_url, child.platform)
        content.parent_content_id = parent.id
        if child.caption_state is not None:
            content.caption_state = child.caption_state
        kept.add(content.id)
        results.append((outcome, content))
    for old in children_of(session, parent.id, live_only=True):
        if old.id not in kept and content_store.retire(session, [old.canonical_url], None, "no_longer_embedded"):
            results.append(("retired", old))
    session.flush()
    return results


def children_of(session: Session, parent_id: int, *, live_only: bool = False) -> list[Content]:
    """The recordings a post embeds (embedded videos stored as their own content), in order stored."""
    stmt = select(Content).where(Content.parent_content_id == parent_id)
    if live_only:
        stmt = stmt.where(Content.status == "live")
    return list(session.scalars(stmt.order_by(Content.id)))


def retire_children(session: Session, parent_id: int, reason: str) -> list[Content]:
    """The post is gone: so are the recordings it embedded (each keeps its row as history)."""
    retired = []
    for child in children_of(session, parent_id, live_only=True):
        if content_store.retire(session, [child.canonical_url], None, reason) is not None:
            retired.append(child)
    return retired


def caption_states(session: Session, content_ids: Iterable[int]) -> dict[str, dict[str, Any]]:
    """Caption URL -> its remembered state (etag, last_modified, ok, hash) over the given items."""
    states: dict[str, dict[str, Any]] = {}
    ids = list(content_ids)
    if not ids:
        return states
    for state in session.scalars(select(Content.caption_state).where(Content.id.in_(ids))):
        states.update(state or {})
    return states


def update_caption_state(content: Content, state: dict[str, Any] | None) -> None:
    """Replace the remembered caption state of ``content`` (None: leave it as it was)."""
    if state is not None:
        content.caption_state = dict(state)
