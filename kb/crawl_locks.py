"""One crawl per site at a time: a lease row in the database, kept alive by a heartbeat.

Why a lease row rather than PostgreSQL advisory locks plus a SQLite file lock: one code path for both
databases (the same test covers both), it works across machines sharing the database, the holder is
visible (who, since when) for the "a crawl of this site is running" message, and it needs no connection
held open for hours. What an advisory lock gives for free, release when the holder dies, comes from the
heartbeat: a holder that stopped heart-beating for :data:`STALE_AFTER` is taken over by the next crawl,
and on the same machine a holder whose process is gone (``kill -9``) is taken over at once.

Claiming is atomic on both databases: an INSERT of the site's row (the primary key lets only one win),
or, for a dead holder's row, an UPDATE that only matches the exact row the claimant saw (compare and swap
on holder and heartbeat), so two claimants can never both take it over.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from kb.errors import ConflictError, NotFoundError
from kb.models import CrawlLock, CrawlRun, Site, utcnow

log = logging.getLogger(__name__)

# A crawl heart-beats every HEARTBEAT_SECONDS from a thread of its own, so a long page fetch or an
# embedding batch does not delay it; four missed beats mean the holder is gone.
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=2)
RUNNING_MESSAGE = "a crawl of this site is running"


def new_holder() -> str:
    """A name unique to one acquisition: the host and process (to spot a dead local holder) and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


def _process_gone(holder: str) -> bool:
    """True when ``holder`` ran on this machine in a process that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


class CrawlLease:
    """The held lock on one site's crawl; heart-beats in the background until released.

    ``lost`` is set if the lease was taken over (this process stalled for longer than the stale limit):
    a crawl should stop then, since another one now owns the site.
    """

    def __init__(self, kb: Any, site_id: int, holder: str, *, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.kb = kb
        self.site_id = site_id
        self.holder = holder
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_seconds,),
                                        name=f"crawl-lock-{site_id}", daemon=True)
        self._thread.start()

    def heartbeat(self) -> bool:
        """Prove the holder is alive; False (and ``lost`` set) when the lease is no longer ours."""
        with self.kb.transaction() as session:
            moved = session.execute(
                update(CrawlLock)
                .where(CrawlLock.site_id == self.site_id, CrawlLock.holder == self.holder)
                .values(heartbeat_at=utcnow())
            ).rowcount
        if not moved:
            self.lost.set()
        return bool(moved)

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                if not self.heartbeat():
                    log.warning("crawl lock of site %s was taken over; this crawl should stop", self.site_id)
                    return
            except Exception:  # a busy database must not kill the heartbeat: try again next beat
                log.exception("crawl lock heartbeat of site %s failed", self.site_id)

    def release(self) -> None:
        """Stop heart-beating and delete the row (only if it is still ours)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self.kb.transaction() as session:
            session.execute(delete(CrawlLock).where(CrawlLock.site_id == self.site_id,
                                                    CrawlLock.holder == self.holder))

    def __enter__(self) -> CrawlLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(kb: Any, site_id: int, *, stale_after: timedelta = STALE_AFTER,
            heartbeat_seconds: float = HEARTBEAT_SECONDS) -> CrawlLease:
    """Claim the site's crawl lock; ConflictError (409) while a live holder has it."""
    holder = new_holder()
    if _insert(kb, site_id, holder):
        return CrawlLease(kb, site_id, holder, heartbeat_seconds=heartbeat_seconds)
    with kb.sessions() as session:
        current = session.get(CrawlLock, site_id)
        seen = None if current is None else (current.holder, current.heartbeat_at)
    # seen is None: released between our insert and this read, so one more try
    if seen is None:
        if _insert(kb, site_id, holder):
            return CrawlLease(kb, site_id, holder, heartbeat_seconds=heartbeat_seconds)
        raise ConflictError(RUNNING_MESSAGE)
    seen_holder, seen_beat = seen
    stale = utcnow() - _aware(seen_beat) > stale_after
    if not (stale or _process_gone(seen_holder)):
        raise ConflictError(f"{RUNNING_MESSAGE} (held by {seen_holder.rsplit(':', 1)[0]}, "
                            f"last seen {_aware(seen_beat):%Y-%m-%d %H:%M:%S} UTC)")
    if not _take_over(kb, site_id, holder, seen_holder, seen_beat):
        raise ConflictError(RUNNING_MESSAGE)  # another claimant took it over first
    log.warning("crawl lock of site %s taken over from %s (%s)", site_id, seen_holder,
                "no heartbeat" if stale else "process gone")
    return CrawlLease(kb, site_id, holder, heartbeat_seconds=heartbeat_seconds)


def _insert(kb: Any, site_id: int, holder: str) -> bool:
    now = utcnow()
    try:
        with kb.transaction() as session:
            if session.get(Site, site_id) is None:
                raise NotFoundError(f"no site {site_id}")
            session.add(CrawlLock(site_id=site_id, holder=holder, acquired_at=now, heartbeat_at=now))
            session.flush()
    except IntegrityError:  # the row exists: someone holds (or held) the lock
        return False
    return True


def _take_over(kb: Any, site_id: int, holder: str, seen_holder: str, seen_beat: datetime) -> bool:
    """Compare and swap: replace exactly the dead holder's row we saw; the crawl it left 'running' is
    marked interrupted (we now hold the lock, so no other crawl of the site can be running)."""
    now = utcnow()
    with kb.transaction() as session:
        moved = session.execute(
            update(CrawlLock)
            .where(CrawlLock.site_id == site_id, CrawlLock.holder == seen_holder,
                   CrawlLock.heartbeat_at == seen_beat)
            .values(holder=holder, acquired_at=now, heartbeat_at=now)
        ).rowcount
        if moved:
            session.execute(
                update(CrawlRun)
                .where(CrawlRun.site_id == site_id, CrawlRun.status == "running")
                .values(status="interrupted", finished_at=now,
                        error="the crawl's process ended without finishing (killed or crashed)")
            )
    return bool(moved)


def holder_of(kb: Any, site_id: int) -> str | None:
    """Who holds the site's crawl lock (host:pid:nonce), or None when no crawl of it runs."""
    with kb.sessions() as session:
        row = session.get(CrawlLock, site_id)
        return row.holder if row is not None else None
