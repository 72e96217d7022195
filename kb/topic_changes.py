"""Changing a topic: every edit a marketer makes (status, owner, tags, title, due date, note, answer) goes
through :func:`update_topic`, which checks it, applies it and writes one history event per changed field
(who, when, old value, new value).

Separate from listing (:mod:`kb.backlog`) and showing (:mod:`kb.topic_view`): this is the only module that
writes a marketer's decisions, so its checks and side effects (history, demand, notifications) are in one
place.

Decisions:

- **Status moves follow the table** :data:`kb.backlog_terms.TRANSITIONS`; a refused move is a ConflictError
  naming the allowed ones. Closing sets ``closed_at``; reopening (a closed topic back to new or triaged)
  clears it and the answer it had.
- **Published and answered-by-existing need the answering content** (id or URL, stored in the knowledge
  base): the reps who asked are told where the answer is, once, when the topic closes.
- **A marketer's tags win for good**: a persona or stage set here is stored with source "marketer", which
  :func:`kb.tagging.apply_tags` never overwrites with a rep's tag or a suggestion.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import demand, topic_history
from kb.backlog_terms import ANSWERED_STATUSES, NONE, TRANSITIONS, find_person, parse_status
from kb.content import find_content
from kb.errors import ConflictError, ValidationError
from kb.models import CLOSED_STATUSES, OPEN_STATUSES, TOPIC_STATUSES, Content, Topic, TopicNote, User, utcnow
from kb.settings import BacklogSettings, Settings
from kb.tagging import apply_tags, check_tag
from kb.topic_view import get_topic, note_dict, show_topic
from kb.users import get_user

OWNER_ROLES = ("marketer", "admin")
CHANGE_KEYS = ("status", "owner", "persona", "stage", "title", "due", "note", "answer")
MAX_NOTE_CHARS = 10_000


def parse_due(value: str) -> date | None:
    """A due date ``YYYY-MM-DD``, or None for "sla" (back to the date the SLA gives)."""
    text = str(value).strip()
    if text.lower() == "sla":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"due date must be YYYY-MM-DD or 'sla', got {value!r}") from None


def acting_user(session: Session, email: str | None) -> User | None:
    """Who makes a change: None for nobody named; an unknown e-mail is not found (404 / exit 3)."""
    if email is None or not str(email).strip():
        return None
    user = get_user(session, str(email).strip())
    if not user.active:
        raise ValidationError(f"user {user.email} is deactivated")
    return user


def owner_from(session: Session, value: Any) -> User | None:
    """The user an ``owner`` value (e-mail or id; empty or "none": nobody) names, who must be able to own
    topics (an active marketer or admin); the backlog's triage and the weekly review share this rule."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", NONE)):
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError("owner must be an e-mail address or a user id")
    user = find_person(session, str(value).strip())
    if user is None:
        raise ValidationError(f"no user {str(value)[:80]!r} to own the topic")
    if not user.active or user.role not in OWNER_ROLES:
        raise ValidationError(f"{user.email} cannot own topics: owners are active {' or '.join(OWNER_ROLES)}s")
    return user


def _answer_content(session: Session, value: Any) -> Content:
    """The content answering a topic, by id or by URL (canonical or an alias), live in the knowledge base."""
    text = str(value).strip()
    if not text:
        raise ValidationError("answer must be a content id or URL")
    if text.isdigit():
        content = session.get(Content, int(text))
    else:
        content = find_content(session, [text, text.rstrip("/"), text.rstrip("/") + "/"])
    if content is None:
        raise ValidationError(f"no content {text!r} in the knowledge base (crawl it first, then set the answer)")
    if content.status != "live":
        raise ValidationError(f"content {text!r} is retired; choose content that is online")
    return content


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be non-empty text")
    text = " ".join(value.split()) if name == "title" else value.strip()
    if len(text) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    return text


