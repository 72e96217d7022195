"""Recording the weekly review's decision on a topic, and applying it to the topic.

One decision per topic per week (re-recording updates it: the meeting may change its mind). Recording
and applying happen in one transaction, so a decision the topic cannot take (say "write it" on a topic
that is already published) is refused as a whole and nothing is half-done. What each decision does:

- ``write``    — write new content: the topic goes to *planned* (left alone when already planned or in
  progress) and the owner (required) owns it.
- ``answered`` — existing content answers it: the topic goes to *answered_existing* with that content
  (id or URL, required) through :func:`kb.topic_changes.update_topic`, so the history is written and
  the reps who asked are notified.
- ``merge``    — it duplicates another topic: it is merged into ``merge_into`` (required) with
  :func:`kb.topic_merge.merge_topics` (questions, notes and demand move over).
- ``wont_do``  — the topic goes to *won't do*.
- ``defer``    — no change to the topic; it comes first on next week's agenda, marked as carried over,
  with this decision, owner and note shown.

Every decision also writes a ``review`` event in the topic's history (week, decision, note). Applying
is forward-only: changing a decision later applies the new one but does not undo the old one's change
(the history shows both).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import topic_history
from kb.errors import ConflictError, PermissionDeniedError, ValidationError
from kb.models import REVIEW_DECISIONS, Content, ReviewDecision, Topic, User, utcnow
from kb.topic_changes import MAX_NOTE_CHARS, OWNER_ROLES, acting_user, owner_from, update_topic
from kb.topic_merge import merge_topics
from kb.topic_view import get_topic
from kb.weeks import Week, parse_week

DECISION_LABELS = {
    "write": "Write it",
    "answered": "Answered by existing content",
    "merge": "Merge into another topic",
    "defer": "Defer to next week",
    "wont_do": "Won't do",
}
_ALIASES = {"wontdo": "wont_do", "won_t_do": "wont_do", "answered_by": "answered", "answered_existing": "answered",
            "write_it": "write"}


def parse_decision(value: Any) -> str:
    """A decision as stored, from what people type ("Won't do", "wont-do", "answered")."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"decision is required: one of {', '.join(REVIEW_DECISIONS)}")
    key = value.strip().lower().replace("'", "").replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in REVIEW_DECISIONS:
        raise ValidationError(f"unknown decision {value[:40]!r}; choose from {', '.join(REVIEW_DECISIONS)}")
    return key


def decision_dict(decision: ReviewDecision, topic: Topic | None = None, content: Content | None = None,
                  merge_target: Topic | None = None) -> dict[str, Any]:
    """A decision as the agenda, exports and API show it (related rows passed in when already loaded)."""
    return {
        "week": decision.week,
        "topic_id": decision.topic_id,
        "topic_title": topic.title if topic is not None else None,
        "decision": decision.decision,
        "decision_label": DECISION_LABELS.get(decision.decision, decision.decision),
        "owner": decision.owner.email if decision.owner is not None else None,
        "note": decision.note or "",
        "content": ({"id": content.id, "title": content.title, "url": content.canonical_url}
                    if content is not None else None),
        "merge_into": ({"id": merge_target.id, "title": merge_target.title}
                       if merge_target is not None else None),
        "decided_by": decision.decided_by.email if decision.decided_by is not None else None,
        "decided_at": decision.decided_at.isoformat() if decision.decided_at else None,
    }




def _note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("note must be text")
    text = value.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError(f"note is longer than {MAX_NOTE_CHARS} characters")
    return text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _merge_target(session: Session, value: Any, topic: Topic) -> Topic:
    if _blank(value):
        raise ValidationError("merge needs merge_into: the id of the topic to merge this one into")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValidationError("merge_into must be a topic id (a whole number)")
    target = session.get(Topic, int(value))
    if target is None:
        raise ValidationError(f"no topic {int(value)} to merge into")
    if target.id == topic.id:
        raise ValidationError(f"topic {topic.id} cannot be merged into itself")
    return target


