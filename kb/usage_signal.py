"""Usage as a small, bounded ranking signal: content people use gets a slight lift in search.

A content item's fused score is multiplied by ``1 + weight * min(1, log(1 + uses) / log(1 + SATURATION))``,
``uses`` being its clicks, copies, sends and prospect opens over the last :data:`SIGNAL_DAYS` rolled-up days
and ``weight`` the setting ``search.usage_weight`` (at most 0.05). So the lift is at most +5%: it reorders
near-ties toward what reps actually send and never lifts a weak match over a clearly better one; the log
makes the first few uses count most, so a handful of popular items cannot run away with every query.
Content with no use keeps its score exactly, and weight 0 skips the signal entirely (results identical
to a search without it; a test holds both). Measured with ``kb eval retrieval`` (BENCHMARKS.md).

Cost, and why it reads only roll-ups: the uses of every content item come from ``usage_daily`` (written by
``kb usage rollup``, daily), so today's uses count from the next roll-up. That keeps a search's cost
independent of how many raw events pile up, and lets the per-content map be kept in memory until the next
roll-up or the next day: a search then pays one tiny query (the roll-up stamp). A failure to read usage is
logged and the search goes on without it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.models import UsageDaily, UsageRollupDay
from kb.usage_counts import USE_KINDS, utc_today

log = logging.getLogger(__name__)

SIGNAL_DAYS = 90
SATURATION = 50  # uses at which the lift reaches its full weight
# Per database URL: (stamp, uses map). A process serves one or a few knowledge bases, so this stays tiny.
_cache: dict[str, tuple[tuple[object, ...], dict[int, int]]] = {}
_lock = threading.Lock()


def boost(uses: int, weight: float) -> float:
    """The score multiplier for ``uses`` uses: 1.0 for none, at most ``1 + weight``."""
    if uses <= 0 or weight <= 0:
        return 1.0
    return 1.0 + weight * min(1.0, math.log1p(uses) / math.log1p(SATURATION))


def _stamp(session: Session) -> tuple[object, ...]:
    """What the uses map depends on: the day, and the roll-ups (their count and latest time)."""
    count, latest = session.execute(select(func.count(), func.max(UsageRollupDay.rolled_at))).one()
    return utc_today(), int(count), latest


def recent_uses(session: Session) -> dict[int, int]:
    """content id -> uses over the last :data:`SIGNAL_DAYS` rolled-up days (cached until the stamp changes)."""
    key = str(session.get_bind().url)
    stamp = _stamp(session)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    since = stamp[0] - timedelta(days=SIGNAL_DAYS)  # type: ignore[operator]
    uses = {int(cid): int(n) for cid, n in session.execute(
        select(UsageDaily.content_id, func.sum(UsageDaily.count))
        .where(UsageDaily.day >= since, UsageDaily.kind.in_(USE_KINDS), UsageDaily.content_id.is_not(None))
        .group_by(UsageDaily.content_id)) if n}
    with _lock:
        _cache[key] = (stamp, uses)
    return uses


def usage_boosts(session: Session, content_ids: Collection[int], weight: float) -> dict[int, float]:
    """content id -> multiplier for the used ones among ``content_ids`` (absent: 1.0)."""
    if weight <= 0 or not content_ids:
        return {}
    try:  # its own session: a failing read (say, a missing table) must not spoil the search's transaction
        with Session(session.get_bind()) as own:
            uses = recent_uses(own)
    except SQLAlchemyError:  # a ranking nudge is never worth failing a search for
        log.warning("usage signal unavailable; searching without it", exc_info=True)
        return {}
    return {cid: boost(uses[cid], weight) for cid in content_ids if uses.get(cid)}
