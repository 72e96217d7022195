"""Meeting mode: the review's agenda walked one topic at a time, with what the room needs to decide.

For the topic on screen: its agenda row (asks this week and last, the 8-week trend, carried over or not,
last week's and this week's decision), a few of the askers' own wordings, and the content that might
already answer it (the after-crawl suggestion, and the closest matches found when reps asked), plus the
people who can own a decision. Positions are 1-based; past the end means "all done".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kb.errors import ValidationError
from kb.models import Content, Question, Topic
from kb.review_agenda import build_agenda, owner_choices, parse_top
from kb.weeks import Week, parse_week

WORDING_EXAMPLES = 5
SUGGESTIONS = 3


def parse_position(value: Any) -> int:
    """The agenda position to show (1-based); None: the first."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    try:
        position = int(value)
    except (TypeError, ValueError):
        raise ValidationError("item must be a whole number (the position on the agenda, from 1)") from None
    if position < 1:
        raise ValidationError("item must be at least 1")
    return position


def _wordings(session: Session, topic_id: int) -> list[dict[str, Any]]:
    """The latest few distinct wordings of the topic's questions, with who asked and when."""
    seen: set[str] = set()
    examples = []
    for question in session.scalars(select(Question).where(Question.topic_id == topic_id)
                                    .options(selectinload(Question.asked_by))
                                    .order_by(Question.asked_at.desc(), Question.id.desc()).limit(50)):
        key = " ".join(question.text.lower().split())
        if key in seen:
            continue
        seen.add(key)
        examples.append({"id": question.id, "text": question.text, "company": question.company,
                         "asked_by": question.asked_by.email if question.asked_by else None,
                         "asked_at": question.asked_at.isoformat() if question.asked_at else None})
        if len(examples) == WORDING_EXAMPLES:
            break
    return examples


def _content_row(content: Content, reason: str, confidence: float | None, asks: int = 0) -> dict[str, Any]:
    return {"id": content.id, "title": content.title, "url": content.canonical_url, "kind": content.kind,
            "reason": reason, "confidence": None if confidence is None else round(float(confidence), 4),
            "asks": asks}


def _suggestions(session: Session, topic: Topic) -> list[dict[str, Any]]:
    """Content that might answer the topic: the pending suggestion, then intake's closest matches."""
    found: list[dict[str, Any]] = []
    if topic.suggested_content_id is not None:
        content = session.get(Content, topic.suggested_content_id)
        if content is not None and content.status == "live":
            found.append(_content_row(content, "possibly answered (after a crawl)", topic.suggested_confidence))
    rows = session.execute(
        select(Content, func.count(Question.id), func.max(Question.confidence))
        .join(Question, Question.best_content_id == Content.id)
        .where(Question.topic_id == topic.id, Content.status == "live")
        .group_by(Content.id).order_by(func.count(Question.id).desc(), func.max(Question.confidence).desc())
        .limit(SUGGESTIONS)
    )
    for content, asks, confidence in rows:
        if all(row["id"] != content.id for row in found):
            found.append(_content_row(content, "closest match when reps asked", confidence, int(asks)))
    return found[: SUGGESTIONS + 1]


def review_meeting(kb, week: str | Week, item: Any = None, *, top: Any = None,  # type: ignore[no-untyped-def]
                   now: datetime | None = None) -> dict[str, Any]:
    """The agenda of ``week`` and the topic at position ``item`` of it, ready for the room to decide."""
    week = week if isinstance(week, Week) else parse_week(week)
    position = parse_position(item)
    limit = parse_top(top)
    with kb.transaction() as session:
        agenda = build_agenda(session, kb.settings, week, top=limit, now=now)
        items = agenda["items"]
        position = min(position, len(items) + 1)  # past the end (a stale link, a decided last item): done
        current = items[position - 1] if position <= len(items) else None
        topic = session.get(Topic, current["id"]) if current else None
        return {
            "agenda": agenda,
            "position": position,
            "total": len(items),
            "done": current is None,
            "item": current,
            "previous_position": position - 1 if position > 1 else None,
            "next_position": position + 1 if position <= len(items) else None,
            "wordings": _wordings(session, topic.id) if topic else [],
            "suggestions": _suggestions(session, topic) if topic else [],
            "owners": owner_choices(session),
        }
