"""Recording what people do with content: searches, clicks, copies, "I sent this", feedback on matches.

:func:`record_event` is the one entry point that writes a single :class:`kb.models.UsageEvent`, and
:func:`record_search` the one for searches (one row per search; its results are the impressions). Reports
read daily roll-ups of them (kb.usage_rollup, kb.usage_counts), so callers never aggregate the table
themselves. Writes are synchronous and fail-safe rather than buffered in memory: a buffer would lose events
whenever a worker process is killed, and one small INSERT under a short lock wait costs the person nothing
measurable. :func:`record_action` is
what the pages and the API call for a rep's action: it checks a request's fields (only the four kinds a
person triggers, typed values, the feedback's answer) and hands them on.

Rules, and why:

- **Bad input is the caller's error.** An unknown kind, a missing or unknown content, a passage of
  another content, a question that is not the caller's: ValidationError or NotFoundError, raised before
  anything is written, so the page or API says what was wrong.
- **Bookkeeping never breaks the action.** A rep who copied a link has the link whatever the database
  does: a database error while recording is logged and swallowed (the result is None, "not recorded").
- **Bounded.** The query is cut to :data:`MAX_QUERY_CHARS`; the free-form detail is a small JSON object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.errors import NotFoundError, ValidationError
from kb.models import USAGE_KINDS, Content, Passage, Question, Topic, UsageEvent, User

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500
MAX_DETAIL_CHARS = 2000
# What a person records from the pages and the API. Searches (record_search) and clicks (record_event
# from the view that opens a result) are recorded by the app itself.
ACTION_KINDS = ("copy_link", "copy_passage", "sent", "feedback")
ACTION_FIELDS = ("kind", "content_id", "passage_id", "question_id", "query", "answers")
_NEEDS_CONTENT = frozenset(ACTION_KINDS)


def clean_query(query: str | None) -> str | None:
    """Control characters dropped, whitespace collapsed, cut to :data:`MAX_QUERY_CHARS`; blank is None."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise ValidationError("query must be text")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in query).split())
    return text[:MAX_QUERY_CHARS] or None


def _check_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    if detail is None:
        return {}
    if not isinstance(detail, Mapping):
        raise ValidationError("detail must be a JSON object")
    try:
        size = len(json.dumps(dict(detail)))
    except (TypeError, ValueError):
        raise ValidationError("detail must hold only JSON values") from None
    if size > MAX_DETAIL_CHARS:
        raise ValidationError(f"detail is too large ({size} characters; at most {MAX_DETAIL_CHARS})")
    return dict(detail)


def _check_refs(session: Session, kind: str, *, user_id: int | None, content_id: int | None,
                passage_id: int | None, question_id: int | None, topic_id: int | None) -> int | None:
    """Every id names something that exists (NotFoundError); returns the topic id (the question's if not given)."""
    if kind in _NEEDS_CONTENT and content_id is None:
        raise ValidationError(f"a {kind} event needs content_id")
    if content_id is not None and session.get(Content, content_id) is None:
        raise NotFoundError(f"no content {content_id}")
    if passage_id is not None:
        owner = session.scalar(select(Passage.content_id).where(Passage.id == passage_id))
        if owner is None or (content_id is not None and owner != content_id):
            raise NotFoundError(f"no passage {passage_id}" + (f" in content {content_id}" if content_id else ""))
    if question_id is not None:
        question = session.get(Question, question_id)
        # Someone else's question is "not found", exactly as on the pages (never a hint that it exists).
        if question is None or (user_id is not None and question.asked_by_id != user_id):
            raise NotFoundError(f"no question {question_id}")
        topic_id = topic_id if topic_id is not None else question.topic_id
    if topic_id is not None and session.get(Topic, topic_id) is None:
        raise NotFoundError(f"no topic {topic_id}")
    return topic_id


def event_dict(event: UsageEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "at": event.at.isoformat() if event.at else None,
        "user_id": event.user_id,
        "content_id": event.content_id,
        "passage_id": event.passage_id,
        "question_id": event.question_id,
        "topic_id": event.topic_id,
        "query": event.query,
        "detail": event.detail or {},
    }


