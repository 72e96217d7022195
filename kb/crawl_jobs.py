"""Crawls started from the web app ("crawl now"): one background thread per crawl, at most one per site.

The crawl itself is :func:`ingest.crawler.crawl_site`; this module only runs a crawl function in a thread
of the current process, tracks its progress for the site page, and records how it ended. ``kb`` may not
import ``ingest`` (dependencies point inward), so the caller passes the crawl function in.

The registry lives in ``kb.caches`` of the process that started the crawl: a second "crawl now" for a site
whose crawl is still running is a ConflictError. Crawls in other processes or on other machines (``kb crawl``,
``kb crawl --every``, another web worker) are seen through the site's lock (:mod:`kb.crawl_locks`), which the
job claims before its thread starts (so the 409 is immediate) and releases when the crawl ends.
A failing crawl is recorded on the job (and, by the crawler, on its :class:`kb.models.CrawlRun`) and logged;
it never propagates out of the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kb import crawl_locks
from kb.errors import ConflictError, NotFoundError
from kb.models import Site, utcnow

log = logging.getLogger(__name__)
CACHE_KEY = "crawl_jobs"

# crawl(kb, site_name, progress=callback) -> a summary with to_dict(); ingest.crawler.crawl_site in the app.
CrawlFunction = Callable[..., Any]


@dataclass
class CrawlJob:
    """One crawl started from the web app, as the site page shows it."""

    site_id: int
    site: str
    started_by: str | None
    started_at: datetime = field(default_factory=utcnow)
    state: str = "running"  # running / completed / failed
    finished_at: datetime | None = None
    done: int = 0
    queued: int = 0
    last_url: str | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def progress(self, event: Any) -> None:
        """The crawler's progress callback: URLs done and still queued, and the last URL seen."""
        self.done, self.queued, self.last_url = event.done, event.queued, event.url

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the crawl to end; True when it has."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id, "site": self.site, "state": self.state, "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "done": self.done, "queued": self.queued, "last_url": self.last_url,
            "summary": self.summary, "error": self.error,
        }


@dataclass
class _Registry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: dict[int, CrawlJob] = field(default_factory=dict)  # site id -> its latest job in this process


def _registry(kb: Any) -> _Registry:
    registry = kb.caches.get(CACHE_KEY)
    if not isinstance(registry, _Registry):
        registry = kb.caches.setdefault(CACHE_KEY, _Registry())
    return registry


def crawl_job(kb: Any, site_id: int) -> CrawlJob | None:
    """The latest crawl of this site started by this process (running or finished), if any."""
    return _registry(kb).jobs.get(site_id)


def start_crawl(kb: Any, site_id: int, crawl: CrawlFunction, *, started_by: str | None = None) -> CrawlJob:
    """Start crawling the site in a background thread; ConflictError while its last crawl still runs."""
    with kb.sessions() as session:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFoundError(f"no site {site_id}")
        name = site.name
    registry = _registry(kb)
    with registry.lock:
        current = registry.jobs.get(site_id)
        if current is not None and current.running:
            raise ConflictError(f"a crawl of {name} is already running (started "
                                f"{current.started_at:%H:%M:%S} UTC, {current.done} URLs done)")
        lease = crawl_locks.acquire(kb, site_id)  # ConflictError while a crawl of the site runs elsewhere
        job = CrawlJob(site_id=site_id, site=name, started_by=started_by)
        job.thread = threading.Thread(target=_run, args=(kb, job, crawl, lease), name=f"crawl-{name}", daemon=True)
        registry.jobs[site_id] = job
        job.thread.start()
    return job


def _run(kb: Any, job: CrawlJob, crawl: CrawlFunction, lease: crawl_locks.CrawlLease) -> None:
    try:
        with lease:
            summary = crawl(kb, job.site, progress=job.progress)
        job.summary = summary.to_dict() if hasattr(summary, "to_dict") else None
        state = "completed"
    except BaseException as exc:  # a thread has no caller to raise to: record it, log it, carry on
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        state = "failed"
        log.exception("crawl of %s failed", job.site)
    job.finished_at = utcnow()
    job.state = state  # last: whoever sees the job finished sees its summary or error too