def _parse_changes(session: Session, settings: Settings, topic: Topic, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes of one update, checked (and owners, tags, content resolved) before anything is applied."""
    if not isinstance(changes, Mapping):
        raise ValidationError("changes must be an object of fields to change")
    unknown = sorted(set(changes) - set(CHANGE_KEYS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(CHANGE_KEYS)}")
    if not changes:
        raise ValidationError(f"nothing to change; fields: {', '.join(CHANGE_KEYS)}")
    for key, value in changes.items():
        if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
            raise ValidationError(f"{key} must be text")
    values: dict[str, Any] = {}
    if "title" in changes:
        values["title"] = _text(changes["title"], "title", settings.questions.max_chars)
    for kind in ("persona", "stage"):
        if kind in changes:
            raw = changes[kind]
            raw = None if raw is None or str(raw).strip().lower() in ("", NONE) else str(raw)
            values[kind] = check_tag(settings, kind, raw)
    if "owner" in changes:
        values["owner"] = owner_from(session, changes["owner"])
    if "due" in changes:
        if changes["due"] is None:
            raise ValidationError("due must be YYYY-MM-DD or 'sla'")
        values["due"] = parse_due(str(changes["due"]))
    if "note" in changes:
        values["note"] = _text(changes["note"], "note", MAX_NOTE_CHARS)
    status = parse_status(str(changes["status"])) if changes.get("status") is not None else topic.status
    if "status" in changes and changes["status"] is None:
        raise ValidationError(f"status must be one of {', '.join(TOPIC_STATUSES)}")
    if status != topic.status and status not in TRANSITIONS[topic.status]:
        raise ConflictError(f"topic {topic.id} cannot go from {topic.status} to {status}; "
                            f"allowed from {topic.status}: {', '.join(TRANSITIONS[topic.status])}")
    if "answer" in changes and changes["answer"] is not None:
        if status not in ANSWERED_STATUSES:
            raise ValidationError(f"an answer goes with status {' or '.join(ANSWERED_STATUSES)}, "
                                  f"not {status}")
        values["answer"] = _answer_content(session, changes["answer"])
    elif "answer" in changes:
        raise ValidationError("answer must be a content id or URL")
    if status != topic.status:
        if status in ANSWERED_STATUSES and "answer" not in values and topic.answer_content_id is None:
            raise ValidationError(f"status {status} needs the answer: the id or URL of the content that answers it")
        values["status"] = status
    return values


def update_topic(kb, session: Session, topic_id: int, changes: Mapping[str, Any], *,  # type: ignore[no-untyped-def]
                 user: User | None = None, now: datetime | None = None) -> Topic:
    """Apply a marketer's ``changes`` (keys: :data:`CHANGE_KEYS`) to a topic; one history event per change.

    Everything is checked before anything changes: a bad value is a ValidationError, a forbidden status
    move a ConflictError naming the allowed ones, an unknown topic a NotFoundError.
    """
    now = now or utcnow()
    settings: Settings = kb.settings
    topic = get_topic(session, topic_id)
    if topic.merged_into_id is not None:
        raise ConflictError(f"topic {topic.id} was merged into topic {topic.merged_into_id}; change that one")
    values = _parse_changes(session, settings, topic, changes)

    def record(action: str, old: Any, new: Any, **detail: Any) -> None:
        topic_history.record(session, topic, action, user=user, old=old, new=new, at=now, **detail)

    if "title" in values and values["title"] != topic.title:
        record("title", topic.title, values["title"])
        topic.title = values["title"]
    for kind in ("persona", "stage"):
        if kind in values:
            _set_tag(topic, kind, values[kind], record)
    new_owner: User | None = values.get("owner")
    if "owner" in values and (new_owner.id if new_owner else None) != topic.owner_id:
        record("owner", topic.owner.email if topic.owner else None, new_owner.email if new_owner else None)
        topic.owner = new_owner
    if "due" in values:
        _set_due(session, settings.backlog, topic, values["due"], record, now)
    if "status" in values or "answer" in values:
        _set_status(kb, session, topic, values.get("status", topic.status), values.get("answer"), record, now)
    if "note" in values:
        note = TopicNote(topic_id=topic.id, user_id=user.id if user else None, at=now, text=values["note"])
        session.add(note)
        session.flush()
        record("note", None, values["note"], note_id=note.id)
    demand.refresh_demand(session, topic, settings.backlog, now)
    session.flush()
    return topic


def _set_tag(topic: Topic, kind: str, value: str | None, record) -> None:  # type: ignore[no-untyped-def]
    old, old_source = getattr(topic, kind), getattr(topic, f"{kind}_source")
    if old == value and old_source == "marketer":
        return
    # Stored as the marketer's: kb.tagging.apply_tags never overwrites it with a rep's tag or a suggestion,
    # and a marketer clearing a tag keeps it clear.
    record(kind, old, value, source="marketer", old_source=old_source)
    if value is not None:
        apply_tags(topic, None, **{kind: value}, source="marketer")
    else:  # apply_tags only sets tags; clearing one is a marketer's decision too
        setattr(topic, kind, None)
        setattr(topic, f"{kind}_confidence", None)
        setattr(topic, f"{kind}_source", "marketer")


def _set_due(session: Session, cfg: BacklogSettings, topic: Topic, due: date | None, record,  # type: ignore[no-untyped-def]
             now: datetime) -> None:
    old = demand.as_utc(topic.due_at).date().isoformat() if topic.due_at else None
    old_source = topic.due_source
    if due is None:  # back to the SLA
        topic.due_source = "sla"
        demand.refresh_demand(session, topic, cfg, now)
    else:  # due by the end of that day (UTC), so a topic due today is not overdue until tomorrow
        topic.due_source = "manual"
        topic.due_at = datetime.combine(due, time(23, 59, 59), tzinfo=UTC)
    new = demand.as_utc(topic.due_at).date().isoformat() if topic.due_at else None
    if (old, old_source) != (new, topic.due_source):
        record("due", old, new, source=topic.due_source, old_source=old_source)


def _set_status(kb, session: Session, topic: Topic, status: str, answer: Content | None,  # type: ignore[no-untyped-def]
                record, now: datetime) -> None:
    from kb.notifications import content_link, deliver_after_commit, notify_askers

    old = topic.status
    had_answer = topic.answer_content_id is not None
    if status != old:
        record("status", old, status)
        topic.status = status
    if status in CLOSED_STATUSES and old in OPEN_STATUSES:
        topic.closed_at = now
        # A pending "possibly answered" suggestion is moot once a marketer has decided.
        topic.suggested_content_id = topic.suggested_passage_id = None
        topic.suggested_confidence = topic.suggested_at = None
    if status in OPEN_STATUSES and old in CLOSED_STATUSES:
        topic.closed_at = None
        if had_answer:  # reopened: the answer it had no longer counts
            old_content = session.get(Content, topic.answer_content_id)
            record("answer", old_content.canonical_url if old_content else None, None,
                   content_id=topic.answer_content_id)
            topic.answer_content_id = topic.answer_passage_id = topic.answer_confidence = None
            notify_askers(session, topic, "reopened",
                          f'Your question "{topic.title}" is open again: marketing reopened it.',
                          content_id=None)
    if answer is not None and answer.id != topic.answer_content_id:
        old_content = session.get(Content, topic.answer_content_id) if topic.answer_content_id else None
        record("answer", old_content.canonical_url if old_content else None, answer.canonical_url,
               content_id=answer.id, content_title=answer.title)
        topic.answer_content_id, topic.answer_passage_id, topic.answer_confidence = answer.id, None, None
    if status in ANSWERED_STATUSES and old in OPEN_STATUSES:
        content = session.get(Content, topic.answer_content_id)
        link = content_link(content)
        created = notify_askers(session, topic, "answered",
                                f'Your question "{topic.title}" has an answer: "{content.title}" {link}',
                                content_id=content.id)
        deliver_after_commit(kb, session, created)


# -- what the CLI and the API call ----------------------------------------------------------------
def change_topic(kb, topic_id: int, changes: Mapping[str, Any], *,  # type: ignore[no-untyped-def]
                 user_email: str | None = None) -> dict[str, Any]:
    """Apply ``changes`` as ``user_email`` (unknown e-mail: not found) and return the topic as shown."""
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        topic = update_topic(kb, session, topic_id, changes, user=user)
        return show_topic(session, kb.settings, topic.id)


def add_note(kb, topic_id: int, text: Any, *, user_email: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Add a note to a topic; the note as a dict."""
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        update_topic(kb, session, topic_id, {"note": text}, user=user)
        note = session.scalars(select(TopicNote).where(TopicNote.topic_id == topic_id)
                               .order_by(TopicNote.id.desc()).limit(1)).one()
        return note_dict(note)
