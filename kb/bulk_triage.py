"""Triage from the marketer's pages: many topics at once (assign, tag, change status, merge) and the
one-topic triage form, plus the choices those forms offer.

Built on :mod:`kb.topic_changes` (every change to one topic) and :mod:`kb.topic_merge`; nothing here
changes a topic any other way, so history, demand and notifications behave exactly as for one change.

Decisions:

- **A bulk change is one transaction with a savepoint per topic.** One topic refusing the change (a
  status it cannot move to from where it is, a topic merged meanwhile) rolls back that topic only and is
  reported with its reason; the others are applied ("2 updated, 1 failed: #12 ..."). Mistakes in the
  change itself (an unknown field, persona or status) are the same for every topic, so they refuse the
  whole request before anything is touched.
- **A bulk merge is all or nothing**: merging is one decision ("these are the same topic"), so a topic
  that cannot be merged stops it and nothing is merged.
- **The triage form only changes what the marketer changed.** A form sends every field; re-sending a
  suggested persona unchanged must not turn it into the marketer's own tag (which suggestions never
  overwrite), so only fields whose value differs from the topic's are applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.backlog import backlog_page
from kb.backlog_terms import NONE, parse_status
from kb.demand import as_utc
from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import TOPIC_STATUSES, Topic, User
from kb.settings import Settings
from kb.tagging import check_tag
from kb.topic_changes import CHANGE_KEYS, OWNER_ROLES, acting_user, parse_due, update_topic
from kb.topic_merge import merge_topics
from kb.topic_view import MAX_ROW_ID, get_topic, show_topic, topic_summary

BULK_KEYS = ("status", "owner", "persona", "stage", "due", "answer", "note")
FORM_KEYS = ("status", "owner", "persona", "stage", "due", "title", "answer")
MAX_BULK_TOPICS = 200


# -- parsing --------------------------------------------------------------------------------------
def parse_ids(values: Iterable[Any] | None, name: str = "ids") -> list[int]:
    """Topic ids from a form (text) or JSON (whole numbers), in the order given, each once."""
    if values is None or isinstance(values, str | bytes | Mapping):
        raise ValidationError(f"{name} must be a list of topic ids")
    ids: list[int] = []
    for value in values:
        if isinstance(value, bool):
            raise ValidationError(f"{name} must be topic ids (whole numbers), got {value!r}")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or not 0 < value <= MAX_ROW_ID:
            raise ValidationError(f"{name} must be topic ids (whole numbers), got {value!r}")
        if value not in ids:
            ids.append(value)
    if not ids:
        raise ValidationError("select at least one topic")
    if len(ids) > MAX_BULK_TOPICS:
        raise ValidationError(f"at most {MAX_BULK_TOPICS} topics at once, got {len(ids)}")
    return ids


def _check_bulk_changes(settings: Settings, changes: Any) -> dict[str, Any]:
    """The same check for every topic, done once: known fields, known statuses, tags and dates."""
    if not isinstance(changes, Mapping):
        raise ValidationError("changes must be an object of fields to change")
    unknown = sorted(set(changes) - set(BULK_KEYS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(BULK_KEYS)}")
    if not changes:
        raise ValidationError(f"nothing to change; fields: {', '.join(BULK_KEYS)}")
    for key, value in changes.items():
        if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
            raise ValidationError(f"{key} must be text")
    checked = dict(changes)
    if "status" in checked:
        if checked["status"] is None:
            raise ValidationError(f"status must be one of {', '.join(TOPIC_STATUSES)}")
        checked["status"] = parse_status(str(checked["status"]))
    for kind in ("persona", "stage"):
        raw = checked.get(kind)
        if raw is not None and str(raw).strip().lower() not in ("", NONE):
            checked[kind] = check_tag(settings, kind, str(raw))  # type: ignore[arg-type]
    if checked.get("due") is not None:
        parse_due(str(checked["due"]))
    return checked


# -- many topics at once --------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicOutcome:
    """What became of one topic of a bulk change: its row as it is now, or why it was refused."""

    id: int
    ok: bool
    code: str | None = None
    message: str | None = None
    topic: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"id": self.id, "ok": True, "topic": self.topic}
        return {"id": self.id, "ok": False, "error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class BulkResult:
    outcomes: list[TopicOutcome] = field(default_factory=list)

    @property
    def updated(self) -> list[int]:
        return [o.id for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[TopicOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        """"2 updated, 1 failed: #12 topic 12 cannot go from new to published; ..." (one line for a message)."""
        text = f"{len(self.updated)} updated"
        if self.failed:
            text += f", {len(self.failed)} failed: " + "; ".join(f"#{o.id} {o.message}" for o in self.failed)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"results": [o.to_dict() for o in self.outcomes], "updated": self.updated,
                "failed": [o.id for o in self.failed], "summary": self.summary()}


def bulk_change(kb, ids: Iterable[Any], changes: Any, *,  # type: ignore[no-untyped-def]
                user_email: str | None = None) -> BulkResult:
    """Apply the same ``changes`` to every topic of ``ids`` as ``user_email`` (see the module docstring)."""
    topic_ids = parse_ids(ids)
    checked = _check_bulk_changes(kb.settings, changes)
    outcomes: list[TopicOutcome] = []
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        for topic_id in topic_ids:
            try:
                with session.begin_nested():
                    topic = update_topic(kb, session, topic_id, checked, user=user)
            except (ValidationError, ConflictError, NotFoundError) as exc:
                outcomes.append(TopicOutcome(topic_id, False, exc.code, exc.message))
            else:
                outcomes.append(TopicOutcome(topic_id, True, topic=topic_summary(topic)))
    return BulkResult(outcomes)


def merge_selected(kb, ids: Iterable[Any], *, into: Any = None,  # type: ignore[no-untyped-def]
                   user_email: str | None = None) -> dict[str, Any]:
    """Merge the selected topics into ``into`` (default: the first selected), all or nothing."""
    topic_ids = parse_ids(ids)
    target_id = parse_ids([into], "into")[0] if into not in (None, "") else topic_ids[0]
    sources = [topic_id for topic_id in topic_ids if topic_id != target_id]
    if not sources:
        raise ValidationError("select at least two topics to merge (or one and a different topic to merge into)")
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        target = None
        for source_id in sources:
            target = merge_topics(kb, session, source_id, target_id, user=user)
        return {"target": topic_summary(target), "merged": sources}  # type: ignore[arg-type]


# -- the one-topic triage form --------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or str(value).strip().lower() in ("", NONE)


def form_changes(topic: Topic, submitted: Mapping[str, str]) -> dict[str, Any]:
    """The fields of a submitted triage form (:data:`FORM_KEYS`) whose value differs from ``topic``'s."""
    changes: dict[str, Any] = {}
    if "title" in submitted and " ".join(str(submitted["title"]).split()) != topic.title:
        changes["title"] = submitted["title"]
    if "status" in submitted and str(submitted["status"]).strip() not in ("", topic.status):
        changes["status"] = submitted["status"]
    if "owner" in submitted:
        current = topic.owner.email if topic.owner is not None else None
        wanted = None if _blank(submitted["owner"]) else str(submitted["owner"]).strip().lower()
        if wanted != current:
            changes["owner"] = wanted
    for kind in ("persona", "stage"):
        if kind in submitted:
            wanted = None if _blank(submitted[kind]) else str(submitted[kind]).strip()
            if (wanted or "").lower() != (getattr(topic, kind) or "").lower():
                changes[kind] = wanted
    if "due" in submitted:
        wanted = str(submitted["due"]).strip()
        current = as_utc(topic.due_at).date().isoformat() if topic.due_at is not None else ""
        if wanted.lower() == "sla" or (not wanted and topic.due_source == "manual"):
            if topic.due_source == "manual":
                changes["due"] = "sla"
        elif wanted and wanted != current:
            changes["due"] = wanted
    if str(submitted.get("answer", "")).strip():  # the content answering it, for a move to an answered status
        changes["answer"] = str(submitted["answer"]).strip()
    return changes


