"""Usage reports (issue 7): the content scorecard, unused content judged against demand, stale content,
top content by persona and stage, usage per persona x stage cell, the rep leaderboard, and CSV for each.

All of them start from :func:`content_rows`: one row per live content item with its usage in the window
(kb.usage_counts: roll-ups for past days, raw events for the rest) and the questions it answered, so the
pages, the API, the CSV downloads and ``kb usage`` say the same thing.

Definitions, and why:

- **Uses** are clicks, copies (link or passage), sends and prospect opens of tracked links: something a
  person did with the content. Impressions (shown in search results) and feedback are not uses.
- **Questions answered** are questions asked in the window that the content answers: answered at intake
  with it as the best match, or in a topic whose confirmed answer it is. This is the *demand* the unused
  report judges content against.
- **Trend** is uses per week for the 8 weeks ending on the window's last day, oldest first; **last used**
  is the latest use within the window or those 8 weeks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from kb.csv_export import write_csv
from kb.errors import ValidationError
from kb.models import Content, Question, Topic
from kb.usage_counts import IMPRESSION, USE_KINDS, ReportWindow, aware, day_start, usage_counts
from kb.usage_leaderboard import LEADERBOARD_COLUMNS, rep_leaderboard

__all__ = [
    "LEADERBOARD_COLUMNS", "SCORECARD_COLUMNS", "SORTS", "STALE_COLUMNS", "UNUSED_COLUMNS", "VERDICTS",
    "ReportWindow", "content_rows", "rep_leaderboard", "report_csv", "scorecard", "stale_content", "top_content",
    "unused_content", "usage_by_cell",
]

TREND_WEEKS = 8
SCORECARD_COLUMNS = ["content_id", "title", "url", "kind", "persona", "stage", "published_at", "impressions",
                     "clicks", "copies", "sends", "opens", "questions_answered", "last_used", "trend"]
UNUSED_COLUMNS = SCORECARD_COLUMNS + ["verdict", "demand"]
STALE_COLUMNS = SCORECARD_COLUMNS + ["last_changed", "age_days"]
SORTS = ("impressions", "clicks", "copies", "sends", "opens", "uses", "questions_answered", "last_used", "title",
         "published_at")
# findability: reps ask what it answers, yet nobody sends it (surface it); retire_or_refresh: nobody asks about
# or uses it; too_new: published (or first crawled) inside the window, too soon to judge.
VERDICTS = ("findability", "retire_or_refresh", "too_new")
_COLUMN_OF = {IMPRESSION: "impressions", "click": "clicks", "copy_link": "copies", "copy_passage": "copies",
              "sent": "sends", "link_visit": "opens"}
UNTAGGED = "untagged"


def _questions_answered(session: Any, window: ReportWindow) -> dict[int, int]:
    """content id -> questions asked in the window that it answers (see the module docstring)."""
    asked = (Question.asked_at >= day_start(window.start),
             Question.asked_at < day_start(window.end + timedelta(days=1)))
    pairs: set[tuple[int, int]] = set()
    pairs.update(session.execute(select(Question.id, Question.best_content_id).where(
        *asked, Question.decision == "answered", Question.best_content_id.is_not(None))))
    pairs.update(session.execute(select(Question.id, Topic.answer_content_id).join(Topic, Topic.id == Question.topic_id)
                                 .where(*asked, Topic.answer_content_id.is_not(None))))
    counts: dict[int, int] = {}
    for _, content_id in pairs:
        counts[content_id] = counts.get(content_id, 0) + 1
    return counts


def _born(content: Any) -> datetime | None:
    """When the content appeared: its published date, else when the crawler first saw it."""
    return aware(content.published_at) or aware(content.first_seen_at)


def content_rows(kb, window: ReportWindow) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every live content item with its usage in ``window`` (scorecard keys, plus ``uses`` and ``born``)."""
    trend_start = window.end - timedelta(days=7 * TREND_WEEKS - 1)
    with kb.sessions() as session:
        contents = session.execute(select(
            Content.id, Content.title, Content.canonical_url, Content.kind, Content.persona, Content.stage,
            Content.published_at, Content.first_seen_at, Content.modified_at, Content.changed_at,
        ).where(Content.status == "live").order_by(Content.id)).all()
        totals = usage_counts(session, window.start, window.end, kinds=(IMPRESSION, *USE_KINDS))
        weekly = usage_counts(session, trend_start, window.end, weeks_to=window.end, kinds=USE_KINDS)
        answered = _questions_answered(session, window)
    rows: dict[int, dict[str, Any]] = {}
    for c in contents:
        rows[c.id] = {
            "content_id": c.id, "title": c.title, "url": c.canonical_url, "kind": c.kind, "persona": c.persona,
            "stage": c.stage, "published_at": aware(c.published_at), "impressions": 0, "clicks": 0, "copies": 0,
            "sends": 0, "opens": 0, "uses": 0, "questions_answered": answered.get(c.id, 0), "last_used": None,
            "trend": [0] * TREND_WEEKS, "born": _born(c), "modified_at": aware(c.modified_at),
            "changed_at": aware(c.changed_at), "first_seen_at": aware(c.first_seen_at),
        }
    for (_, kind, content_id), (count, last) in totals.items():
        row = rows.get(content_id)  # type: ignore[arg-type]
        if row is not None:
            row[_COLUMN_OF[kind]] += count
            if kind in USE_KINDS:
                row["uses"] += count
                _note_use(row, last)
    for (weeks_back, _, content_id), (count, last) in weekly.items():
        row = rows.get(content_id)  # type: ignore[arg-type]
        if row is not None and 0 <= weeks_back < TREND_WEEKS:
            row["trend"][TREND_WEEKS - 1 - weeks_back] += count
            _note_use(row, last)
    return list(rows.values())


