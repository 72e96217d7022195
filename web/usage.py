"""The usage reports for marketers: content scorecard, unused content, stale content, top content, rep leaderboard.

Marketers and admins only (reps get 403): the leaderboard names reps, and the reports are marketing's
tool for deciding what to surface, refresh or retire. Every page has a "Download CSV" twin (the same
route with ``.csv``: every row, not one page; formula injection defused by :mod:`kb.csv_export`) and the
same data as JSON under ``/api/v1/usage/...`` (:mod:`web.api_usage`). Logic lives in
:mod:`kb.usage_reports`; the request parsing both share is here (:func:`report_window`, :func:`content_filters`,
:func:`sort_args`), so a bad ``days``, ``kind`` or ``sort`` is the same 400 on the page and in the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup

from kb.errors import ValidationError
from kb.search_filters import KINDS
from kb.sparkline import sparkline_svg
from kb.usage_reports import (
    LEADERBOARD_COLUMNS,
    SCORECARD_COLUMNS,
    SORTS,
    STALE_COLUMNS,
    UNUSED_COLUMNS,
    VERDICTS,
    ReportWindow,
    rep_leaderboard,
    report_csv,
    scorecard,
    stale_content,
    top_content,
    unused_content,
)
from web.context import knowledge_base
from web.pagination import Page, page_args

bp = Blueprint("usage", __name__, url_prefix="/usage")

WINDOW_DAYS = (7, 30, 90, 365)
DEFAULT_DAYS = 30
DEFAULT_STALE_DAYS = 365  # "old": unchanged for a year
CSV_ROWS = 100_000  # a download holds every row (a knowledge base has thousands of items, not millions)
GROUPINGS = ("persona", "stage")
TOP_PER_GROUP = 5
ASCENDING_FIRST = ("title",)  # sorts whose natural first click is A to Z; the counts start with the largest
VERDICT_WORDS = {
    "findability": ("Findability problem", "Reps ask questions this answers, but nobody opened, copied or sent it: "
                                           "surface it (better title, tags, a pinned answer)."),
    "retire_or_refresh": ("Retire or refresh", "Nobody asked about it and nobody used it: "
                                               "retire it, or refresh it if the topic still matters."),
    "too_new": ("Too new to judge", "Published or first crawled inside the window: give it time."),
}


# -- request parsing shared with web.api_usage ----------------------------------------------------
def report_window() -> ReportWindow:
    """``since``/``until`` (YYYY-MM-DD) when given, else the last ``days`` days (7, 30, 90 or 365)."""
    raw = (request.args.get("days") or "").strip()
    if raw and raw not in {str(days) for days in WINDOW_DAYS}:
        raise ValidationError(f"days must be one of {', '.join(map(str, WINDOW_DAYS))}, got {raw[:20]!r}")
    return ReportWindow.parse(request.args.get("since") or None, request.args.get("until") or None,
                              days=int(raw) if raw else DEFAULT_DAYS)


def content_filters() -> dict[str, str | None]:
    """``kind``, ``persona`` and ``stage``: a known kind and configured names only (anything else is a 400,
    never an empty report that looks like "no usage")."""
    settings = knowledge_base().settings
    allowed = {"kind": KINDS, "persona": [tag.name for tag in settings.personas],
               "stage": [tag.name for tag in settings.stages]}
    filters: dict[str, str | None] = {}
    for name, names in allowed.items():
        value = (request.args.get(name) or "").strip() or None
        if value is not None and value not in names:
            raise ValidationError(f"unknown {name} {value[:40]!r}; choose from {', '.join(names)}")
        filters[name] = value
    return filters


def sort_args() -> tuple[str, bool]:
    """``sort`` (a column of :data:`kb.usage_reports.SORTS`) and ``order`` (asc / desc; default per column)."""
    sort = (request.args.get("sort") or "impressions").strip()
    if sort not in SORTS:
        raise ValidationError(f"unknown sort {sort[:30]!r}; choose from {', '.join(SORTS)}")
    order = (request.args.get("order") or "").strip().lower()
    if order not in ("", "asc", "desc"):
        raise ValidationError(f"order must be asc or desc, got {order[:20]!r}")
    return sort, (order == "desc") if order else sort not in ASCENDING_FIRST


def verdict_arg() -> str | None:
    verdict = (request.args.get("verdict") or "").strip() or None
    if verdict is not None and verdict not in VERDICTS:
        raise ValidationError(f"unknown verdict {verdict[:30]!r}; choose from {', '.join(VERDICTS)}")
    return verdict


def older_than_arg() -> int:
    raw = (request.args.get("older_than") or "").strip()
    if not raw:
        return DEFAULT_STALE_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= 36_500:
        raise ValidationError(f"older_than must be a number of days from 1 to 36500, got {raw[:20]!r}")
    return int(raw)


def grouping_arg() -> str:
    by = (request.args.get("by") or "persona").strip()
    if by not in GROUPINGS:
        raise ValidationError(f"by must be one of {', '.join(GROUPINGS)}, got {by[:20]!r}")
    return by


# -- rendering ------------------------------------------------------------------------------------
def sparkline(values: Sequence[float], label: str = "") -> Markup:
    """The SVG trend chart; kb.sparkline builds it escape-first (the label is the only text in it)."""
    return Markup(sparkline_svg(values, label=label))  # noqa: S704  # nosec B704: built escape-first


def _kept_args(*names: str) -> dict[str, str]:
    """The query parameters a page's links carry over (filters, window, sort), without paging."""
    return {name: value for name in names if (value := request.args.get(name, "").strip())}


