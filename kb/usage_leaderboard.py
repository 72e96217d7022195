"""The rep leaderboard: which reps' questions led to content (issue 7).

Per rep, over a report window: questions asked; of those, the ones answered by *new* content (their topic's
confirmed answer was published, or first crawled, after the question was asked: the rep's question led to
it); and topics started (the rep asked a topic's first question in the window). Ranked by answered-by-new
first, because that is the outcome the leaderboard rewards: asking the questions marketing then answers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from kb.errors import ValidationError
from kb.models import Content, Question, Topic, User
from kb.usage_counts import ReportWindow, aware, day_start

LEADERBOARD_COLUMNS = ["user_id", "name", "questions_asked", "questions_answered_by_new_content", "topics_started"]


def rep_leaderboard(kb, window: ReportWindow, *, limit: int = 50,  # type: ignore[no-untyped-def]
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Reps who asked questions in ``window``, best first; (one page of rows, total)."""
    if limit < 1 or offset < 0:
        raise ValidationError("limit must be at least 1 and offset at least 0")
    start, end = day_start(window.start), day_start(window.end + timedelta(days=1))
    rows: dict[int, dict[str, Any]] = {}
    with kb.sessions() as session:
        asked = session.execute(
            select(Question.asked_by_id, Question.asked_at, Content.published_at, Content.first_seen_at)
            .outerjoin(Topic, Topic.id == Question.topic_id)
            .outerjoin(Content, Content.id == Topic.answer_content_id)
            .where(Question.asked_by_id.is_not(None), Question.asked_at >= start, Question.asked_at < end)
        ).all()
        for user_id, asked_at, published, first_seen in asked:
            row = rows.setdefault(user_id, _empty(user_id))
            row["questions_asked"] += 1
            born = aware(published) or aware(first_seen)
            if born is not None and born > aware(asked_at):
                row["questions_answered_by_new_content"] += 1
        # A topic's starter is whoever asked its first question (ties: the lowest question id).
        first: dict[int, tuple[Any, int, int | None]] = {}
        for topic_id, question_id, user_id, asked_at in session.execute(
            select(Question.topic_id, Question.id, Question.asked_by_id, Question.asked_at)
            .where(Question.topic_id.is_not(None), Question.asked_at < end)
        ):
            moment = aware(asked_at)
            if topic_id not in first or (moment, question_id) < first[topic_id][:2]:
                first[topic_id] = (moment, question_id, user_id)
        for moment, _, user_id in first.values():
            if user_id is not None and moment >= start:
                rows.setdefault(user_id, _empty(user_id))["topics_started"] += 1
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(list(rows)))).all())
        emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(list(rows)))).all())
    for user_id, row in rows.items():
        row["name"] = names.get(user_id) or emails.get(user_id) or f"user {user_id}"
    ranked = sorted(rows.values(), key=lambda row: (-row["questions_answered_by_new_content"],
                                                     -row["topics_started"], -row["questions_asked"],
                                                     row["name"].lower(), row["user_id"]))
    return ranked[offset:offset + limit], len(ranked)


def _empty(user_id: int) -> dict[str, Any]:
    return {"user_id": user_id, "name": "", "questions_asked": 0, "questions_answered_by_new_content": 0,
            "topics_started": 0}
