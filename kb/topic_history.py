"""The history of a topic: every change recorded as who, when, what (old -> new).

One function writes events so every path (intake, triage, merge, the after-crawl re-check) records them
the same way; the topic page and ``kb backlog show`` read them back in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Topic, TopicEvent, User, utcnow


def record(
    session: Session,
    topic: Topic,
    action: str,
    *,
    user: User | None = None,
    old: Any = None,
    new: Any = None,
    at: datetime | None = None,
    **detail: Any,
) -> TopicEvent:
    """Append one event; values are stored as text (None stays None)."""
    if topic.id is None:
        session.flush()
    event = TopicEvent(
        topic_id=topic.id,
        user_id=user.id if user is not None else None,
        at=at or utcnow(),
        action=action,
        old=None if old is None else str(old),
        new=None if new is None else str(new),
        detail=detail,
    )
    session.add(event)
    return event


def history(session: Session, topic_id: int) -> list[TopicEvent]:
    return list(session.scalars(
        select(TopicEvent).where(TopicEvent.topic_id == topic_id).order_by(TopicEvent.at, TopicEvent.id)
    ))


def event_dict(event: TopicEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "user": event.user.email if event.user is not None else None,
        "action": event.action,
        "old": event.old,
        "new": event.new,
        "detail": event.detail or {},
    }
