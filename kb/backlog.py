"""The backlog: listing, showing and triaging topics (status, owner, tags, title, due date, notes, answer).

The backlog is every topic that was not merged into another one; by default the open ones (new, triaged,
planned, in progress), ordered by the demand-based priority of :mod:`kb.demand` (the formula and its
parts are shown by :func:`show_topic`, never hidden). Every change a marketer makes goes through
:func:`update_topic`, which checks it, applies it and writes one history event per changed field (who,
when, old value, new value).

Decisions:

- **Status transitions are an explicit table** (:data:`TRANSITIONS`), so the workflow is readable in one
  place and a refused move names the allowed ones. Closing sets ``closed_at``; reopening (a closed topic
  back to new or triaged) clears it and the answer it had.
- **Published and answered-by-existing need the answering content** (id or URL, stored in the knowledge
  base): the reps who asked are told where the answer is, once, when the topic closes.
- **Recency decays with time, so priorities go stale.** Recomputing every listed topic through
  :func:`kb.demand.refresh_demand` costs 27 s at 5,000 topics (three queries and an ORM flush each), and
  writing 5,000 rows on every listing would hold SQLite's write lock on a GET. Instead a listing refreshes
  only topics whose row is older than :data:`PRIORITY_MAX_AGE` (``updated_at``: every demand change
  rewrites the row), in bulk: one query for the ask times, the formula of :func:`kb.demand.priority` on
  the stored counts (which every question, merge and move keeps exact), one bulk UPDATE; a topic whose
  level changed goes through ``refresh_demand`` so its SLA due date moves with it. Listing all 5,000 open
  topics (22,480 questions, SQLite) takes 1.0 s when every priority is stale (at most once an hour),
  0.4 s when fresh (reads only), 12 ms for the top 50. An hour of decay changes a score by at most 0.2%
  per ask at the default 14-day half-life.
- **A marketer's tags win for good**: a persona or stage set here is stored with source "marketer", which
  :func:`kb.tagging.apply_tags` never overwrites with a rep's tag or a suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, selectinload

from kb import demand, topic_history
from kb.content import find_content
from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    TOPIC_STATUSES,
    Content,
    Passage,
    Question,
    Topic,
    TopicNote,
    TopicRejection,
    User,
    utcnow,
)
from kb.settings import BacklogSettings, Settings
from kb.tagging import apply_tags, check_tag
from kb.users import find_user, get_user

# From each status, where a marketer may move a topic. Forward moves may skip steps (a quick answer does
# not need planning); "published" means content was made for the topic, so it follows planning or work;
# a closed topic can only be reopened, to new or triaged.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("triaged", "planned", "in_progress", "answered_existing", "wont_do"),
    "triaged": ("new", "planned", "in_progress", "answered_existing", "wont_do"),
    "planned": ("triaged", "in_progress", "published", "answered_existing", "wont_do"),
    "in_progress": ("planned", "published", "answered_existing", "wont_do"),
    "published": ("new", "triaged"),
    "answered_existing": ("new", "triaged"),
    "wont_do": ("new", "triaged"),
}
ANSWERED_STATUSES = ("published", "answered_existing")
OWNER_ROLES = ("marketer", "admin")
SORTS = ("priority", "asks", "reps", "age", "recent", "due")
CHANGE_KEYS = ("status", "owner", "persona", "stage", "title", "due", "note", "answer")
PRIORITY_MAX_AGE = timedelta(hours=1)
MAX_NOTE_CHARS = 10_000
NONE = "none"  # the filter value for "no owner / no persona / no stage"

# The spellings people type for statuses, mapped to the stored names.
_STATUS_ALIASES = {"answered_by_existing": "answered_existing", "answered": "answered_existing",
                   "inprogress": "in_progress", "wontdo": "wont_do"}
_STATUS_GROUPS = {"all": TOPIC_STATUSES, "open": OPEN_STATUSES, "closed": CLOSED_STATUSES}


# -- parsing --------------------------------------------------------------------------------------
def parse_status(value: str) -> str:
    """A status as stored, from what a person types ("In progress", "won't-do", "answered-by-existing")."""
    key = str(value).strip().lower().replace("'", "").replace("-", "_").replace(" ", "_")
    key = _STATUS_ALIASES.get(key, key)
    if key not in TOPIC_STATUSES:
        raise ValidationError(f"unknown status {value!r}; choose from {', '.join(TOPIC_STATUSES)}")
    return key


def parse_statuses(values: Iterable[str] | None) -> tuple[str, ...]:
    """Statuses to list: names (repeated or comma-separated), or all / open / closed; nothing: the open ones."""
    found: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            group = _STATUS_GROUPS.get(part.lower())
            found.extend(group if group else (parse_status(part),))
    return tuple(dict.fromkeys(found)) or OPEN_STATUSES


def parse_sort(value: str | None) -> str:
    sort = (value or "priority").strip().lower()
    if sort not in SORTS:
        raise ValidationError(f"unknown sort {value!r}; choose from {', '.join(SORTS)}")
    return sort


def parse_due(value: str) -> date | None:
    """A due date ``YYYY-MM-DD``, or None for "sla" (back to the date the SLA gives)."""
    text = str(value).strip()
    if text.lower() == "sla":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"due date must be YYYY-MM-DD or 'sla', got {value!r}") from None


@dataclass(frozen=True)
class BacklogFilters:
    """What to list. persona / stage / owner: a name (an e-mail for owner) or "none" for untagged/unowned."""

    statuses: tuple[str, ...] = OPEN_STATUSES
    persona: str | None = None
    stage: str | None = None
    owner: str | None = None
    overdue: bool = False
    sort: str = "priority"
    limit: int | None = None

    @classmethod
    def parse(
        cls, settings: Settings, *, status: Iterable[str] | None = None, persona: str | None = None,
        stage: str | None = None, owner: str | None = None, overdue: bool = False, sort: str | None = None,
        limit: int | str | None = None,
    ) -> BacklogFilters:
        """Checked filters from what the CLI or a query string gave (bad values: ValidationError)."""
        return cls(
            statuses=parse_statuses(status),
            persona=_tag_filter(settings, "persona", persona),
            stage=_tag_filter(settings, "stage", stage),
            owner=(owner.strip().lower() or None) if owner else None,
            overdue=bool(overdue),
            sort=parse_sort(sort),
            limit=_parse_limit(limit),
        )


def _tag_filter(settings: Settings, kind: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if value.strip().lower() == NONE:
        return NONE
    return check_tag(settings, kind, value)


def _parse_limit(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"limit must be a whole number, got {value!r}") from None
    if limit < 1:
        raise ValidationError("limit must be at least 1")
    return limit


# -- listing --------------------------------------------------------------------------------------
def _filtered(session: Session, filters: BacklogFilters, now: datetime) -> Select[tuple[Topic]]:
    stmt = select(Topic).where(Topic.merged_into_id.is_(None), Topic.status.in_(filters.statuses))
    for column, value in ((Topic.persona, filters.persona), (Topic.stage, filters.stage)):
        if value == NONE:
            stmt = stmt.where(column.is_(None))
        elif value is not None:
            stmt = stmt.where(column == value)
    if filters.owner == NONE:
        stmt = stmt.where(Topic.owner_id.is_(None))
    elif filters.owner is not None:
        owner = _find_user(session, filters.owner)
        if owner is None:
            raise ValidationError(f"no user {filters.owner!r} to filter by owner")
        stmt = stmt.where(Topic.owner_id == owner.id)
    if filters.overdue:
        stmt = stmt.where(Topic.status.in_(OPEN_STATUSES), Topic.due_at.is_not(None), Topic.due_at < now)
    return stmt


def _order(stmt: Select[tuple[Topic]], sort: str) -> Select[tuple[Topic]]:
    orders = {
        "priority": (Topic.priority.desc(), Topic.last_asked_at.desc().nulls_last()),
        "asks": (Topic.ask_count.desc(), Topic.priority.desc()),
        "reps": (Topic.rep_count.desc(), Topic.priority.desc()),
        "age": (Topic.created_at.asc(),),  # oldest first: what has waited longest
        "recent": (Topic.last_asked_at.desc().nulls_last(), Topic.priority.desc()),
        "due": (Topic.due_at.asc().nulls_last(), Topic.priority.desc()),
    }
    return stmt.order_by(*orders[sort], Topic.id)


def list_topics(
    session: Session, settings: Settings, filters: BacklogFilters, *, now: datetime | None = None
) -> list[Topic]:
    """The backlog as ``filters`` asks, sorted; stale priorities are refreshed first (see the docstring)."""
    now = now or utcnow()
    base = _filtered(session, filters, now)
    refresh_stale_priorities(session, base, settings.backlog, now)
    stmt = _order(base, filters.sort).options(selectinload(Topic.owner))
    if filters.limit is not None:
        stmt = stmt.limit(filters.limit)
    # populate_existing: the bulk UPDATE above bypasses objects already loaded in this session.
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def refresh_stale_priorities(
    session: Session, topics: Select[tuple[Topic]], cfg: BacklogSettings, now: datetime | None = None
) -> int:
    """Recompute the priority of the selected topics last written before ``now - PRIORITY_MAX_AGE``."""
    now = now or utcnow()
    session.flush()
    stale_ids = list(session.scalars(
        topics.with_only_columns(Topic.id).where(Topic.updated_at < now - PRIORITY_MAX_AGE).order_by(None)
    ))
    for start in range(0, len(stale_ids), 500):
        chunk = stale_ids[start:start + 500]
        times: dict[int, list[datetime]] = {}
        for topic_id, asked_at in session.execute(
            select(Question.topic_id, Question.asked_at).where(Question.topic_id.in_(chunk))
        ):
            times.setdefault(topic_id, []).append(asked_at)
        rows, level_changed = [], []
        for topic_id, asks, reps, searches, deal, level in session.execute(
            select(Topic.id, Topic.ask_count, Topic.rep_count, Topic.search_count, Topic.deal_value,
                   Topic.priority_level).where(Topic.id.in_(chunk))
        ):
            result = demand.priority(asks, reps, times.get(topic_id, []), searches, deal or 0.0, cfg, now)
            if result.level != level:
                level_changed.append(topic_id)
            else:
                rows.append({"id": topic_id, "priority": result.score, "updated_at": now})
        if rows:
            session.execute(update(Topic), rows)
        for topic_id in level_changed:  # rare: the SLA due date moves with the level
            topic = session.get(Topic, topic_id)
            if topic is not None:
                demand.refresh_demand(session, topic, cfg, now)
                topic.updated_at = now
    session.flush()
    return len(stale_ids)


# -- rendering ------------------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return demand.as_utc(moment).isoformat() if moment is not None else None


def is_overdue(topic: Topic, now: datetime | None = None) -> bool:
    """An open topic past its due date (closed topics are never overdue)."""
    if topic.due_at is None or topic.status not in OPEN_STATUSES or topic.merged_into_id is not None:
        return False
    return demand.as_utc(topic.due_at) < (now or utcnow())


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
        "first_asked_at": _iso(topic.first_asked_at),
        "last_asked_at": _iso(topic.last_asked_at),
        "created_at": _iso(topic.created_at),
        "closed_at": _iso(topic.closed_at),
        "merged_into_id": topic.merged_into_id,
        "has_suggestion": topic.suggested_content_id is not None,
    }


def _content_dict(session: Session, content_id: int | None, passage_id: int | None = None,
                  confidence: float | None = None) -> dict[str, Any] | None:
    content = session.get(Content, content_id) if content_id else None
    if content is None:
        return None
    passage = session.get(Passage, passage_id) if passage_id else None
    url = content.canonical_url
    if passage is not None and passage.start_seconds is not None:
        url = f"{url}#t={int(passage.start_seconds)}"
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
    topic = session.get(Topic, topic_id)
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
                                    topic.suggested_confidence),
        "answer": _content_dict(session, topic.answer_content_id, topic.answer_passage_id, topic.answer_confidence),
        "rejected": [
            {"content_id": content.id, "url": content.canonical_url, "title": content.title,
             "user": rejected_by.get(rejection.user_id), "at": _iso(rejection.at)}
            for rejection, content in rejections
        ],
        "merged_from": merged_from,
    }


# -- changing -------------------------------------------------------------------------------------
def _find_user(session: Session, email_or_id: str) -> User | None:
    if str(email_or_id).isdigit():
        return session.get(User, int(email_or_id))
    try:
        return find_user(session, email_or_id)
    except ValidationError:
        return None


def acting_user(session: Session, email: str | None) -> User | None:
    """Who makes a change: None for nobody named; an unknown e-mail is not found (404 / exit 3)."""
    if email is None or not str(email).strip():
        return None
    user = get_user(session, str(email).strip())
    if not user.active:
        raise ValidationError(f"user {user.email} is deactivated")
    return user


def _owner(session: Session, value: Any) -> User | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", NONE)):
        return None
    user = _find_user(session, str(value).strip())
    if user is None:
        raise ValidationError(f"no user {value!r} to own the topic")
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
        values["owner"] = _owner(session, changes["owner"])
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
def backlog_rows(  # type: ignore[no-untyped-def]
    kb, *, status: Iterable[str] | None = None, persona: str | None = None, stage: str | None = None,
    owner: str | None = None, overdue: bool = False, sort: str | None = None, limit: int | str | None = None,
) -> list[dict[str, Any]]:
    """The backlog as rows, from unchecked filter values (a write transaction: stale priorities are refreshed)."""
    filters = BacklogFilters.parse(kb.settings, status=status, persona=persona, stage=stage, owner=owner,
                                   overdue=overdue, sort=sort, limit=limit)
    now = utcnow()
    with kb.transaction() as session:
        return [topic_summary(topic, now) for topic in list_topics(session, kb.settings, filters, now=now)]


def topic_details(kb, topic_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return show_topic(session, kb.settings, topic_id)


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
