"""The crawl report as it is written: one :class:`kb.models.PageLog` row per URL, and the run's counts.

Why a module of its own (split out of :mod:`ingest.crawler`): every part of a crawl -- robots.txt,
sitemaps, pages, caption files, embedded recordings -- reports through this one writer, so "every URL
the crawl meets ends in exactly one row" holds in one place, and the summary's counts follow the same
rules everywhere:

- rows for robots.txt, sitemaps and feeds are resources, not content: not counted;
- a caption file that was fetched and used (``via="captions"``, outcome new/changed/unchanged) is
  listed with its cue counts but not counted as content; a caption file that failed is, with its reason;
- every other row counts under its outcome, and skipped/failed rows under their reason too.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.crawl_summary import CrawlProgress, CrawlSummary
from kb.knowledge_base import KnowledgeBase
from kb.models import PageLog

__all__ = ["CrawlLog"]

_RESOURCES = ("robots", "sitemap", "feed")
_USED = ("new", "changed", "unchanged")


class CrawlLog:
    """Writes the crawl report of one run and keeps its summary counts (see module docstring)."""

    def __init__(self, kb: KnowledgeBase, summary: CrawlSummary,
                 progress: Callable[[CrawlProgress], None] | None, queued: Callable[[], int]) -> None:
        self.kb = kb
        self.summary = summary
        self.progress = progress
        self._queued = queued

    def __call__(self, url: str, outcome: str, reason: str | None = None, detail: str | None = None,
                 http_status: int | None = None, *, content_id: int | None = None, final_url: str | None = None,
                 via: str | None = None, depth: int = 0, elapsed: float | None = None) -> None:
        with self.kb.transaction() as session:
            session.add(PageLog(
                crawl_run_id=self.summary.run_id, url=url[:2183], final_url=final_url, content_id=content_id,
                outcome=outcome, reason=reason, detail=(detail or None) and detail[:2000],
                http_status=http_status, discovered_via=via, depth=depth,
                elapsed_ms=None if elapsed is None else int(elapsed * 1000),
            ))
        if outcome in _RESOURCES or (via == "captions" and outcome in _USED):
            return
        self.summary.counts[outcome] += 1
        if outcome in ("skipped", "failed") and reason:
            self.summary.reasons[reason] += 1
        if self.progress:
            done = sum(self.summary.counts.values())
            self.progress(CrawlProgress(url, outcome, reason, done, self._queued()))