def add_event(
    session: Session,
    kind: str,
    *,
    user_id: int | None,
    content_id: int | None = None,
    passage_id: int | None = None,
    question_id: int | None = None,
    topic_id: int | None = None,
    query: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> UsageEvent:
    """Add one usage event inside the caller's transaction, checked as :func:`record_event` checks it.

    For writes that already hold a transaction (a tracked-link visit): one transaction instead of two.
    """
    if kind not in USAGE_KINDS:
        raise ValidationError(f"unknown event kind {kind!r}; kinds: {', '.join(USAGE_KINDS)}")
    text = clean_query(query)
    extra = _check_detail(detail)
    topic = _check_refs(session, kind, user_id=user_id, content_id=content_id, passage_id=passage_id,
                        question_id=question_id, topic_id=topic_id)
    event = UsageEvent(kind=kind, user_id=user_id, content_id=content_id, passage_id=passage_id,
                       question_id=question_id, topic_id=topic, query=text, detail=extra)
    session.add(event)
    session.flush()
    return event


def record_event(kb, kind: str, *, user_id: int | None, **refs: Any) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """Write one usage event in its own transaction; its dict, or None when a database problem kept it from
    being stored. ``refs`` are :func:`add_event`'s (content_id, passage_id, question_id, topic_id, query,
    detail), checked the same way; ``question_id`` must be a question of ``user_id`` when a user is given.
    """
    try:
        with kb.transaction() as session:
            return event_dict(add_event(session, kind, user_id=user_id, **refs))
    except SQLAlchemyError:  # the rep's copy or send already happened; losing its record must not undo it
        log.warning("usage event %s on content %s not recorded", kind, refs.get("content_id"), exc_info=True)
        return None


MAX_RESULTS_RECORDED = 100  # search.max_k: every result a search can show


def record_search(
    kb,  # type: ignore[no-untyped-def]
    user_id: int | None,
    query: str | None,
    filters: Any,
    result_ids: Iterable[int],
    *,
    question_id: int | None = None,
    user_email: str | None = None,
) -> bool:
    """Record one search a person made: ``query``, ``filters`` (a SearchFilters or a dict) and the content ids
    shown, in ranking order; True when stored. Called by every search path that serves a person (the search
    page and API, ``kb search``, ``kb ask`` and question intake), never by evaluations or benchmarks.

    One row per search: the impressions are ``detail["results"]``, expanded into per-content counts by the
    daily roll-up (kb.usage_rollup), so a search costs one small INSERT rather than one per result shown.
    The write never fails or slows the search: it is one statement in its own short transaction that waits
    at most a quarter second for SQLite's write lock (a crawl may hold it), and any error at all is logged
    and dropped. ``question_id``: the question this search answered (its asker is the user when none given);
    ``user_email``: who searched, when the caller knows an address rather than an id (``kb search --as``).
    """
    try:
        results = [int(cid) for cid in result_ids][:MAX_RESULTS_RECORDED]
        shown = filters.to_dict() if hasattr(filters, "to_dict") else dict(filters or {})
        detail: dict[str, Any] = {"filters": shown, "results": results}
        if len(json.dumps(detail, default=str)) > MAX_DETAIL_CHARS:
            detail = {"filters": {"truncated": True}, "results": results}
        detail = json.loads(json.dumps(detail, default=str))  # dates in filters as text: the column is JSON
        text = clean_query(query) if isinstance(query, str) else None
        with kb.transaction(brief=True) as session:
            topic_id = None
            if user_id is None and user_email:
                user_id = session.scalar(select(User.id).where(User.email == user_email.strip().lower()))
            if question_id is not None:
                asked = session.execute(select(Question.asked_by_id, Question.topic_id)
                                        .where(Question.id == question_id)).first()
                if asked is None:
                    question_id = None
                else:
                    user_id = user_id if user_id is not None else asked[0]
                    topic_id = asked[1]
            session.add(UsageEvent(kind="search", user_id=user_id, question_id=question_id, topic_id=topic_id,
                                   query=text, detail=detail))
            session.flush()  # the INSERT takes the write lock here, under the short wait
        return True
    except Exception:  # noqa: BLE001 - the person's search already has its results; losing its record must not undo it
        log.warning("search event for %r not recorded", query, exc_info=True)
        return False


def _whole_number(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"'{name}' must be an id (a whole number above zero)")
    return value


def record_action(kb, user_id: int, body: Any) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """A rep's action from a request body: ``kind`` (one of :data:`ACTION_KINDS`), ``content_id``, and
    optionally ``passage_id``, ``question_id``, ``query``; a feedback also needs ``answers`` (true/false)."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(ACTION_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(ACTION_FIELDS)}")
    kind = body.get("kind")
    if kind not in ACTION_KINDS:
        raise ValidationError(f"unknown event kind {kind!r}; kinds: {', '.join(ACTION_KINDS)}")
    detail: dict[str, Any] = {}
    if kind == "feedback":
        if not isinstance(body.get("answers"), bool):
            raise ValidationError("a feedback event needs 'answers': true (it answers) or false (it doesn't)")
        detail["answers"] = body["answers"]
    elif "answers" in body:
        raise ValidationError("'answers' belongs to feedback events only")
    return record_event(kb, kind, user_id=user_id, content_id=_whole_number(body, "content_id"),
                        passage_id=_whole_number(body, "passage_id"),
                        question_id=_whole_number(body, "question_id"), query=body.get("query"), detail=detail)


def content_use_counts(kb, content_ids: Iterable[int]) -> dict[int, dict[str, int]]:  # type: ignore[no-untyped-def]
    """content id -> {kind: events} for the given contents (contents without events are left out)."""
    wanted = sorted(set(content_ids))
    if not wanted:
        return {}
    counts: dict[int, dict[str, int]] = {}
    with kb.sessions() as session:
        rows = session.execute(
            select(UsageEvent.content_id, UsageEvent.kind, func.count())
            .where(UsageEvent.content_id.in_(wanted))
            .group_by(UsageEvent.content_id, UsageEvent.kind)
        )
        for content_id, kind, count in rows:
            counts.setdefault(content_id, {})[kind] = int(count)
    return counts