def _check_fields(decision: str, owner: User | None, content: Any, merge_into: Any) -> None:
    if decision == "write" and owner is None:
        raise ValidationError("write needs an owner: the marketer who writes it")
    if decision == "answered" and _blank(content):
        raise ValidationError("answered needs the content that answers it (content id or URL)")
    if decision != "answered" and not _blank(content):
        raise ValidationError("content goes with the decision 'answered' only")
    if decision != "merge" and not _blank(merge_into):
        raise ValidationError("merge_into goes with the decision 'merge' only")


def _apply(kb, session: Session, topic: Topic, decision: str, owner: User | None, content: Any,  # type: ignore[no-untyped-def]
           target: Topic | None, user: User | None, now: datetime) -> None:
    """Change the topic as the decision says (see the module docstring)."""
    changes: dict[str, Any] = {"owner": owner.email} if owner is not None else {}
    if decision == "write":
        if topic.status not in ("planned", "in_progress"):
            changes["status"] = "planned"
    elif decision == "answered":
        changes.update(status="answered_existing", answer=str(content).strip())
    elif decision == "wont_do":
        changes["status"] = "wont_do"
    elif decision == "merge" and target is not None and topic.merged_into_id != target.id:
        merge_topics(kb, session, topic.id, target.id, user=user, now=now)
        return
    if changes and decision != "defer":
        update_topic(kb, session, topic.id, changes, user=user, now=now)


def record_decision(kb, week: str | Week, topic_id: int, decision: str, *,  # type: ignore[no-untyped-def]
                    owner_email: Any = None, note: Any = None, content_id: Any = None, merge_into_id: Any = None,
                    user_email: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Record (or update) the decision on ``topic_id`` for ``week`` and apply it to the topic.

    ``owner_email``: e-mail or id of an active marketer or admin (required for ``write``); ``content_id``:
    id or URL of the answering content (``answered`` only); ``merge_into_id``: the topic to merge into
    (``merge`` only). Bad input is a ValidationError, a move the topic cannot make a ConflictError, an
    unknown topic a NotFoundError, a rep recording a decision a PermissionDeniedError.
    """
    now = now or utcnow()
    week = week if isinstance(week, Week) else parse_week(week)
    kind = parse_decision(decision)
    note_text = _note(note)
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        if user is not None and user.role not in OWNER_ROLES:
            raise PermissionDeniedError("only marketers and admins record review decisions")
        topic = get_topic(session, topic_id)
        owner = owner_from(session, owner_email)
        _check_fields(kind, owner, content_id, merge_into_id)
        target = _merge_target(session, merge_into_id, topic) if kind == "merge" else None
        if topic.merged_into_id is not None and not (target is not None and topic.merged_into_id == target.id):
            raise ConflictError(f"topic {topic.id} was merged into topic {topic.merged_into_id}; "
                                "decide on that one")
        record = session.scalar(select(ReviewDecision).where(ReviewDecision.week == str(week),
                                                             ReviewDecision.topic_id == topic.id))
        previous = record.decision if record is not None else None
        _apply(kb, session, topic, kind, owner, content_id, target, user, now)
        topic = get_topic(session, topic_id)
        if record is None:
            record = ReviewDecision(week=str(week), topic_id=topic.id)
            session.add(record)
        record.decision, record.note = kind, note_text
        record.owner_id = owner.id if owner is not None else None
        record.content_id = topic.answer_content_id if kind == "answered" else None
        record.merge_into_id = target.id if target is not None else None
        record.decided_by_id = user.id if user is not None else None
        record.decided_at = now
        topic_history.record(session, topic, "review", user=user, old=previous, new=kind, at=now, week=str(week),
                             note=note_text, owner=owner.email if owner else None)
        session.flush()
        session.refresh(record)
        content = session.get(Content, record.content_id) if record.content_id else None
        return decision_dict(record, topic, content, target)
