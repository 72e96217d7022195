"""Merging duplicate topics and moving a question out of a topic; the counts follow.

Clustering is automatic and so it is sometimes wrong both ways: two topics mean the same (merge them) or
one question does not belong where it landed (move it to another topic, or to a new topic of its own).

- **Merge** ``source`` into ``target``: the source's questions, search evidence, notes, rejected contents
  and notifications move to the target; topics earlier merged into the source now point at the target
  (no chains to follow); the source keeps its own history and gets ``merged_into_id``, which takes it off
  the backlog. The target keeps its tags and only fills the ones it lacks from the source (never one a
  marketer cleared on purpose). When the target is already answered, the reps whose questions arrive
  with the merge are told where the answer is, as they would have been had they asked there.
- **Move** a question: it leaves its topic for another topic, or for a new topic of its own whose title is
  the question's wording and whose tags are the ones the rep gave.

Both recompute demand on every topic they touch (:func:`kb.demand.refresh_demand`), write history on
both sides, and tell the topic matcher its cached question-to-topic map is out of date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kb import demand, topic_history, topic_matching
from kb.backlog_terms import ANSWERED_STATUSES
from kb.errors import ConflictError, NotFoundError
from kb.models import (
    Content,
    Notification,
    Question,
    SearchEvidence,
    Topic,
    TopicNote,
    TopicRejection,
    User,
    utcnow,
)
from kb.topic_changes import acting_user
from kb.topic_view import get_topic, topic_summary


def _live_topic(session: Session, topic_id: int, role: str) -> Topic:
    topic = get_topic(session, topic_id)
    if topic.merged_into_id is not None:
        raise ConflictError(f"topic {topic.id} ({role}) was already merged into topic {topic.merged_into_id}")
    return topic


def merge_topics(kb, session: Session, source_id: int, target_id: int, *,  # type: ignore[no-untyped-def]
                 user: User | None = None, now: datetime | None = None) -> Topic:
    """Merge topic ``source_id`` into ``target_id`` (see the module docstring); returns the target."""
    now = now or utcnow()
    if source_id == target_id:
        raise ConflictError(f"topic {source_id} cannot be merged into itself")
    source = _live_topic(session, source_id, "source")
    target = _live_topic(session, target_id, "target")
    session.flush()
    newcomers = _new_askers(session, source, target)
    moved = {}
    for model in (Question, SearchEvidence, TopicNote, Notification):
        result = session.execute(update(model).where(model.topic_id == source.id).values(topic_id=target.id))
        moved[model.__tablename__] = result.rowcount
    _move_rejections(session, source, target)
    session.execute(update(Topic).where(Topic.merged_into_id == source.id).values(merged_into_id=target.id))
    for kind in ("persona", "stage"):
        _adopt_tag(session, source, target, kind, user, now)
    source.merged_into_id = target.id
    topic_history.record(session, source, "merged", user=user, old=None, new=target.id, at=now,
                         into=target.id, title=target.title, questions=moved["questions"])
    topic_history.record(session, target, "merged_from", user=user, old=None, new=source.id, at=now,
                         source=source.id, title=source.title, questions=moved["questions"],
                         searches=moved["search_evidence"], notes=moved["topic_notes"])
    session.flush()
    session.expire_all()  # the bulk UPDATEs above changed rows that loaded objects still show the old way
    source, target = get_topic(session, source_id), get_topic(session, target_id)
    demand.refresh_demand(session, source, kb.settings.backlog, now)
    demand.refresh_demand(session, target, kb.settings.backlog, now)
    if target.status in ANSWERED_STATUSES and target.answer_content_id is not None:
        _tell_newcomers(kb, session, target, newcomers)
    session.flush()
    topic_matching.invalidate(kb)  # its warm question-to-topic map is out of date
    return target


def _new_askers(session: Session, source: Topic, target: Topic) -> dict[int, int]:
    """Reps who asked the source but not the target -> their latest question on the source."""
    already = set(session.scalars(select(Question.asked_by_id).where(Question.topic_id == target.id)))
    rows = session.execute(
        select(Question.asked_by_id, Question.id).where(Question.topic_id == source.id,
                                                        Question.asked_by_id.is_not(None))
        .order_by(Question.asked_at, Question.id)
    )
    return {user_id: question_id for user_id, question_id in rows if user_id not in already}


def _tell_newcomers(kb, session: Session, target: Topic, newcomers: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    from kb.notifications import content_link, deliver_after_commit

    content = session.get(Content, target.answer_content_id)
    if content is None or not newcomers:
        return
    message = f'Your question "{target.title}" has an answer: "{content.title}" {content_link(content)}'
    created = [Notification(user_id=user_id, topic_id=target.id, question_id=question_id, content_id=content.id,
                            kind="answered", message=message) for user_id, question_id in newcomers.items()]
    session.add_all(created)
    session.flush()
    deliver_after_commit(kb, session, created)


def _move_rejections(session: Session, source: Topic, target: Topic) -> None:
    """Content rejected for the source does not answer the target either (same question); no duplicates."""
    on_target = set(session.scalars(select(TopicRejection.content_id).where(TopicRejection.topic_id == target.id)))
    session.execute(delete(TopicRejection).where(TopicRejection.topic_id == source.id,
                                                 TopicRejection.content_id.in_(on_target)))
    session.execute(update(TopicRejection).where(TopicRejection.topic_id == source.id).values(topic_id=target.id))


def _adopt_tag(session: Session, source: Topic, target: Topic, kind: str, user: User | None,
               now: datetime) -> None:
    value = getattr(source, kind)
    if getattr(target, kind) is not None or value is None or getattr(target, f"{kind}_source") == "marketer":
        return
    topic_history.record(session, target, kind, user=user, old=None, new=value, at=now,
                         source=getattr(source, f"{kind}_source"), from_topic=source.id)
    setattr(target, kind, value)
    setattr(target, f"{kind}_confidence", getattr(source, f"{kind}_confidence"))
    setattr(target, f"{kind}_source", getattr(source, f"{kind}_source"))


def move_question(kb, session: Session, question_id: int, *, to_topic_id: int | None = None,  # type: ignore[no-untyped-def]
                  user: User | None = None, now: datetime | None = None) -> Topic:
    """Move a question to topic ``to_topic_id``, or to a new topic of its own (None); returns where it went."""
    now = now or utcnow()
    question = session.get(Question, question_id)
    if question is None:
        raise NotFoundError(f"no question {question_id}")
    old = session.get(Topic, question.topic_id) if question.topic_id is not None else None
    if to_topic_id is None:
        target = Topic(title=question.text, status="new", created_at=now)
        for kind in ("persona", "stage"):  # the tags the rep gave with the question, as the rep's
            if getattr(question, kind):
                setattr(target, kind, getattr(question, kind))
                setattr(target, f"{kind}_source", "rep")
        session.add(target)
        session.flush()
        topic_history.record(session, target, "created", user=user, new=target.title, at=now,
                             reason="moved_out", question_id=question.id, from_topic=old.id if old else None)
    else:
        target = _live_topic(session, to_topic_id, "destination")
        if old is not None and old.id == target.id:
            raise ConflictError(f"question {question.id} is already in topic {target.id}")
    question.topic_id = target.id
    if old is not None:
        topic_history.record(session, old, "question_moved_out", user=user, old=question.text, at=now,
                             question_id=question.id, to_topic=target.id)
    topic_history.record(session, target, "question_moved_in", user=user, new=question.text, at=now,
                         question_id=question.id, from_topic=old.id if old else None)
    session.flush()
    for topic in (old, target):
        if topic is not None:
            demand.refresh_demand(session, topic, kb.settings.backlog, now)
    session.flush()
    topic_matching.invalidate(kb)  # its warm question-to-topic map is out of date
    return target


# -- what the CLI and the API call ----------------------------------------------------------------
def merge_request(kb, source_id: int, target_id: int, *,  # type: ignore[no-untyped-def]
                  user_email: str | None = None) -> dict[str, Any]:
    """Merge as ``user_email`` (unknown e-mail: not found); both topics as backlog rows."""
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        target = merge_topics(kb, session, source_id, target_id, user=user)
        return {"source": topic_summary(get_topic(session, source_id)), "target": topic_summary(target)}


def move_request(kb, question_id: int, *, to_topic_id: int | None = None,  # type: ignore[no-untyped-def]
                 user_email: str | None = None) -> dict[str, Any]:
    """Move a question as ``user_email``; the topic it left (if any) and the one it joined, as backlog rows."""
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        question = session.get(Question, question_id)
        left = question.topic_id if question is not None else None
        target = move_question(kb, session, question_id, to_topic_id=to_topic_id, user=user)
        return {"question_id": question_id,
                "from": topic_summary(get_topic(session, left)) if left is not None else None,
                "to": topic_summary(target)}
