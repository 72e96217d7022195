"""Scheduled crawls (``kb crawl --every 6h``): crawl each site when it is due, sleep until the next one is.

When a site is due comes from the database, not from this process's memory: a site is due ``every`` after
its last completed crawl started (at once if it never completed one). So restarting the scheduler, or
running it next to crawls started by hand or from the web app, does not crawl anything twice as often.
Every crawl runs under the site's lock (:mod:`kb.crawl_locks`): a site whose crawl runs elsewhere is
skipped and tried again a minute later.

Stopping: SIGTERM or SIGINT set an event the crawl polls between pages, so the current page is finished,
the index brought up to date and the lock released before the process exits (a second signal exits at
once). ``kb`` may not import ``ingest``: the caller passes the crawl function in, as for
:mod:`kb.crawl_jobs`.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from kb import crawl_locks
from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import CrawlRun, Site, utcnow

log = logging.getLogger(__name__)

# crawl(kb, site_name, progress=..., stop=...) -> summary; ingest.crawler.crawl_site in the CLI.
CrawlFunction = Callable[..., Any]

BUSY_RETRY = timedelta(minutes=1)  # the site's crawl runs elsewhere: look again soon
FAILED_RETRY = timedelta(minutes=10)  # the crawl raised: do not hammer a broken site, but do not wait `every`
MAX_SLEEP_SECONDS = 300.0  # wake up now and then to pick up sites added meanwhile
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """``"6h"``, ``"30m"``, ``"1d"``, ``"1h30m"``, ``"90s"`` -> a positive timedelta; ValidationError otherwise."""
    cleaned = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValidationError(f"--every: {text!r} is not a duration like 6h, 30m, 1d or 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValidationError("--every must be longer than zero")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class ScheduleEvent:
    """What happened to one due site: ``crawled`` (with the summary), ``busy`` or ``failed``."""

    site: str
    kind: str
    summary: Any = None
    message: str = ""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


def site_ids(kb: Any, names: list[str] | None) -> dict[str, int]:
    """Site name -> id for ``names`` (every site when None); NotFoundError for an unknown name."""
    with kb.sessions() as session:
        rows = dict(session.execute(select(Site.name, Site.id).order_by(Site.name)).all())
    if names is None:
        return rows
    missing = [n for n in names if n not in rows]
    if missing:
        raise NotFoundError(f"no site named {missing[0]!r}")
    return {n: rows[n] for n in names}


def due_times(kb: Any, sites: dict[str, int], every: timedelta) -> dict[str, datetime]:
    """When each site is next due: ``every`` after its last completed crawl started, else now."""
    with kb.sessions() as session:
        last = dict(session.execute(
            select(CrawlRun.site_id, func.max(CrawlRun.started_at))
            .where(CrawlRun.status == "completed", CrawlRun.site_id.in_(sites.values()))
            .group_by(CrawlRun.site_id)
        ).all())
    now = utcnow()
    return {name: _aware(last[sid]) + every if sid in last else now for name, sid in sites.items()}


def locked_crawl(kb: Any, site_name: str, site_id: int, crawl: CrawlFunction, *,
                 stop: Callable[[], bool] | None = None, progress: Callable[[Any], None] | None = None) -> Any:
    """Crawl one site holding its lock; ConflictError while a crawl of it runs elsewhere.

    The crawl also stops (after its current page) if the lock is lost to another crawl.
    """
    with crawl_locks.acquire(kb, site_id) as lease:
        def should_stop() -> bool:
            return lease.lost.is_set() or (stop is not None and stop())

        return crawl(kb, site_name, progress=progress, stop=should_stop)


def run_schedule(kb: Any, crawl: CrawlFunction, *, every: timedelta, names: list[str] | None,
                 stop: threading.Event, report: Callable[[ScheduleEvent], None]) -> None:
    """Crawl due sites until ``stop`` is set; ``names`` limits it to those sites (None: every site)."""
    not_before: dict[str, datetime] = {}  # retry times after a busy or failed attempt

    def due_now() -> tuple[dict[str, int], dict[str, datetime]]:
        sites = site_ids(kb, names)
        due = due_times(kb, sites, every)
        return sites, {name: max(at, not_before.get(name, at)) for name, at in due.items()}

    while not stop.is_set():
        sites, due = due_now()
        for name in sorted(due, key=lambda n: due[n]):
            if stop.is_set() or due[name] > utcnow():
                continue
            report(_crawl_once(kb, crawl, name, sites[name], stop, not_before))
        if stop.is_set():
            return
        _, due = due_now()
        wake = min(due.values(), default=utcnow() + timedelta(seconds=MAX_SLEEP_SECONDS))
        seconds = (wake - utcnow()).total_seconds()
        stop.wait(min(max(seconds, 1.0), MAX_SLEEP_SECONDS))


def _crawl_once(kb: Any, crawl: CrawlFunction, name: str, site_id: int, stop: threading.Event,
                not_before: dict[str, datetime]) -> ScheduleEvent:
    not_before.pop(name, None)
    try:
        summary = locked_crawl(kb, name, site_id, crawl, stop=stop.is_set)
    except ConflictError as exc:
        not_before[name] = utcnow() + BUSY_RETRY
        return ScheduleEvent(name, "busy", message=exc.message)
    except Exception as exc:  # one broken site must not end the schedule of the others
        log.exception("scheduled crawl of %s failed", name)
        not_before[name] = utcnow() + FAILED_RETRY
        return ScheduleEvent(name, "failed", message=f"{type(exc).__name__}: {exc}")
    return ScheduleEvent(name, "crawled", summary=summary)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set ``stop`` (finish the current page, then end); a second one exits at once."""
    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # asked twice: stop now
        log.warning("signal %s: stopping after the current page", signum)
        stop.set()

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield stop
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
