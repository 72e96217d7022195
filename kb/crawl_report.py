"""Crawl health: what each crawl did with every URL, so "why was this page not indexed?" has an answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.errors import NotFoundError, ValidationError
from kb.models import CrawlRun, PageLog, Site

OUTCOMES = (
    "new", "changed", "unchanged", "duplicate", "alias", "retired", "skipped", "failed", "robots", "sitemap", "feed",
)


@dataclass(frozen=True)
class PageRow:
    site: str
    run_id: int
    url: str
    outcome: str
    reason: str | None
    detail: str | None
    http_status: int | None
    discovered_via: str | None
    depth: int

    def to_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def latest_runs(session: Session, site: str | None = None) -> list[CrawlRun]:
    """The most recent crawl run of each site (or of one site)."""
    stmt = select(CrawlRun, Site.name).join(Site)
    if site:
        stmt = stmt.where(Site.name == site)
    latest: dict[str, CrawlRun] = {}
    for run, name in session.execute(stmt.order_by(CrawlRun.id)):
        latest[name] = run
    return list(latest.values())


def page_rows(
    session: Session,
    *,
    site: str | None = None,
    outcomes: Sequence[str] = (),
    run_id: int | None = None,
    limit: int = 10_000,
    offset: int = 0,
) -> list[PageRow]:
    """Per-URL outcomes of the latest crawl of each site (or of ``run_id``), optionally filtered."""
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad:
        raise ValidationError(f"unknown status {', '.join(bad)}; choose from {', '.join(OUTCOMES)}")
    if site and session.scalar(select(Site.id).where(Site.name == site)) is None:
        raise NotFoundError(f"no site named {site!r} (see `kb sites list`)")
    run_ids = [run_id] if run_id else [run.id for run in latest_runs(session, site)]
    stmt = (
        select(PageLog, Site.name)
        .join(CrawlRun, PageLog.crawl_run_id == CrawlRun.id)
        .join(Site, CrawlRun.site_id == Site.id)
        .where(PageLog.crawl_run_id.in_(run_ids))
        .order_by(PageLog.id)
        .limit(limit)
        .offset(offset)
    )
    if outcomes:
        stmt = stmt.where(PageLog.outcome.in_(outcomes))
    return [
        PageRow(name, log.crawl_run_id, log.url, log.outcome, log.reason, log.detail, log.http_status,
                log.discovered_via, log.depth)
        for log, name in session.execute(stmt)
    ]


def run_counts(session: Session, run_id: int) -> tuple[Counter[str], Counter[str]]:
    """URLs of one crawl run by outcome, and by reason (the reasons of pages not indexed)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    stmt = (select(PageLog.outcome, PageLog.reason, func.count())
            .where(PageLog.crawl_run_id == run_id).group_by(PageLog.outcome, PageLog.reason))
    for outcome, reason, n in session.execute(stmt):
        outcomes[outcome] += n
        if reason:
            reasons[reason] += n
    return outcomes, reasons
