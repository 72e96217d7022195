"""What people do with content: searches, clicks, copies, sends and feedback on matches.

One append-only row per action (:class:`UsageEvent`); reports (issue 7's scorecard, the review page) read
them for today and :class:`UsageDaily` roll-ups for whole past days (kb.usage_rollup), so they stay fast at
millions of events. A search is ONE event whose ``detail["results"]`` lists the content ids shown: the
impressions are derived from it (one write per search, not eleven) and rolled up as kind ``impression``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kb.models.base import Base, utcnow

# copy_link, copy_passage, sent ("I sent this"), feedback (detail: {"answers": true|false}), click, search.
USAGE_KINDS = ("search", "click", "copy_link", "copy_passage", "sent", "feedback", "link_visit")


class UsageEvent(Base):
    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"), index=True)
    passage_id: Mapped[int | None] = mapped_column(Integer)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    query: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UsageDaily(Base):
    """Events of one UTC day counted by (kind, content); kind ``impression`` counts search results shown.

    Not by user: no report needs it, and per-user impression rows would outnumber the events they count.

    Written only by the roll-up, all rows of a day at once with its :class:`UsageRollupDay` marker, so a day
    is either wholly rolled up or read from the raw events.
    """

    __tablename__ = "usage_daily"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the latest event counted here


class UsageRollupDay(Base):
    """A UTC day whose events are rolled up into :class:`UsageDaily` (reports read those rows for it)."""

    __tablename__ = "usage_rollup_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    events: Mapped[int] = mapped_column(Integer, default=0)
