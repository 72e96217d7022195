"""The agenda of the weekly smarketing review: what sales and marketing look at together for one week.

Sections, each one SQL query (aggregates in the database, so thousands of topics stay fast):

- **Items** (the agenda proper, walked one by one in meeting mode): carried-over topics first, then the
  top open topics by demand (priority, then asks). Each has its asks this week and last week, the change,
  and an 8-week series of weekly asks for a trend chart.
- **Carried over**: open topics deferred at last week's review, and topics on last week's agenda that got
  no decision there (when last week's review took place, i.e. recorded any decision); shown with last
  week's decision, owner and note.
- **New topics** (created that week), **closed topics** (closed that week, with the content that answered
  them), **content published** that week (its published date, or the date the crawler first saw it when
  the page gives none).
- **SLA**: open topics overdue now and due within :data:`DUE_SOON_DAYS` days, with the SLA days by priority.
- **Decisions** already recorded for the week.
- **Content use** (issue 7, from :mod:`kb.usage_reports` over the week's days): the week's most used content,
  and the content nobody used that week, findability problems first (reps asked what it answers, nobody
  sent it), so the meeting can decide to surface, refresh or retire it.

Decisions: the agenda is a live document (topics are listed as they are now, not as they were), and a
topic created after the week ended is not on that week's agenda. Stale priorities are refreshed first, as
the backlog does, so the order matches the backlog's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from kb import demand
from kb.backlog import refresh_stale_priorities
from kb.errors import ValidationError
from kb.models import CLOSED_STATUSES, OPEN_STATUSES, Content, Question, ReviewDecision, Topic, User, utcnow
from kb.review_decisions import decision_dict
from kb.settings import Settings
from kb.topic_changes import OWNER_ROLES
from kb.topic_view import DUE_SOON_DAYS, topic_summary
from kb.usage_reports import ReportWindow, scorecard, unused_content
from kb.weeks import Week, current_week, parse_week

TOP_DEFAULT, TOP_MAX = 10, 50
TREND_WEEKS = 8
LIST_LIMIT = 50  # rows per section; each section also gives its total
USAGE_LIMIT = 5  # top and unused content: a meeting discusses a handful, the usage pages have the rest


def parse_top(value: Any) -> int:
    """How many top topics the agenda lists (1..TOP_MAX); None: the default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return TOP_DEFAULT
    try:
        top = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"top must be a whole number from 1 to {TOP_MAX}") from None
    if not 1 <= top <= TOP_MAX:
        raise ValidationError(f"top must be from 1 to {TOP_MAX}, got {top}")
    return top


def _iso(moment: datetime | None) -> str | None:
    return demand.as_utc(moment).isoformat() if moment is not None else None


def _open_topics():  # type: ignore[no-untyped-def]
    return select(Topic).where(Topic.merged_into_id.is_(None), Topic.status.in_(OPEN_STATUSES))


def _top_ids(session: Session, week: Week, top: int) -> list[int]:
    """The open topics with the most demand that existed by the end of ``week``."""
    stmt = (select(Topic.id).where(Topic.merged_into_id.is_(None), Topic.status.in_(OPEN_STATUSES),
                                   Topic.created_at < week.end)
            .order_by(Topic.priority.desc(), Topic.ask_count.desc(), Topic.id).limit(top))
    return list(session.scalars(stmt))


def _decision_rows(session: Session, week: Week) -> list[dict[str, Any]]:
    """The decisions recorded for ``week``, with their topic, owner, content and merge target, oldest first."""
    target = aliased(Topic)
    rows = session.execute(
        select(ReviewDecision, Topic, Content, target)
        .join(Topic, Topic.id == ReviewDecision.topic_id)
        .outerjoin(Content, Content.id == ReviewDecision.content_id)
        .outerjoin(target, target.id == ReviewDecision.merge_into_id)
        .where(ReviewDecision.week == str(week))
        .options(selectinload(ReviewDecision.owner), selectinload(ReviewDecision.decided_by))
        .order_by(ReviewDecision.decided_at, ReviewDecision.id)
    )
    return [decision_dict(decision, topic, content, merge_target) for decision, topic, content, merge_target in rows]


def weekly_asks(session: Session, topic_ids: list[int], weeks: list[Week]) -> dict[int, list[int]]:
    """Asks per topic per week (oldest week first), counted by the database in one grouped query."""
    if not topic_ids or not weeks:
        return {}
    columns = [func.sum(case((and_(Question.asked_at >= w.start, Question.asked_at < w.end), 1), else_=0))
               for w in weeks]
    rows = session.execute(
        select(Question.topic_id, *columns)
        .where(Question.topic_id.in_(topic_ids), Question.asked_at >= weeks[0].start,
               Question.asked_at < weeks[-1].end)
        .group_by(Question.topic_id)
    )
    series = {topic_id: [0] * len(weeks) for topic_id in topic_ids}
    for topic_id, *counts in rows:
        series[topic_id] = [int(c or 0) for c in counts]
    return series


