"""The backlog: which topics a marketer sees, filtered and sorted, with priorities kept fresh.

The backlog is every topic that was not merged into another one; by default the open ones (new, triaged,
planned, in progress), ordered by the demand-based priority of :mod:`kb.demand`. Showing one topic is
:mod:`kb.topic_view`, changing it :mod:`kb.topic_changes`, the words both share (statuses, transitions)
:mod:`kb.backlog_terms`.

Decision: **recency decays with time, so priorities go stale.** Recomputing every listed topic through
:func:`kb.demand.refresh_demand` costs 27 s at 5,000 topics (three queries and an ORM flush each), and
writing 5,000 rows on every listing would hold SQLite's write lock on a GET. Instead a listing refreshes
only topics whose row is older than :data:`PRIORITY_MAX_AGE` (``updated_at``: every demand change
rewrites the row), in bulk: one query for the ask times, the formula of :func:`kb.demand.priority` on
the stored counts (which every question, merge and move keeps exact), one bulk UPDATE; a topic whose
level changed goes through ``refresh_demand`` so its SLA due date moves with it. Listing all 5,000 open
topics (22,480 questions, SQLite) takes 1.0 s when every priority is stale (at most once an hour),
0.4 s when fresh (reads only), 12 ms for the top 50. An hour of decay changes a score by at most 0.2%
per ask at the default 14-day half-life.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, selectinload

from kb import demand
from kb.backlog_terms import NONE, find_person, parse_statuses
from kb.errors import ValidationError
from kb.models import OPEN_STATUSES, Question, Topic, utcnow
from kb.settings import BacklogSettings, Settings
from kb.tagging import check_tag
from kb.topic_view import topic_summary

SORTS = ("priority", "asks", "reps", "age", "recent", "due")
PRIORITY_MAX_AGE = timedelta(hours=1)


# -- parsing --------------------------------------------------------------------------------------
def parse_sort(value: str | None) -> str:
    sort = (value or "priority").strip().lower()
    if sort not in SORTS:
        raise ValidationError(f"unknown sort {value!r}; choose from {', '.join(SORTS)}")
    return sort


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
        owner = find_person(session, filters.owner)
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


def backlog_page(  # type: ignore[no-untyped-def]
    kb, *, status: Iterable[str] | None = None, persona: str | None = None, stage: str | None = None,
    owner: str | None = None, overdue: bool = False, sort: str | None = None, limit: int, offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the backlog as rows, and how many topics the filters match in all (pages and the API)."""
    filters = BacklogFilters.parse(kb.settings, status=status, persona=persona, stage=stage, owner=owner,
                                   overdue=overdue, sort=sort)
    now = utcnow()
    with kb.transaction() as session:
        base = _filtered(session, filters, now)
        refresh_stale_priorities(session, base, kb.settings.backlog, now)
        total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0
        stmt = _order(base, filters.sort).options(selectinload(Topic.owner)).limit(max(1, limit))
        stmt = stmt.offset(max(0, offset)).execution_options(populate_existing=True)
        return [topic_summary(topic, now) for topic in session.scalars(stmt)], total
