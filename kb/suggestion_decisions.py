"""A marketer's decision on a suggested answer: confirm it (the topic closes and every rep who asked is told)
or reject it (remembered in ``TopicRejection``: never suggested again).

Separate from the loop that makes suggestions (:mod:`kb.answer_loop`): the loop runs after a crawl, this
runs when a person decides, through the CLI (``kb topics confirm/reject``) or the API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import topic_history
from kb.answer_moment import passage_moment
from kb.demand import as_utc
from kb.errors import ConflictError, NotFoundError
from kb.models import Content, Passage, Topic, TopicRejection, User, utcnow
from kb.notifications import content_link, deliver_after_commit, notify_askers
from kb.users import get_user


def clear_suggestion(topic: Topic) -> None:
    """Drop a topic's pending suggestion (decided, withdrawn or replaced)."""
    topic.suggested_content_id = None
    topic.suggested_passage_id = None
    topic.suggested_confidence = None
    topic.suggested_at = None


def _pending_topic(session: Session, topic_id: int) -> Topic:
    topic = session.get(Topic, topic_id)
    if topic is None:
        raise NotFoundError(f"no topic {topic_id}")
    if topic.merged_into_id is not None:
        raise ConflictError(f"topic {topic_id} was merged into topic {topic.merged_into_id}")
    if topic.suggested_content_id is None:
        raise ConflictError(f"topic {topic_id} has no suggested answer to confirm or reject")
    return topic


def confirm_suggestion(kb, session: Session, topic_id: int, *, user: User | None = None) -> Topic:  # type: ignore[no-untyped-def]
    """Accept the suggested content as the topic's answer and notify every rep who asked.

    The status becomes ``published`` when the content first appeared after the topic was created (it was
    written for it), else ``answered_existing``. E-mails go out after ``session`` commits.
    """
    topic = _pending_topic(session, topic_id)
    content = session.get(Content, topic.suggested_content_id)
    if content is None or content.status != "live":
        raise ConflictError(f"the content suggested for topic {topic_id} is no longer online")
    passage = session.get(Passage, topic.suggested_passage_id) if topic.suggested_passage_id else None
    old_status = topic.status
    written_for_it = as_utc(content.first_seen_at) > as_utc(topic.created_at)
    topic.status = "published" if written_for_it else "answered_existing"
    topic.answer_content_id = content.id
    topic.answer_passage_id = topic.suggested_passage_id
    topic.answer_confidence = topic.suggested_confidence
    topic.closed_at = utcnow()
    clear_suggestion(topic)
    link = content_link(content, passage_moment(passage, topic.title))
    topic_history.record(session, topic, "confirmed", user=user, old=old_status, new=topic.status,
                         content_id=content.id, content_title=content.title, url=link)
    message = f'Your question "{topic.title}" has an answer: "{content.title}" {link}'
    created = notify_askers(session, topic, "answered", message, content_id=content.id)
    deliver_after_commit(kb, session, created)
    return topic


def reject_suggestion(kb, session: Session, topic_id: int, *, user: User | None = None) -> Topic:  # type: ignore[no-untyped-def]
    """The suggested content does not answer the topic: remember that and clear the suggestion."""
    topic = _pending_topic(session, topic_id)
    content_id = topic.suggested_content_id
    content = session.get(Content, content_id)
    if session.scalar(select(TopicRejection.id).where(TopicRejection.topic_id == topic.id,
                                                      TopicRejection.content_id == content_id)) is None:
        session.add(TopicRejection(topic_id=topic.id, content_id=content_id, user_id=user.id if user else None))
    clear_suggestion(topic)
    topic_history.record(session, topic, "rejected", user=user, old=content.title if content else None,
                         content_id=content_id)
    session.flush()
    return topic


# -- what the CLI and API call -----------------------------------------------------------------------
def decide_suggestion(kb, topic_id: int, decision: str, *, user_email: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Confirm or reject a topic's suggestion as ``user_email`` (unknown e-mail: not found); the topic as a dict."""
    if decision not in ("confirm", "reject"):
        raise ValueError(f"unknown decision {decision!r}")
    with kb.transaction() as session:
        user = get_user(session, user_email) if user_email else None
        act = confirm_suggestion if decision == "confirm" else reject_suggestion
        topic = act(kb, session, topic_id, user=user)
        return loop_topic_dict(session, topic)


def loop_topic_dict(session: Session, topic: Topic) -> dict[str, Any]:
    """The topic fields the loop touches, with demand per source (asked by reps vs searched)."""

    def content_dict(content_id: int | None, passage_id: int | None, confidence: float | None) -> Any:
        content = session.get(Content, content_id) if content_id else None
        if content is None:
            return None
        passage = session.get(Passage, passage_id) if passage_id else None
        return {"content_id": content.id, "title": content.title, "status": content.status,
                "link": content_link(content, passage_moment(passage, topic.title)),
                "passage_id": passage_id, "confidence": None if confidence is None else round(confidence, 4)}

    return {
        "id": topic.id,
        "title": topic.title,
        "status": topic.status,
        "ask_count": topic.ask_count,
        "rep_count": topic.rep_count,
        "search_count": topic.search_count,
        "suggestion": content_dict(topic.suggested_content_id, topic.suggested_passage_id,
                                   topic.suggested_confidence),
        "answer": content_dict(topic.answer_content_id, topic.answer_passage_id, topic.answer_confidence),
        "closed_at": topic.closed_at.isoformat() if topic.closed_at else None,
    }