def triage_from_form(kb, topic_id: int, submitted: Mapping[str, str], *,  # type: ignore[no-untyped-def]
                     user_email: str | None = None) -> list[str]:
    """Apply what the marketer changed on the topic page's form; the names of the fields changed."""
    unknown = sorted(set(submitted) - set(FORM_KEYS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(FORM_KEYS)}")
    with kb.transaction() as session:
        user = acting_user(session, user_email)
        changes = form_changes(get_topic(session, topic_id), submitted)
        if changes:
            update_topic(kb, session, topic_id, changes, user=user)
        return sorted(changes)


# -- what the pages show --------------------------------------------------------------------------
def triage_choices(session: Session, settings: Settings) -> dict[str, Any]:
    """What the triage forms offer: owners (active marketers and admins), personas, stages, statuses."""
    owners = session.scalars(select(User.email).where(User.active.is_(True), User.role.in_(OWNER_ROLES))
                             .order_by(User.email))
    return {"owners": list(owners), "personas": [tag.name for tag in settings.personas],
            "stages": [tag.name for tag in settings.stages], "statuses": list(TOPIC_STATUSES),
            "change_keys": list(CHANGE_KEYS)}


def backlog_screen(kb, *, limit: int, offset: int = 0, **filters: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The backlog page: one page of rows (filters as :func:`kb.backlog.backlog_page`), the total, the choices."""
    rows, total = backlog_page(kb, limit=limit, offset=offset, **filters)
    with kb.sessions() as session:
        return {"topics": rows, "total": total, "choices": triage_choices(session, kb.settings)}


def topic_screen(kb, topic_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The topic page: everything :func:`kb.topic_view.show_topic` gives, and the triage choices."""
    with kb.sessions() as session:
        return {"topic": show_topic(session, kb.settings, topic_id), "choices": triage_choices(session, kb.settings)}