def _csv(report: str, window: ReportWindow, rows: list[dict[str, Any]], columns: Sequence[str]) -> Response:
    response = Response(report_csv(rows, list(columns)), content_type="text/csv; charset=utf-8")
    name = f"usage-{report}-{window.start.isoformat()}-to-{window.end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _page(fmt: str) -> Page:
    return Page(limit=CSV_ROWS, offset=0) if fmt == "csv" else page_args()


def _render(template: str, report: str, window: ReportWindow, **context: Any) -> str:
    return render_template(f"usage/{template}", report=report, window=window, window_days=WINDOW_DAYS,
                           sparkline=sparkline, **context)


# -- the reports ----------------------------------------------------------------------------------
# Each report is one endpoint with two rules: the page and its ``.csv`` twin. The page's rule is the lower
# decorator, so it is registered first and is what ``url_for`` builds when ``fmt`` is not given.
@bp.get("/scorecard.csv", defaults={"fmt": "csv"})
@bp.get("/", defaults={"fmt": "html"})
def scorecard_page(fmt: str):  # type: ignore[no-untyped-def]
    """Per content item: impressions, clicks, copies, sends, prospect opens, questions answered, last used,
    trend; sortable by column, filtered by kind / persona / stage, over 7, 30, 90 or 365 days."""
    window, filters, (sort, desc), page = report_window(), content_filters(), sort_args(), _page(fmt)
    rows, total = scorecard(knowledge_base(), window, **filters, sort=sort, desc=desc, limit=page.limit,
                            offset=page.offset)
    if fmt == "csv":
        return _csv("scorecard", window, rows, SCORECARD_COLUMNS)
    return _render("scorecard.html", "scorecard", window, rows=rows, total=total, page=page, filters=filters,
                   sort=sort, desc=desc, kinds=KINDS, settings=knowledge_base().settings,
                   args=_kept_args("days", "since", "until", "kind", "persona", "stage", "sort", "order"))


@bp.get("/unused.csv", defaults={"fmt": "csv"})
@bp.get("/unused", defaults={"fmt": "html"})
def unused_page(fmt: str):  # type: ignore[no-untyped-def]
    """Content nobody used in the window, judged against demand: findability, retire or refresh, too new."""
    window, verdict, page = report_window(), verdict_arg(), _page(fmt)
    rows, total = unused_content(knowledge_base(), window, verdict=verdict, limit=page.limit, offset=page.offset)
    if fmt == "csv":
        return _csv("unused" + (f"-{verdict}" if verdict else ""), window, rows, UNUSED_COLUMNS)
    return _render("unused.html", "unused", window, rows=rows, total=total, page=page, verdict=verdict,
                   verdicts=VERDICTS, verdict_words=VERDICT_WORDS, args=_kept_args("days", "since", "until", "verdict"))


@bp.get("/stale.csv", defaults={"fmt": "csv"})
@bp.get("/stale", defaults={"fmt": "html"})
def stale_page(fmt: str):  # type: ignore[no-untyped-def]
    """Content unchanged for ``older_than`` days (default a year) and unused in the window, oldest first."""
    window, older_than, page = report_window(), older_than_arg(), _page(fmt)
    rows, total = stale_content(knowledge_base(), older_than_days=older_than, window=window, limit=page.limit,
                                offset=page.offset)
    if fmt == "csv":
        return _csv("stale", window, rows, STALE_COLUMNS)
    return _render("stale.html", "stale", window, rows=rows, total=total, page=page, older_than=older_than,
                   args=_kept_args("days", "since", "until", "older_than"))


@bp.get("/top.csv", defaults={"fmt": "csv"})
@bp.get("/top", defaults={"fmt": "html"})
def top_page(fmt: str):  # type: ignore[no-untyped-def]
    """The most used content of each persona or stage (``by``) in the window."""
    window, by = report_window(), grouping_arg()
    groups = top_content(knowledge_base(), window, by=by, per_group=TOP_PER_GROUP)
    if fmt == "csv":
        rows = [{by: group, "rank": rank, **row} for group, items in groups.items()
                for rank, row in enumerate(items, start=1)]
        return _csv(f"top-by-{by}", window, rows, [by, "rank", "uses", *SCORECARD_COLUMNS])
    return _render("top.html", "top", window, groups=groups, by=by, groupings=GROUPINGS,
                   args=_kept_args("days", "since", "until", "by"))


@bp.get("/reps.csv", defaults={"fmt": "csv"})
@bp.get("/reps", defaults={"fmt": "html"})
def leaderboard_page(fmt: str):  # type: ignore[no-untyped-def]
    """Reps whose questions led to published content, best first."""
    window, page = report_window(), _page(fmt)
    rows, total = rep_leaderboard(knowledge_base(), window, limit=page.limit, offset=page.offset)
    if fmt == "csv":
        return _csv("rep-leaderboard", window, rows, LEADERBOARD_COLUMNS)
    return _render("leaderboard.html", "reps", window, rows=rows, total=total, page=page,
                   args=_kept_args("days", "since", "until"))
