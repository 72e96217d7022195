"""A visit to a tracked link: where it leads, and whether it counts as the prospect opening it.

:func:`open_link` is the one function behind ``/l/<token>``. The rules, with the checklist item each
answers:

- **Only live links, only from the database** (W-31, W-32). An unknown, malformed or revoked token is
  the same generic "not found" with nothing counted or stored; the destination is the stored URL, and
  nothing of the request (query string, fragment, headers) can change it.
- **Still on a configured site** (W-33). The stored URL is checked again against the sites as they
  are now; a site removed or moved since makes the link "not found" rather than an open redirect.
- **Machines are not prospects** (W-36). HEAD requests and scanner/unfurler user agents
  (:mod:`kb.link_bots`) are stored as bot visits and not counted. One visitor (keyed hash of address
  and user agent, as login attempts are hashed: :func:`kb.login.client_key`) counts once per
  ``links.visit_window_minutes``.
- **Every click counts, once** (W-36). Counters change with atomic ``UPDATE ... SET n = n + 1``. Visits to
  one link are serialised (SQLite: the database's write lock; PostgreSQL: a ``FOR NO KEY UPDATE`` lock on
  the link's row), so two simultaneous clicks of one visitor cannot both pass the repeat check, and
  different visitors always all count.
- **A flood still redirects** (W-37). Past ``links.client_hourly_limit`` visits of one link from one
  client address in an hour, the prospect is still sent on but nothing is counted or stored.

A counted open is also a ``link_visit`` usage event (the reports' "prospect opens"), and the first one
notifies the link's owner (in the app; by e-mail when SMTP is set, sent in the background so the
prospect is never kept waiting for a mail server).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from kb.errors import KBError, NotFoundError
from kb.link_bots import not_counted_reason
from kb.link_destinations import allowed_origins, destination_problem
from kb.login import client_key
from kb.models import LinkVisit, TrackedLink, TrackedLinkItem, utcnow
from kb.notifications import deliver_pending, notify_link_opened
from kb.settings import LinkSettings
from kb.timed_links import format_moment
from kb.tracked_links import plausible_token
from kb.usage_events import add_event

log = logging.getLogger(__name__)

NOT_FOUND = "This link does not exist or is no longer available."  # one message for every reason
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Visitor:
    """Who asked, as the web layer saw it; only keyed hashes of it are ever stored."""

    address: str | None
    user_agent: str
    method: str = "GET"


@dataclass(frozen=True)
class Opening:
    """What to answer: a redirect to ``destination``, or (an answer pack) its landing page."""

    destination: str | None
    counted: bool
    reason: str
    pack_title: str | None = None
    pack_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Outcome:
    counted: bool
    reason: str
    notification_id: int | None = None


def _target(link: TrackedLink, item: int | None) -> TrackedLinkItem | None:
    """The item a request asks for (None: a pack's landing page); NotFoundError for anything else."""
    if item is None:
        if link.kind == "pack":
            return None
        if link.items:
            return link.items[0]
    elif link.kind == "pack" and 0 <= item < len(link.items):
        return link.items[item]
    raise NotFoundError(NOT_FOUND)


def _record(session: Session, link: TrackedLink, item: int | None, visitor: str, client: str, bot: str | None,
            rules: LinkSettings, now: datetime) -> _Outcome:
    """Store the visit and move the counters; whether it counted and why."""
    # Visits to one link take turns: on PostgreSQL a row lock on the link, held to commit, so the checks below
    # see every earlier visit (on SQLite the transaction already holds the database's write lock and this
    # renders as a plain SELECT). NO KEY UPDATE, not UPDATE: the visit rows' foreign keys take KEY SHARE
    # locks on this row, which FOR UPDATE would wait on (two visits each holding one, waiting: a deadlock).
    session.execute(select(TrackedLink.id).where(TrackedLink.id == link.id).with_for_update(key_share=True))
    recent = session.scalar(select(func.count()).select_from(LinkVisit).where(
        LinkVisit.link_id == link.id, LinkVisit.client == client, LinkVisit.at >= now - HOUR))
    if (recent or 0) >= rules.client_hourly_limit:
        return _Outcome(False, "rate limited")  # redirected, but neither counted nor stored
    # Written as counted (the common case: no second statement); a repeat found below is turned back.
    visit = LinkVisit(link_id=link.id, item=item, at=now, visitor=visitor, client=client, is_bot=bot is not None,
                      reason=bot or "counted", counted=bot is None)
    session.add(visit)
    session.flush()  # the first write of the transaction: on SQLite, from here on no other writer runs
    if bot is not None:
        session.execute(update(TrackedLink).where(TrackedLink.id == link.id)
                        .values(bot_count=TrackedLink.bot_count + 1))
        return _Outcome(False, bot)
    same_item = LinkVisit.item.is_(None) if item is None else LinkVisit.item == item
    window = timedelta(minutes=rules.visit_window_minutes)
    repeat = window and session.scalar(select(LinkVisit.id).where(
        LinkVisit.link_id == link.id, LinkVisit.visitor == visitor, same_item, LinkVisit.counted.is_(True),
        LinkVisit.at >= now - window, LinkVisit.id != visit.id).limit(1))
    if repeat:
        visit.reason, visit.counted = "repeat", False
        return _Outcome(False, "repeat")
    if item is not None:  # a click from a pack's page on to one item: counted for that content, not a new open
        return _Outcome(True, "counted")
    session.execute(update(TrackedLink).where(TrackedLink.id == link.id)
                    .values(open_count=TrackedLink.open_count + 1, last_opened_at=now))
    # Only a link never seen opened can be opened for the first time; the conditional UPDATE decides which
    # of two simultaneous first clicks notifies the rep.
    first = link.first_opened_at is None and session.execute(
        update(TrackedLink).where(TrackedLink.id == link.id, TrackedLink.first_opened_at.is_(None))
        .values(first_opened_at=now)).rowcount == 1
    if not first:
        return _Outcome(True, "counted")
    what = f"“{link.title}”" if link.kind == "pack" else (link.items[0].title or link.items[0].url)
    who = f" for {link.label}" if link.label else ""
    note = notify_link_opened(session, link.owner_id, f"Your tracked link{who} was opened: {what}.",
                              content_id=link.items[0].content_id if link.kind == "content" else None)
    return _Outcome(True, "counted", note.id)


def _add_usage(session: Session, link: TrackedLink, target: TrackedLinkItem | None, item: int | None) -> None:
    """The counted open as a ``link_visit`` usage event, in the visit's own transaction (one write transaction
    per redirect, not two: under load the second one queued for SQLite's write lock); inside a savepoint, so a
    failure to write it is logged and dropped and never costs the redirect or the counted visit."""
    try:
        with session.begin_nested():
            add_event(session, "link_visit", user_id=link.owner_id, content_id=target.content_id if target else None,
                      detail={"link_id": link.id, "item": item})
    except (SQLAlchemyError, KBError):
        log.warning("usage event for tracked link %s not recorded", link.id, exc_info=True)


def open_link(kb, token: str, visitor: Visitor, *, secret: str, item: int | None = None) -> Opening:  # type: ignore[no-untyped-def]
    """Resolve a visit to ``/l/<token>`` (``item``: a pack's item) and record it; NotFoundError when the
    link is unknown, revoked or leads off the configured sites."""
    if not isinstance(token, str) or not plausible_token(token):
        raise NotFoundError(NOT_FOUND)  # 10 KB, unicode, "../", SQL-ish: never even looked up
    bot = not_counted_reason(visitor.method, visitor.user_agent or "")
    agent = (visitor.user_agent or "")[:512]
    visitor_key = client_key(f"{visitor.address or '-'}|{agent}", secret)
    client = client_key(visitor.address, secret)
    now = utcnow()
    with kb.transaction() as session:
        # One query for the link and its items (one_or_none reads every row of the join: a pack's items).
        link = session.scalars(select(TrackedLink).options(joinedload(TrackedLink.items))
                               .where(TrackedLink.token == token)).unique().one_or_none()
        if link is None or link.revoked_at is not None:
            raise NotFoundError(NOT_FOUND)
        target = _target(link, item)
        origins = allowed_origins(session)
        reachable = [entry for entry in ([target] if target else link.items)
                     if destination_problem(entry.url, origins) is None]
        if not reachable:
            log.warning("tracked link %s leads off the configured sites now; not redirecting", link.id)
            raise NotFoundError(NOT_FOUND)
        outcome = _record(session, link, item, visitor_key, client, bot, kb.settings.links, now)
        if outcome.counted:
            _add_usage(session, link, target, item)
        opening = Opening(
            destination=target.url if target else None, counted=outcome.counted, reason=outcome.reason,
            pack_title=link.title if target is None else None,
            pack_items=[] if target else [{"position": entry.position, "title": entry.title or entry.url,
                                           "moment": format_moment(entry.at_seconds) if entry.at_seconds else None}
                                          for entry in reachable])
    if outcome.notification_id is not None and kb.settings.mail.smtp_host:
        threading.Thread(target=_deliver, args=(kb, outcome.notification_id), daemon=True).start()
    return opening


def _deliver(kb, notification_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        deliver_pending(kb, [notification_id])
    except Exception:  # the open is recorded; a mail problem is logged and stays on the notification
        log.exception("e-mailing notification %s failed", notification_id)
