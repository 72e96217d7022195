"""A rep's own questions: what became of each (answered, in the backlog, won't do), and who may read one.

Visibility rule (checklist W-12): a rep sees only the questions they asked; a marketer or admin may read
any question (they triage every ask in the backlog anyway). A question someone else asked is "not
found" to a rep, never "forbidden", so its id tells them nothing. :func:`viewable_question` is the one
place that decides; the page and the API both go through it.

Status shown to a rep, from the question and its topic as it is now (merges followed):

- ``answered``: the topic is closed with an answer the team confirmed, or the question was answered with
  confidence when it was asked (the answer is then the best match shown at the time);
- ``in_backlog``: the topic is open (the topic's own status says how far: new, triaged, planned, in progress);
- ``wont_do``: marketing decided not to write it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.answer_moment import passage_moment
from kb.demand import as_utc
from kb.errors import NotFoundError, ValidationError
from kb.models import CLOSED_STATUSES, Content, Notification, Passage, Question, Topic
from kb.notifications import list_notifications, mark_user_read, notification_dict
from kb.question_results import AskResult, get_question
from kb.roles import ROLES
from kb.timed_links import content_moment_link
from kb.users import get_user

# Roles that may read every question (everyone from marketer up).
READ_ALL_ROLES = ROLES[ROLES.index("marketer"):]
RECENT_NOTIFICATIONS = 20
MAX_MARK_IDS = 500


def may_read_all(role: str | None) -> bool:
    return role in READ_ALL_ROLES


def live_topic(session: Session, topic: Topic | None) -> Topic | None:
    """``topic``, or the topic it was merged into (followed to the end)."""
    while topic is not None and topic.merged_into_id is not None:
        topic = session.get(Topic, topic.merged_into_id)
    return topic


def rep_status(question: Question, topic: Topic | None) -> str:
    """``answered``, ``in_backlog`` or ``wont_do`` (see the module docstring)."""
    if topic is not None and topic.status == "wont_do":
        return "wont_do"
    if topic is not None and topic.status in CLOSED_STATUSES and topic.answer_content_id is not None:
        return "answered"
    if question.decision == "answered" and (topic is None or topic.status in CLOSED_STATUSES):
        return "answered"
    return "in_backlog"


def _answer(session: Session, question: Question, topic: Topic | None) -> dict[str, Any] | None:
    """The content that answers the question: the topic's confirmed answer, else the confident best match."""
    if topic is not None and topic.status in CLOSED_STATUSES and topic.answer_content_id is not None:
        content = session.get(Content, topic.answer_content_id)
        if content is not None:
            passage = session.get(Passage, topic.answer_passage_id) if topic.answer_passage_id is not None else None
            link = content_moment_link(content, passage_moment(passage, question.text))
            return {"content_id": content.id, "title": content.title, "url": content.canonical_url, "link": link,
                    "kind": content.kind, "confirmed": True}
    if question.decision == "answered" and question.matches:
        best = question.matches[0]
        return {"content_id": best.get("content_id"), "title": best.get("title"), "url": best.get("url"),
                "link": best.get("link"), "kind": best.get("kind"), "confirmed": False}
    return None


def question_row(session: Session, question: Question) -> dict[str, Any]:
    """One line of "my questions"."""
    topic = live_topic(session, question.topic)
    return {
        "id": question.id,
        "question": question.text,
        "asked_at": as_utc(question.asked_at).isoformat(),
        "source": question.source,
        "company": question.company,
        "decision": question.decision,
        "confidence": round(question.confidence or 0.0, 4),
        "status": rep_status(question, topic),
        "topic": None if topic is None else {
            "id": topic.id, "title": topic.title, "status": topic.status, "ask_count": topic.ask_count,
            "rep_count": topic.rep_count,
        },
        "answer": _answer(session, question, topic),
    }


def list_my_questions(kb, user_id: int, *, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:  # type: ignore[no-untyped-def]
    """The user's questions, newest first (one page), and how many they asked in all."""
    with kb.sessions() as session:
        return _my_questions(session, user_id, limit, offset)


def _my_questions(session: Session, user_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    mine = Question.asked_by_id == user_id
    total = int(session.scalar(select(func.count()).select_from(Question).where(mine)) or 0)
    questions = session.scalars(
        select(Question).where(mine).order_by(Question.asked_at.desc(), Question.id.desc())
        .limit(limit).offset(offset)
    )
    return [question_row(session, question) for question in questions], total


def notification_row(session: Session, notification: Notification) -> dict[str, Any]:
    """A notification as the API gives it, plus the title and link of the content it is about."""
    row = notification_dict(notification)
    content = session.get(Content, notification.content_id) if notification.content_id else None
    row["content"] = None if content is None else {"id": content.id, "title": content.title,
                                                   "url": content.canonical_url}
    return row


def list_my_notifications(kb, user_id: int, *, unread_only: bool = False, limit: int,  # type: ignore[no-untyped-def]
                          offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The user's notifications, newest first (one page), and how many there are in all."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    with kb.sessions() as session:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        page = session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
                               .limit(limit).offset(offset))
        return [notification_row(session, n) for n in page], total


def my_questions_page(kb, user_id: int, *, limit: int, offset: int = 0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything the "my questions" page shows: a page of questions, the total, the latest notifications
    (:data:`RECENT_NOTIFICATIONS`, newest first) and how many are unread."""
    with kb.sessions() as session:
        rows, total = _my_questions(session, user_id, limit, offset)
        notifications = list_notifications(session, get_user(session, user_id))
        return {
            "questions": rows,
            "total": total,
            "notifications": [notification_row(session, n) for n in notifications[:RECENT_NOTIFICATIONS]],
            "unread": sum(1 for n in notifications if n.read_at is None),
        }


def viewable_question(kb, question_id: int, *, user_id: int, role: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One question as :class:`AskResult` renders it (``to_dict``), plus ``status``, ``answer`` and ``mine``,
    for a viewer allowed to read it (see the module docstring); otherwise NotFoundError."""
    with kb.sessions() as session:
        question = session.get(Question, question_id)
        if question is None or (question.asked_by_id != user_id and not may_read_all(role)):
            raise NotFoundError(f"no question {question_id}")
        row = question_row(session, question)
        mine = question.asked_by_id == user_id
    result: AskResult = get_question(kb, question_id)
    return {**result.to_dict(), "status": row["status"], "answer": row["answer"], "mine": mine}


def mark_notifications_read(kb, email: str, ids: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Mark the caller's notifications ``ids`` (a list of ids) read; an id that is not theirs is not found."""
    if not isinstance(ids, list) or not ids:
        raise ValidationError("'ids' must be a non-empty list of notification ids")
    if len(ids) > MAX_MARK_IDS:
        raise ValidationError(f"too many ids ({len(ids)}; at most {MAX_MARK_IDS} at a time)")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
        raise ValidationError("'ids' must hold notification ids (whole numbers above zero)")
    return mark_user_read(kb, email, ids)
