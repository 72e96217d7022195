"""Daily roll-ups of usage events, and the retention that deletes old raw events once they are rolled up.

``kb usage rollup`` (run it daily, e.g. from cron; reports are correct without it, only slower) counts each
whole past UTC day's events by (kind, content) into ``usage_daily`` and marks the day in
``usage_rollup_days``; reports then read those rows instead of the day's events (kb.usage_counts).

Rules, and why:

- **Idempotent.** Rolling a day deletes its rows and writes them again from the raw events, in one
  transaction with its marker: re-rolling gives the same rows, and a day is never half rolled up.
- **Only whole past days.** Today is still being written, so it is always read raw.
- **Retention after roll-up.** Raw events older than ``usage.retention_days`` are deleted only after their
  days are rolled up (the counts stay); a day whose raw events are gone is never re-rolled (that would
  wipe its counts).
"""

from __future__ import annotations

import time as clock
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import Content, LinkVisit, UsageDaily, UsageEvent, UsageRollupDay, utcnow
from kb.usage_counts import aware, day_start, raw_counts, utc_today


@dataclass(frozen=True)
class RollupReport:
    days_rolled: int
    rows_written: int
    events_counted: int
    events_deleted: int
    retention_cutoff: str  # raw events before this UTC day are deleted
    seconds: float
    link_visits_deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roll_up_day(session: Session, day: date, known_contents: set[int]) -> tuple[int, int]:
    """(Re)write ``day``'s roll-up rows and its marker; (rows written, events counted)."""
    tallies = raw_counts(session, day_start(day), day_start(day + timedelta(days=1)))
    session.execute(delete(UsageDaily).where(UsageDaily.day == day))
    merged: dict[tuple[str, int | None], list] = {}  # content deleted since: its counts stay, under no content
    for (_, kind, cid), (count, last) in tallies.items():
        key = (kind, cid if cid in known_contents else None)
        entry = merged.setdefault(key, [0, last])
        entry[0] += count
        entry[1] = max(entry[1], last)
    rows = [{"day": day, "kind": kind, "content_id": cid, "count": count, "last_at": last}
            for (kind, cid), (count, last) in merged.items()]
    if rows:
        session.execute(UsageDaily.__table__.insert(), rows)  # Core executemany, not the ORM bulk path
    events = sum(count for (_, kind, _), (count, _) in tallies.items() if kind != "impression")
    marker = session.get(UsageRollupDay, day)
    if marker is None:
        session.add(UsageRollupDay(day=day, rolled_at=utcnow(), events=events))
    else:
        marker.rolled_at, marker.events = utcnow(), events
    return len(rows), events


def _days_to_roll(session: Session, since: date | None, last_day: date, cutoff: date) -> list[date]:
    """Unrolled days from the first raw event to ``last_day``, plus (re-rolled) ``since..last_day``."""
    rolled = set(session.scalars(select(UsageRollupDay.day).where(UsageRollupDay.day <= last_day)))
    first_event = aware(session.scalar(select(func.min(UsageEvent.at))))
    days: set[date] = set()
    if first_event is not None:
        day = first_event.date()
        while day <= last_day:
            if day not in rolled:
                days.add(day)
            day += timedelta(days=1)
    if since is not None:
        day = since
        while day <= last_day:
            if day >= cutoff or day not in rolled:  # a rolled day past retention has no raw events left
                days.add(day)
            day += timedelta(days=1)
    return sorted(days)


def roll_up(kb, *, since: date | None = None, until: date | None = None,  # type: ignore[no-untyped-def]
            today: date | None = None) -> RollupReport:
    """Roll up every past day not rolled up yet (and re-roll ``since..until`` when given), then apply retention.

    ``until`` defaults to yesterday and cannot be today or later (today is still being written).
    """
    began = clock.perf_counter()
    today = today or utc_today()
    yesterday = today - timedelta(days=1)
    if until is not None and until > yesterday:
        raise ValidationError(f"only whole past days can be rolled up: until must be {yesterday} or earlier")
    last_day = until or yesterday
    if since is not None and since > last_day:
        raise ValidationError(f"since ({since}) is after the last day to roll up ({last_day})")
    cutoff = today - timedelta(days=kb.settings.usage.retention_days)
    with kb.sessions() as session:
        days = _days_to_roll(session, since, last_day, cutoff)
        known_contents = set(session.scalars(select(Content.id)))
    rows = events = 0
    for day in days:  # one transaction per day: a long catch-up never holds the write lock for long
        with kb.transaction() as session:
            written, counted = roll_up_day(session, day, known_contents)
        rows, events = rows + written, events + counted
    # Every day up to last_day is rolled up now, so raw events before both bounds are safe to delete.
    bound = min(cutoff, last_day + timedelta(days=1))
    with kb.transaction() as session:
        deleted = session.execute(delete(UsageEvent).where(UsageEvent.at < day_start(bound))).rowcount or 0
        # A tracked link's visit rows serve its once-per-visitor window and hourly limit (minutes to an hour);
        # its totals live on the link itself, so old visits go under the same retention as raw events.
        visits = session.execute(delete(LinkVisit).where(LinkVisit.at < day_start(bound))).rowcount or 0
    return RollupReport(len(days), rows, events, deleted, cutoff.isoformat(),
                        round(clock.perf_counter() - began, 3), visits)
