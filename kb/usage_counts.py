"""Usage counted per UTC day: rolled-up days from ``usage_daily``, the other days from the raw events.

Every report and the ranking signal read usage through :func:`usage_counts`, so they give the same figures
before and after a roll-up (a test holds them to it) and stay fast at millions of events: a rolled-up day
is a handful of rows per content item, and only the days not rolled up yet (normally today) touch
``usage_events``.

Counted kinds are the event kinds plus ``impression`` (a content item shown in a search's results, derived
from the search event's ``detail["results"]``). :data:`USE_KINDS` are what count as *using* content.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, literal, select, true
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import UsageDaily, UsageEvent, UsageRollupDay

IMPRESSION = "impression"
# Someone did something with the content: opened it from the results, copied its link or a passage, sent it,
# or a prospect opened a tracked link to it (kind link_visit, recorded by kb.tracked_links).
USE_KINDS = ("click", "copy_link", "copy_passage", "sent", "link_visit")
MAX_WINDOW_DAYS = 3660

# (bucket, kind, content_id) -> [count, latest event time]; the bucket is 0, or weeks back (usage_counts).
Key = tuple[int, str, int | None]
Tallies = dict[Key, list[Any]]


@dataclass(frozen=True)
class ReportWindow:
    """Inclusive UTC days ``start`` .. ``end`` a report covers."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValidationError(f"the report window starts ({self.start}) after it ends ({self.end})")
        if self.days > MAX_WINDOW_DAYS:
            raise ValidationError(f"the report window is {self.days} days; at most {MAX_WINDOW_DAYS}")

    @classmethod
    def last(cls, days: int, today: date | None = None) -> ReportWindow:
        """The ``days`` days ending ``today`` (default: today, UTC), both ends included."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValidationError("days must be a whole number of at least 1")
        end = today or utc_today()
        return cls(end - timedelta(days=days - 1), end)

    @classmethod
    def parse(cls, since: str | date | None, until: str | date | None, *, days: int = 30,
              today: date | None = None) -> ReportWindow:
        """From ``--since``/``--until`` (YYYY-MM-DD, either may be missing) or else the last ``days`` days."""
        end = _as_date(until, "until") if until else (today or utc_today())
        if since:
            return cls(_as_date(since, "since"), end)
        return cls.last(days, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


def _as_date(value: str | date, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"{name} must be a date like 2026-01-31, got {str(value)[:20]!r}") from None


def utc_today() -> date:
    return datetime.now(UTC).date()


def day_start(day: date) -> datetime:
    """Midnight UTC starting ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every stored one is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _event_day(session: Session) -> ColumnElement[Any]:
    """The UTC day of an event's ``at`` in SQL (SQLite stores UTC text; PostgreSQL converts the timestamp)."""
    if _postgres(session):
        return func.date(func.timezone("UTC", UsageEvent.at))
    return func.date(UsageEvent.at)


def _bucket(session: Session, day: ColumnElement[Any], weeks_to: date | None) -> ColumnElement[Any]:
    """Whole weeks from ``day`` back from ``weeks_to`` (0: the 7 days ending on it), or 0 for every row."""
    if weeks_to is None:
        return literal(0)
    if _postgres(session):
        # date - date is a whole number of days there; floor, as a cast to integer would round.
        return cast(func.floor(cast(literal(weeks_to) - day, Integer) / 7.0), Integer)
    return cast((func.julianday(weeks_to.isoformat()) - func.julianday(day)) / 7, Integer)


def _impressions(session: Session) -> Any:
    """The content ids in a search event's ``detail["results"]``, as a table joined to each event."""
    if _postgres(session):
        values = func.json_array_elements_text(UsageEvent.detail["results"]).table_valued("value",
                                                                                          joins_implicitly=True)
        return values, cast(values.c.value, Integer)
    values = func.json_each(UsageEvent.detail, "$.results").table_valued("value", joins_implicitly=True)
    return values, values.c.value


def _add(tallies: Tallies, key: Key, count: int, last: datetime | None) -> None:
    entry = tallies.get(key)
    last = aware(last)
    if entry is None:
        tallies[key] = [count, last]
        return
    entry[0] += count
    if last is not None and (entry[1] is None or last > entry[1]):
        entry[1] = last