def _items(session: Session, week: Week, top: int, decisions: dict[int, dict[str, Any]],
           previous: dict[int, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Carried-over topics first, then this week's top topics, each with its weekly asks."""
    top_ids = _top_ids(session, week, top)
    # Last week's undecided agenda items carry over only when last week's review took place (it recorded a
    # decision); otherwise every topic would be "carried over" whenever a meeting was skipped.
    last_agenda = _top_ids(session, week.previous, top) if previous else []
    deferred = [tid for tid, d in previous.items() if d["decision"] == "defer"]
    candidates = list(dict.fromkeys(deferred + [tid for tid in last_agenda if tid not in previous]))
    still_open = set(session.scalars(_open_topics().with_only_columns(Topic.id)
                                     .where(Topic.id.in_(candidates)))) if candidates else set()
    carried = [tid for tid in candidates if tid in still_open]
    topics = {t.id: t for t in session.scalars(
        select(Topic).where(Topic.id.in_(carried + top_ids)).options(selectinload(Topic.owner)))}
    carried.sort(key=lambda tid: (previous.get(tid, {}).get("decision") != "defer", -(topics[tid].priority or 0),
                                  tid))
    ordered = carried + [tid for tid in top_ids if tid not in set(carried)]
    weeks = [week.shift(i) for i in range(-(TREND_WEEKS - 1), 1)]
    series = weekly_asks(session, ordered, weeks)
    items = []
    for position, topic_id in enumerate(ordered, start=1):
        trend = series.get(topic_id, [0] * TREND_WEEKS)
        is_carried = topic_id in set(carried)
        items.append({
            **topic_summary(topics[topic_id], now),
            "position": position,
            "asks_this_week": trend[-1],
            "asks_last_week": trend[-2],
            "change": trend[-1] - trend[-2],
            "trend": trend,
            "carried_over": is_carried,
            "carried_reason": (("deferred" if previous.get(topic_id, {}).get("decision") == "defer"
                                else "not decided") if is_carried else None),
            "previous_decision": previous.get(topic_id),
            "decision": decisions.get(topic_id),
        })
    return items


def _new_topics(session: Session, week: Week, now: datetime) -> dict[str, Any]:
    where = (Topic.merged_into_id.is_(None), Topic.created_at >= week.start, Topic.created_at < week.end)
    total = session.scalar(select(func.count(Topic.id)).where(*where)) or 0
    topics = session.scalars(select(Topic).where(*where).options(selectinload(Topic.owner))
                             .order_by(Topic.priority.desc(), Topic.id).limit(LIST_LIMIT))
    return {"total": total, "topics": [topic_summary(t, now) for t in topics]}


def _closed_topics(session: Session, week: Week) -> dict[str, Any]:
    where = (Topic.status.in_(CLOSED_STATUSES), Topic.closed_at >= week.start, Topic.closed_at < week.end)
    total = session.scalar(select(func.count(Topic.id)).where(*where)) or 0
    rows = session.execute(
        select(Topic, Content).outerjoin(Content, Content.id == Topic.answer_content_id).where(*where)
        .options(selectinload(Topic.owner)).order_by(Topic.closed_at, Topic.id).limit(LIST_LIMIT)
    )
    return {"total": total, "topics": [
        {"id": topic.id, "title": topic.title, "status": topic.status, "closed_at": _iso(topic.closed_at),
         "ask_count": topic.ask_count, "owner": topic.owner.email if topic.owner else None,
         "answer": ({"id": content.id, "title": content.title, "url": content.canonical_url, "kind": content.kind}
                    if content is not None else None)}
        for topic, content in rows
    ]}


def _content_published(session: Session, week: Week) -> dict[str, Any]:
    """Live content published that week, or first seen that week when it has no published date."""
    in_week = or_(and_(Content.published_at >= week.start, Content.published_at < week.end),
                  and_(Content.published_at.is_(None), Content.first_seen_at >= week.start,
                       Content.first_seen_at < week.end))
    answers = (select(func.count(Topic.id)).where(Topic.answer_content_id == Content.id)
               .correlate(Content).scalar_subquery())
    where = (Content.status == "live", in_week)
    total = session.scalar(select(func.count(Content.id)).where(*where)) or 0
    rows = session.execute(
        select(Content, answers).where(*where)
        .order_by(func.coalesce(Content.published_at, Content.first_seen_at), Content.id).limit(LIST_LIMIT)
    )
    return {"total": total, "content": [
        {"id": content.id, "title": content.title, "url": content.canonical_url, "kind": content.kind,
         "published_at": _iso(content.published_at), "first_seen_at": _iso(content.first_seen_at),
         "date_source": "published" if content.published_at is not None else "first seen",
         "answers_topics": int(answered or 0)}
        for content, answered in rows
    ]}


def _sla(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    soon = now + timedelta(days=DUE_SOON_DAYS)
    base = _open_topics().where(Topic.due_at.is_not(None)).options(selectinload(Topic.owner))
    sections: dict[str, Any] = {"sla_days": dict(settings.backlog.sla_days), "due_soon_days": DUE_SOON_DAYS,
                                "as_of": now.isoformat()}
    for name, condition in (("overdue", Topic.due_at < now), ("due_soon", and_(Topic.due_at >= now,
                                                                               Topic.due_at < soon))):
        stmt = base.where(condition)
        sections[f"{name}_total"] = session.scalar(
            stmt.with_only_columns(func.count(Topic.id)).order_by(None)) or 0
        sections[name] = [topic_summary(t, now) for t in session.scalars(
            stmt.order_by(Topic.due_at, Topic.priority.desc(), Topic.id).limit(LIST_LIMIT))]
    return sections


def build_agenda(session: Session, settings: Settings, week: Week, *, top: int = TOP_DEFAULT,
                 now: datetime | None = None) -> dict[str, Any]:
    """The agenda of ``week`` (see the module docstring) in an open write session."""
    now = now or utcnow()
    refresh_stale_priorities(session, _open_topics(), settings.backlog, now)
    decision_list = _decision_rows(session, week)
    decisions = {d["topic_id"]: d for d in decision_list}
    previous = {d["topic_id"]: d for d in _decision_rows(session, week.previous)}
    items = _items(session, week, top, decisions, previous, now)
    sla = _sla(session, settings, now)
    new, closed, content = _new_topics(session, week, now), _closed_topics(session, week), _content_published(
        session, week)
    return {
        "week": str(week),
        "label": week.label(),
        "start": week.start.isoformat(),
        "end": week.end.isoformat(),
        "previous_week": str(week.previous),
        "next_week": str(week.next),
        "is_current": week == current_week(now),
        "generated_at": now.isoformat(),
        "trend_weeks": [str(week.shift(i)) for i in range(-(TREND_WEEKS - 1), 1)],
        "top": top,
        "items": items,
        "new_topics": new,
        "closed_topics": closed,
        "content_published": content,
        "sla": sla,
        "decisions": decision_list,
        "counts": {
            "items": len(items),
            "carried_over": sum(1 for item in items if item["carried_over"]),
            "decided": len(decision_list),
            "undecided_items": sum(1 for item in items if item["decision"] is None),
            "new_topics": new["total"],
            "closed_topics": closed["total"],
            "content_published": content["total"],
            "overdue": sla["overdue_total"],
            "due_soon": sla["due_soon_total"],
        },
    }


def review_agenda(kb, week: str | Week, *, top: Any = None, now: datetime | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The agenda of ``week`` ("2026-W48"; a bad name is a ValidationError) as a dict (what pages, API and
    CLI show). A write transaction: stale priorities are refreshed first."""
    week = week if isinstance(week, Week) else parse_week(week)
    limit = parse_top(top)
    with kb.transaction() as session:
        agenda = build_agenda(session, kb.settings, week, top=limit, now=now)
    agenda["usage"] = week_usage(kb, week)
    return agenda


def _usage_row(row: dict[str, Any]) -> dict[str, Any]:
    """A usage report row as the agenda's other rows are: JSON-ready (times in ISO 8601)."""
    return {key: _iso(value) if isinstance(value, datetime) else value for key, value in row.items()}


def week_usage(kb, week: Week) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The week's top content (most uses; unused content left out) and its unused content (findability
    problems first, then retirement candidates, then content too new to judge), over the week's days."""
    window = ReportWindow(week.monday, week.sunday)
    top, _ = scorecard(kb, window, sort="uses", desc=True, limit=USAGE_LIMIT)
    unused, unused_total = unused_content(kb, window, limit=USAGE_LIMIT)
    return {"window": window.to_dict(),
            "top_content": [_usage_row(row) for row in top if row["uses"]],
            "unused_content": {"total": unused_total, "content": [_usage_row(row) for row in unused]}}


def owner_choices(session: Session) -> list[dict[str, Any]]:
    """The people who can own a decision (active marketers and admins), for the meeting form."""
    users = session.scalars(select(User).where(User.active.is_(True), User.role.in_(OWNER_ROLES))
                            .order_by(User.email))
    return [{"id": u.id, "email": u.email, "label": u.label, "role": u.role} for u in users]