def _note_use(row: dict[str, Any], last: datetime | None) -> None:
    if last is not None and (row["last_used"] is None or last > row["last_used"]):
        row["last_used"] = last


def _public(row: dict[str, Any], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    keep = (*SCORECARD_COLUMNS, "uses", *extra)
    return {key: row[key] for key in keep}


def _sort_key(name: str) -> Any:
    if name == "title":
        return lambda row: (row["title"] or "").lower()
    if name in ("last_used", "published_at"):
        floor = datetime.min.replace(tzinfo=UTC)
        return lambda row: row[name] or floor
    return lambda row: row[name]


def _page(rows: list[dict[str, Any]], limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    if limit < 1 or offset < 0:
        raise ValidationError("limit must be at least 1 and offset at least 0")
    return rows[offset:offset + limit], len(rows)


def scorecard(kb, window: ReportWindow, *, kind: str | None = None, persona: str | None = None,  # type: ignore[no-untyped-def]
              stage: str | None = None, sort: str = "impressions", desc: bool = True, limit: int = 50,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Per live content item: impressions, clicks, copies, sends, prospect opens, questions answered, last
    used and the weekly trend; filtered by kind, persona and stage; (one page of rows, total)."""
    if sort not in SORTS:
        raise ValidationError(f"unknown sort {str(sort)[:30]!r}; choose from {', '.join(SORTS)}")
    rows = [row for row in content_rows(kb, window)
            if (kind is None or row["kind"] == kind) and (persona is None or row["persona"] == persona)
            and (stage is None or row["stage"] == stage)]
    rows.sort(key=lambda row: row["content_id"])  # ties in a stable order whichever way the sort goes
    rows.sort(key=_sort_key(sort), reverse=desc)
    page, total = _page(rows, limit, offset)
    return [_public(row) for row in page], total


def judge(row: dict[str, Any], window: ReportWindow) -> str | None:
    """The unused report's verdict on one content row; None when it was used in the window."""
    if row["uses"]:
        return None
    if row["born"] is not None and row["born"].date() >= window.start:
        return "too_new"
    return "findability" if row["questions_answered"] else "retire_or_refresh"


def unused_content(kb, window: ReportWindow, *, verdict: str | None = None, limit: int = 50,  # type: ignore[no-untyped-def]
                   offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Content nobody used in the window, each with its verdict and demand (questions it answered):
    findability problems first (most demand first), then retirement or refresh candidates, then too new."""
    if verdict is not None and verdict not in VERDICTS:
        raise ValidationError(f"unknown verdict {str(verdict)[:30]!r}; choose from {', '.join(VERDICTS)}")
    rows = []
    for row in content_rows(kb, window):
        found = judge(row, window)
        if found is not None and (verdict is None or found == verdict):
            rows.append({**_public(row), "verdict": found, "demand": row["questions_answered"]})
    rows.sort(key=lambda row: (VERDICTS.index(row["verdict"]), -row["demand"], -row["impressions"],
                               (row["title"] or "").lower(), row["content_id"]))
    return _page(rows, limit, offset)


def last_changed(row: dict[str, Any]) -> datetime | None:
    """The latest date the content is known to have changed: its own modified/published dates, and a change
    the crawler saw after first fetching it (``changed_at`` equals the first fetch until then)."""
    dates = [moment for moment in (row["modified_at"], row["published_at"]) if moment is not None]
    changed, first = row["changed_at"], row["first_seen_at"]
    if changed is not None and first is not None and changed - first > timedelta(minutes=1):
        dates.append(changed)
    if not dates and first is not None:
        dates.append(first)
    return max(dates) if dates else None


def stale_content(kb, *, older_than_days: int = 365, window: ReportWindow | None = None,  # type: ignore[no-untyped-def]
                  limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Content unchanged for ``older_than_days`` and unused in ``window`` (default: the last 90 days),
    oldest first, with ``last_changed`` and ``age_days``."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise ValidationError("older_than_days must be a whole number of at least 1")
    window = window or ReportWindow.last(90)
    now = day_start(window.end + timedelta(days=1))
    rows = []
    for row in content_rows(kb, window):
        changed = last_changed(row)
        if row["uses"] or changed is None or (now - changed).days < older_than_days:
            continue
        rows.append({**_public(row), "last_changed": changed, "age_days": (now - changed).days})
    rows.sort(key=lambda row: (row["last_changed"], row["content_id"]))
    return _page(rows, limit, offset)


def top_content(kb, window: ReportWindow, *, by: str = "persona",  # type: ignore[no-untyped-def]
                per_group: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The most used content of each persona (or stage) in the window: uses first, then impressions; content
    neither used nor shown is left out; untagged content is under ``"untagged"``."""
    if by not in ("persona", "stage"):
        raise ValidationError("top content is by 'persona' or 'stage'")
    if per_group < 1:
        raise ValidationError("per_group must be at least 1")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in content_rows(kb, window):
        if row["uses"] or row["impressions"]:
            groups.setdefault(row[by] or UNTAGGED, []).append(_public(row))
    for rows in groups.values():
        rows.sort(key=lambda row: (-row["uses"], -row["impressions"], row["content_id"]))
        del rows[per_group:]
    return dict(sorted(groups.items()))


def usage_by_cell(kb, window: ReportWindow) -> dict[tuple[str | None, str | None], int]:  # type: ignore[no-untyped-def]
    """(persona, stage) of live content -> its uses in the window (every cell with content, 0 included):
    the coverage heatmap's "usage" view."""
    cells: dict[tuple[str | None, str | None], int] = {}
    for row in content_rows(kb, window):
        cell = (row["persona"], row["stage"])
        cells[cell] = cells.get(cell, 0) + row["uses"]
    return cells


def report_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Report rows as CSV (formula injection defused, the trend as space-separated weekly counts)."""
    return write_csv(rows, columns)