def raw_counts(session: Session, start: datetime, end: datetime, *, weeks_to: date | None = None,
               kinds: Collection[str] | None = None, content_ids: Collection[int] | None = None) -> Tallies:
    """Counts of the raw events with ``start <= at < end`` by (bucket, kind, content); impressions expanded
    from the searches' results in SQL (a content shown twice by one search is one impression)."""
    tallies: Tallies = {}
    bucket = _bucket(session, _event_day(session), weeks_to)
    in_range = (UsageEvent.at >= start, UsageEvent.at < end)
    plain = [k for k in (kinds or ()) if k not in ("search", IMPRESSION)] if kinds is not None else None
    if plain is None or plain:
        query = (select(bucket, UsageEvent.kind, UsageEvent.content_id, func.count(), func.max(UsageEvent.at))
                 .where(*in_range, UsageEvent.kind != "search")
                 .group_by(bucket, UsageEvent.kind, UsageEvent.content_id))
        if plain is not None:
            query = query.where(UsageEvent.kind.in_(plain))
        if content_ids is not None:
            query = query.where(UsageEvent.content_id.in_(list(content_ids)))
        for row in session.execute(query):
            _add(tallies, (int(row[0]), row[1], row[2]), int(row[3]), row[4])
    searches = (UsageEvent.kind == "search", *in_range)
    if (kinds is None or "search" in kinds) and content_ids is None:
        for row in session.execute(select(bucket, func.count(), func.max(UsageEvent.at)).where(*searches)
                                   .group_by(bucket)):
            _add(tallies, (int(row[0]), "search", None), int(row[1]), row[2])
    if kinds is None or IMPRESSION in kinds:
        values, content = _impressions(session)
        query = (select(bucket, content, func.count(func.distinct(UsageEvent.id)), func.max(UsageEvent.at))
                 .select_from(UsageEvent).join(values, true()).where(*searches).group_by(bucket, content))
        if content_ids is not None:
            query = query.where(content.in_(list(content_ids)))
        for row in session.execute(query):
            if row[1] is not None:
                _add(tallies, (int(row[0]), IMPRESSION, int(row[1])), int(row[2]), row[3])
    return tallies


def _unrolled_runs(rolled: set[date], start: date, end: date) -> Iterable[tuple[date, date]]:
    """Runs of consecutive days in ``start..end`` not in ``rolled``, as (first, last)."""
    run_start = None
    day = start
    while day <= end:
        if day not in rolled and run_start is None:
            run_start = day
        if day in rolled and run_start is not None:
            yield run_start, day - timedelta(days=1)
            run_start = None
        day += timedelta(days=1)
    if run_start is not None:
        yield run_start, end


def usage_counts(session: Session, start: date, end: date, *, weeks_to: date | None = None,
                 kinds: Collection[str] | None = None, content_ids: Collection[int] | None = None) -> Tallies:
    """Counts per (bucket, kind, content) over the days ``start..end``: roll-ups where a day has them, raw
    events for the others (see the module docstring). ``bucket`` is 0, or with ``weeks_to`` the whole weeks
    before that day (0: its last 7 days); grouping happens in SQL, so a report reads a few rows per content."""
    tallies: Tallies = {}
    rolled = set(session.scalars(select(UsageRollupDay.day).where(UsageRollupDay.day.between(start, end))))
    if rolled:
        bucket = _bucket(session, UsageDaily.day, weeks_to)
        query = (select(bucket, UsageDaily.kind, UsageDaily.content_id, func.sum(UsageDaily.count),
                        func.max(UsageDaily.last_at))
                 .where(UsageDaily.day.between(start, end)).group_by(bucket, UsageDaily.kind, UsageDaily.content_id))
        if kinds is not None:
            query = query.where(UsageDaily.kind.in_(list(kinds)))
        if content_ids is not None:
            query = query.where(UsageDaily.content_id.in_(list(content_ids)))
        for row in session.execute(query):
            _add(tallies, (int(row[0]), row[1], row[2]), int(row[3]), row[4])
    for first, last in _unrolled_runs(rolled, start, end):
        more = raw_counts(session, day_start(first), day_start(last + timedelta(days=1)), weeks_to=weeks_to,
                          kinds=kinds, content_ids=content_ids)
        for key, (count, latest) in more.items():
            _add(tallies, key, count, latest)
    return tallies
