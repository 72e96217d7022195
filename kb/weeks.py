"""ISO weeks ("2026-W48"): the unit of the weekly smarketing review.

A week runs from Monday 00:00 UTC to the next Monday 00:00 UTC (the end is exclusive), so every moment
stored in the database (always UTC) falls in exactly one week. Weeks are ISO 8601 weeks: week 1 is the
week with the year's first Thursday, and a year has 52 or 53 of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from kb.errors import ValidationError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MIN_YEAR, MAX_YEAR = 2000, 2100  # a review week outside this range is a typo, not a plan


@dataclass(frozen=True, order=True)
class Week:
    """One ISO week; ``str(week)`` is its canonical name, e.g. ``2026-W48``."""

    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC (inclusive)."""
        return datetime.combine(self.monday, datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC (exclusive)."""
        return self.start + timedelta(days=7)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def shift(self, weeks: int) -> Week:
        """The week ``weeks`` later (negative: earlier)."""
        return week_of(self.start + timedelta(weeks=weeks))

    @property
    def previous(self) -> Week:
        return self.shift(-1)

    @property
    def next(self) -> Week:
        return self.shift(1)

    def contains(self, moment: datetime) -> bool:
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return self.start <= moment < self.end

    def label(self) -> str:
        """What people read: "Week 48, Nov 23 – Nov 29, 2026"."""
        return f"Week {self.number}, {self.monday:%b %d} – {self.sunday:%b %d, %Y}"


def parse_week(value: str | None) -> Week:
    """A week from its ISO name ``YYYY-Www`` (lower-case ``w`` accepted); anything else is a ValidationError."""
    text = str(value if value is not None else "").strip().upper()
    found = _WEEK.match(text)
    if not found:
        raise ValidationError(f"week must look like 2026-W48 (ISO year, W, week number), got {str(value)[:40]!r}")
    year, number = int(found.group(1)), int(found.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationError(f"week year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}")
    weeks_in_year = date(year, 12, 28).isocalendar().week  # Dec 28 is always in the year's last week
    if not 1 <= number <= weeks_in_year:
        raise ValidationError(f"{year} has weeks 1 to {weeks_in_year}, got week {number}")
    return Week(year, number)


def week_of(moment: datetime | date) -> Week:
    """The week a moment (UTC; naive means UTC) or a day falls in."""
    if isinstance(moment, datetime):
        moment = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC).date()
    iso = moment.isocalendar()
    return Week(iso.year, iso.week)


def current_week(now: datetime | None = None) -> Week:
    """The week it is now (UTC)."""
    return week_of(now or datetime.now(UTC))


def week_or_current(value: str | None, now: datetime | None = None) -> Week:
    """``value`` parsed, or the current week when it is empty (what the CLI's ``--week`` defaults to)."""
    if value is None or not str(value).strip():
        return current_week(now)
    return parse_week(value)
