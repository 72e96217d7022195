"""Showing topics: one backlog row (:func:`topic_summary`) and everything about one topic (:func:`show_topic`).

Separate from listing (:mod:`kb.backlog`) and changing (:mod:`kb.topic_changes`) because both of them, and
merging (:mod:`kb.topic_merge`), render topics the same way: the list row, and the full page with the
priority formula and its parts (never hidden), questions, notes, history, suggestion, answer, rejected
content and merged topics.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import demand, topic_history
from kb.answer_moment import passage_moment
from kb.backlog_terms import TRANSITIONS
from kb.errors import NotFoundError
from kb.models import (
    OPEN_STATUSES,
    Content,
    Passage,
    Question,
    SearchEvidence,
    Topic,
    TopicNote,
    TopicRejection,
    User,
    utcnow,
)
from kb.settings import Settings
from kb.timed_links import content_moment_link

MAX_ROW_ID = 2**63 - 1  # the largest id a row can have
DUE_SOON_DAYS = 3  # an open topic due within this many days is "due soon" (the backlog and the review agree)
SHOWN_SEARCHES = 20  # the latest searches that counted as evidence, shown with a topic


def _iso(moment: datetime | None) -> str | None:
    return demand.as_utc(moment).isoformat() if moment is not None else None


def is_overdue(topic: Topic, now: datetime | None = None) -> bool:
    """An open topic past its due date (closed topics are never overdue)."""
    if topic.due_at is None or topic.status not in OPEN_STATUSES or topic.merged_into_id is not None:
        return False
    return demand.as_utc(topic.due_at) < (now or utcnow())


def is_due_soon(topic: Topic, now: datetime | None = None) -> bool:
    """An open topic not overdue yet but due within :data:`DUE_SOON_DAYS` days."""
    if topic.due_at is None or topic.status not in OPEN_STATUSES or topic.merged_into_id is not None:
        return False
    now = now or utcnow()
    return now <= demand.as_utc(topic.due_at) < now + timedelta(days=DUE_SOON_DAYS)


def topic_summary(topic: Topic, now: datetime | None = None) -> dict[str, Any]:
    """One backlog row: what the list shows."""
    return {
        "id": topic.id,
        "title": topic.title,
        "status": topic.status,
        "priority": round(topic.priority or 0.0, 3),
        "priority_level": topic.priority_level,
        "ask_count": topic.ask_count,
        "rep_count": topic.rep_count,
        "search_count": topic.search_count,
        "deal_value": topic.deal_value,
        "persona": topic.persona,
        "persona_source": topic.persona_source,
        "stage": topic.stage,
        "stage_source": topic.stage_source,
        "owner": topic.owner.email if topic.owner is not None else None,
        "due_at": _iso(topic.due_at),
        "due_date": demand.as_utc(topic.due_at).date().isoformat() if topic.due_at else None,
        "due_source": topic.due_source,
        "overdue": is_overdue(topic, now),
        "due_soon": is_due_soon(topic, now),
        "first_asked_at": _iso(topic.first_asked_at),
        "last_asked_at": _iso(topic.last_asked_at),
        "created_at": _iso(topic.created_at),
        "closed_at": _iso(topic.closed_at),
        "merged_into_id": topic.merged_into_id,
        "has_suggestion": topic.suggested_content_id is not None,
    }


def _content_dict(session: Session, content_id: int | None, passage_id: int | None = None,
                  confidence: float | None = None, question: str = "") -> dict[str, Any] | None:
    content = session.get(Content, content_id) if content_id else None
    if content is None:
        return None
    passage = session.get(Passage, passage_id) if passage_id else None
    url = content_moment_link(content, passage_moment(passage, question))
    return {"content_id": content.id, "url": url, "title": content.title, "kind": content.kind,
            "status": content.status, "passage_id": passage_id,
            "confidence": None if confidence is None else round(confidence, 4)}


def _question_dict(question: Question) -> dict[str, Any]:
    return {
        "id": question.id,
        "text": question.text,
        "asked_by": question.asked_by.email if question.asked_by is not None else None,
        "asked_at": _iso(question.asked_at),
        "company": question.company,
        "deal_stage": question.deal_stage,
        "deal_value": question.deal_value,
        "persona": question.persona,
        "stage": question.stage,
        "source": question.source,
        "decision": question.decision,
        "confidence": round(question.confidence or 0.0, 4),
    }


def note_dict(note: TopicNote) -> dict[str, Any]:
    return {"id": note.id, "at": _iso(note.at), "user": note.user.email if note.user else None, "text": note.text}


def get_topic(session: Session, topic_id: int) -> Topic:
    # An id no database row can have (SQLite integers are 64-bit) is simply not found, never an overflow.
    topic = session.get(Topic, topic_id) if 0 < topic_id <= MAX_ROW_ID else None
    if topic is None:
        raise NotFoundError(f"no topic {topic_id}")
    return topic


def show_topic(session: Session, settings: Settings, topic_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything a marketer needs to decide on a topic, including the priority formula and its parts."""
    now = now or utcnow()
    topic = get_topic(session, topic_id)
    questions = session.scalars(
        select(Question).where(Question.topic_id == topic.id).options(selectinload(Question.asked_by))
        .order_by(Question.asked_at, Question.id)
    )
    notes = session.scalars(select(TopicNote).where(TopicNote.topic_id == topic.id)
                            .order_by(TopicNote.at, TopicNote.id))
    rejections = session.execute(
        select(TopicRejection, Content).join(Content, Content.id == TopicRejection.content_id)
        .where(TopicRejection.topic_id == topic.id).order_by(TopicRejection.at)
    )
    rejected_by = {u.id: u.email for u in session.scalars(
        select(User).join(TopicRejection, TopicRejection.user_id == User.id).where(TopicRejection.topic_id == topic.id)
    )}
    merged_from = list(session.scalars(select(Topic.id).where(Topic.merged_into_id == topic.id).order_by(Topic.id)))
    return {
        **topic_summary(topic, now),
        "priority_breakdown": demand.topic_priority(session, topic, settings.backlog, now).to_dict(),
        "persona_confidence": topic.persona_confidence,
        "stage_confidence": topic.stage_confidence,
        "allowed_statuses": list(TRANSITIONS.get(topic.status, ())),
        "questions": [_question_dict(q) for q in questions],
        "notes": [note_dict(n) for n in notes],
        "history": [topic_history.event_dict(e) for e in topic_history.history(session, topic.id)],
        "suggestion": _content_dict(session, topic.suggested_content_id, topic.suggested_passage_id,
                                    topic.suggested_confidence, topic.title),
        "answer": _content_dict(session, topic.answer_content_id, topic.answer_passage_id, topic.answer_confidence,
                                topic.title),
        "rejected": [
            {"content_id": content.id, "url": content.canonical_url, "title": content.title,
             "user": rejected_by.get(rejection.user_id), "at": _iso(rejection.at)}
            for rejection, content in rejections
        ],
        "merged_from": merged_from,
        "searches": [{"query": e.query, "at": _iso(e.at), "confidence": round(e.confidence or 0.0, 4)}
                     for e in session.scalars(select(SearchEvidence).where(SearchEvidence.topic_id == topic.id)
                                              .order_by(SearchEvidence.at.desc(), SearchEvidence.id.desc())
                                              .limit(SHOWN_SEARCHES))],
    }


def topic_details(kb, topic_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """:func:`show_topic` in its own read-only session (what the CLI and the API call)."""
    with kb.sessions() as session:
        return show_topic(session, kb.settings, topic_id)
