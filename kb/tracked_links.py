"""Tracked links a rep sends a prospect: making them, listing their opens, revoking them (issue 7).

A link leads to one content item (optionally at a second of a recording, :mod:`kb.timed_links`) or to
an "answer pack" of several items for one question. Destinations are checked against the company's
configured sites when the link is made (:mod:`kb.link_destinations`: a 400 that says why) and again
at every visit (:mod:`kb.link_visits`). Tokens are 144 random bits from :mod:`secrets`, so they cannot
be guessed or enumerated (checklist W-34); why they are stored as they are is in :mod:`kb.models.links`.

Everything is the owner's own: another rep's link is "not found", never a hint that it exists.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kb.content import find_content
from kb.errors import NotFoundError, ValidationError
from kb.link_destinations import allowed_origins, check_destination, destination_problem
from kb.models import Content, Question, TrackedLink, TrackedLinkItem, User, utcnow
from kb.settings import Settings
from kb.timed_links import content_moment_link, format_moment, timed_link
from kb.users import get_user

TOKEN_BYTES = 18  # 144 bits (at least 128: OWASP, ASVS 11.5.1), 24 URL-safe characters
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_TOKEN_CHARS = 64
MAX_LABEL_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_PACK_ITEMS = 10
MAX_SECONDS = 7 * 24 * 3600  # no recording is a week long: a bigger number is a typo
LINK_PATH = "/l/"


def new_link_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def plausible_token(token: str) -> bool:
    """Whether ``token`` could be one we issued (length and alphabet); anything else is not looked up."""
    return 0 < len(token) <= MAX_TOKEN_CHARS and all(ch in TOKEN_CHARS for ch in token)


def public_base(settings: Settings, request_base: str = "") -> str:
    """Where links point: ``web.base_url``, else the request's own address, else ``kb serve``'s address."""
    base = settings.web.base_url.strip() or request_base.strip()
    return (base or f"http://{settings.web.host}:{settings.web.port}").rstrip("/")


def _clean_text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(text) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    return text or None


def clean_seconds(value: Any) -> float | None:
    """A second of a recording: None, or a number 0..a week (0 means the start, stored as None)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError("the second must be a number of seconds")
    try:
        seconds = float(value)
    except ValueError:
        raise ValidationError(f"the second must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        raise ValidationError(f"the second must be between 0 and {MAX_SECONDS}")
    return math.floor(seconds) or None


def _destination(session: Session, *, url: Any = None, content_id: Any = None,
                 at_seconds: float | None = None) -> TrackedLinkItem:
    """One checked destination from a content id or a URL (a URL of stored content is tied to it).

    A recording played on a hosting platform lands on that platform at the second only when an admin listed
    the platform's host among a site's allowed hosts; otherwise the company's own page is the destination."""
    if content_id is not None and url is not None:
        raise ValidationError("say what the link leads to with either a URL or a content_id, not both")
    if content_id is not None:
        if isinstance(content_id, bool) or not isinstance(content_id, int):
            raise ValidationError("content_id must be a content id (a whole number)")
        content = session.get(Content, content_id)
        if content is None:
            raise NotFoundError(f"no content {content_id}")
        base = content.canonical_url
        hosted = content_moment_link(content, at_seconds)  # the moment on YouTube/Vimeo/... when it plays there
        if at_seconds and hosted != timed_link(base, at_seconds) and destination_problem(
                hosted, allowed_origins(session)) is None:  # only when an admin allowed that host on a site
            return TrackedLinkItem(content_id=content.id, at_seconds=at_seconds, url=hosted, title=content.title or "")
    elif isinstance(url, str) and url.strip():
        base = url.strip()
        content = find_content(session, [base])
    else:
        raise ValidationError("say what the link leads to: a URL or a content_id")
    destination = check_destination(session, timed_link(base, at_seconds) if at_seconds else base)
    return TrackedLinkItem(content_id=content.id if content else None, at_seconds=at_seconds, url=destination,
                           title=(content.title if content else "") or "")


def _owner(session: Session, owner: int | str) -> User:
    user = get_user(session, owner)
    if not user.active:
        raise ValidationError(f"{user.email} is disabled")
    return user


def _store(session: Session, user: User, kind: str, items: list[TrackedLinkItem], *, label: Any,
           title: str | None = None, question_id: int | None = None) -> TrackedLink:
    for position, item in enumerate(items):
        item.position = position
    link = TrackedLink(token=new_link_token(), owner_id=user.id, kind=kind,
                       label=_clean_text(label, "label", MAX_LABEL_CHARS), title=title, question_id=question_id,
                       items=items, open_count=0, bot_count=0)
    session.add(link)
    session.flush()
    return link


def create_link(kb, owner: int | str, *, url: Any = None, content_id: Any = None, at_seconds: Any = None,  # type: ignore[no-untyped-def]
                label: Any = None, base_url: str = "") -> dict[str, Any]:
    """A new link of ``owner`` (user id or e-mail) to a URL or content item, optionally at a second."""
    seconds = clean_seconds(at_seconds)
    with kb.transaction() as session:
        user = _owner(session, owner)
        item = _destination(session, url=url, content_id=content_id, at_seconds=seconds)
        link = _store(session, user, "content", [item], label=label)
        return link_dict(link, public_base(kb.settings, base_url))


def create_pack(kb, owner: int | str, items: Any, *, question_id: Any = None, title: Any = None,  # type: ignore[no-untyped-def]
                label: Any = None, base_url: str = "") -> dict[str, Any]:
    """A new answer pack of ``owner``: ``items`` is a list of ``{"content_id", "at"?}`` for one question,
    named by ``question_id`` (the owner's own question; its wording is the title) or by ``title``."""
    if not isinstance(items, Sequence) or isinstance(items, str) or not 1 <= len(items) <= MAX_PACK_ITEMS:
        raise ValidationError(f"an answer pack needs 1 to {MAX_PACK_ITEMS} items")
    with kb.transaction() as session:
        user = _owner(session, owner)
        heading = _clean_text(title, "title", MAX_TITLE_CHARS)
        if question_id is not None:
            question = session.get(Question, question_id) if isinstance(question_id, int) else None
            if question is None or question.asked_by_id != user.id:
                raise NotFoundError(f"no question {question_id}")
            heading = heading or question.text[:MAX_TITLE_CHARS]
        if not heading:
            raise ValidationError("an answer pack needs the question it answers: a question_id or a title")
        chosen, seen = [], set()
        for entry in items:
            if not isinstance(entry, Mapping) or set(entry) - {"content_id", "at"}:
                raise ValidationError("each pack item is {\"content_id\": id, \"at\": seconds (optional)}")
            item = _destination(session, content_id=entry.get("content_id"), at_seconds=clean_seconds(entry.get("at")))
            if (item.content_id, item.at_seconds) not in seen:  # the same moment twice is one item
                seen.add((item.content_id, item.at_seconds))
                chosen.append(item)
        link = _store(session, user, "pack", chosen, label=label, title=heading,
                      question_id=question_id if isinstance(question_id, int) else None)
        return link_dict(link, public_base(kb.settings, base_url))


def link_form(kb, owner: int | str, *, content_id: Any = None, at_seconds: Any = None,  # type: ignore[no-untyped-def]
              question_id: Any = None) -> dict[str, Any]:
    """What the "tracked link for a prospect" form offers: one content item (at a second), or the matches
    of the owner's own question to choose an answer pack from."""
    with kb.sessions() as session:
        user = get_user(session, owner)
        if question_id is not None:
            question = session.get(Question, question_id) if isinstance(question_id, int) else None
            if question is None or question.asked_by_id != user.id:
                raise NotFoundError(f"no question {question_id}")
            matches, seen = [], set()
            for match in question.matches or []:
                key = (match.get("content_id"), clean_seconds(match.get("start_seconds")))
                if key[0] is None or key in seen:
                    continue
                seen.add(key)
                matches.append({"content_id": key[0], "at": key[1], "title": match.get("title") or match.get("url"),
                                "moment": format_moment(key[1]) if key[1] else None})
            return {"question": {"id": question.id, "text": question.text}, "matches": matches}
        content = session.get(Content, content_id) if isinstance(content_id, int) else None
        if content is None:
            raise NotFoundError(f"no content {content_id}")
        seconds = clean_seconds(at_seconds)
        return {"content": {"id": content.id, "title": content.title, "url": content.canonical_url,
                            "kind": content.kind},
                "at": seconds, "moment": format_moment(seconds) if seconds else None}


def _own_link(session: Session, owner: int | str | None, link_id: Any) -> TrackedLink:
    """``owner``'s link ``link_id``; None as the owner (the operator at the command line): anyone's."""
    owner_id = get_user(session, owner).id if owner is not None else None
    link = session.get(TrackedLink, link_id) if isinstance(link_id, int) and not isinstance(link_id, bool) else None
    if link is None or (owner_id is not None and link.owner_id != owner_id):
        raise NotFoundError(f"no link {link_id}")
    return link


def list_links(kb, owner: int | str, *, limit: int = 50, offset: int = 0,  # type: ignore[no-untyped-def]
               base_url: str = "") -> tuple[list[dict[str, Any]], int]:
    """The owner's links, newest first (one page), and how many there are."""
    base = public_base(kb.settings, base_url)
    with kb.sessions() as session:
        user = get_user(session, owner)
        total = session.scalar(select(func.count()).select_from(TrackedLink).where(TrackedLink.owner_id == user.id))
        links = session.scalars(select(TrackedLink).where(TrackedLink.owner_id == user.id)
                                .order_by(TrackedLink.created_at.desc(), TrackedLink.id.desc())
                                .limit(max(1, limit)).offset(max(0, offset)))
        return [link_dict(link, base) for link in links], int(total or 0)


def get_link(kb, owner: int | str, link_id: Any, *, base_url: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return link_dict(_own_link(session, owner, link_id), public_base(kb.settings, base_url))


def revoke_link(kb, owner: int | str | None, link_id: Any, *, base_url: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Stop a link (it answers 404 from now on, counting nothing); revoking twice changes nothing.
    ``owner`` None: whoever's it is (the operator at the command line; the pages and API always pass the caller)."""
    with kb.transaction() as session:
        link = _own_link(session, owner, link_id)
        session.execute(update(TrackedLink).where(TrackedLink.id == link.id, TrackedLink.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
        session.refresh(link)
        return link_dict(link, public_base(kb.settings, base_url))


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def link_dict(link: TrackedLink, base: str) -> dict[str, Any]:
    return {
        "id": link.id,
        "url": f"{base}{LINK_PATH}{link.token}",
        "token": link.token,
        "kind": link.kind,
        "label": link.label,
        "title": link.title if link.kind == "pack" else (link.items[0].title if link.items else None),
        "question_id": link.question_id,
        "active": link.revoked_at is None,
        "created_at": _iso(link.created_at),
        "revoked_at": _iso(link.revoked_at),
        "first_opened_at": _iso(link.first_opened_at),
        "last_opened_at": _iso(link.last_opened_at),
        "open_count": link.open_count or 0,
        "bot_count": link.bot_count or 0,
        "items": [{"position": item.position, "content_id": item.content_id, "title": item.title,
                   "destination": item.url, "at_seconds": item.at_seconds,
                   "moment": format_moment(item.at_seconds) if item.at_seconds else None} for item in link.items],
    }
