"""Crawl locks: at most one crawl of a site at a time, across processes and machines.

One row per site being crawled, claimed atomically by the crawl that inserts it (the primary key makes a
second insert fail) and kept alive by a heartbeat. A holder that died (``kill -9``, a lost machine) stops
heart-beating, so its row goes stale and the next crawl takes it over: see :mod:`kb.crawl_locks`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kb.models.base import Base, utcnow


class CrawlLock(Base):
    """The lease on one site's crawl: who holds it and when it last proved it is alive."""

    __tablename__ = "crawl_locks"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # "host:pid:random", unique per acquisition
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
