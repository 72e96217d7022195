"""Starting a crawl again after one that did not finish (killed, crashed, stopped).

The crawl frontier lives in memory, so a new run rebuilds it from the seed, the sitemaps, the feeds and
the pages already stored. That alone would lose pages after a crash: a page stored by the dead run answers
the next run's conditional request with 304 Not Modified, so its links are never read again, and a page
reached only through those links is never fetched. So after a run that did not complete, the next run
fetches every page in full (no If-None-Match / If-Modified-Since): unchanged pages are still recognised by
their content hash and not re-embedded, and every link is followed again, which ends in the same state
as an uninterrupted crawl. Checked by ``tests/test_crash_safety.py`` (kill -9 at random points).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import CrawlRun


def previous_run_completed(session: Session, site_id: int) -> bool:
    """True when the site's latest crawl run completed (or it was never crawled)."""
    status = session.scalar(
        select(CrawlRun.status).where(CrawlRun.site_id == site_id).order_by(CrawlRun.id.desc()).limit(1)
    )
    return status is None or status == "completed"
