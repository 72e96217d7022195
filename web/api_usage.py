"""The JSON API behind the usage reports (routes on the `/api/v1` blueprint of :mod:`web.api`).

``GET /usage/scorecard`` (``kind``, ``persona``, ``stage``, ``sort``, ``order``), ``GET /usage/unused``
(``verdict``), ``GET /usage/stale`` (``older_than`` days), ``GET /usage/top`` (``by`` persona or stage) and
``GET /usage/leaderboard``: the same reports as the pages of :mod:`web.usage`, parsed by the same
helpers. Every one takes the window as ``days`` (7, 30, 90, 365) or ``since`` / ``until`` (YYYY-MM-DD);
lists are paged (``limit``, ``offset``) and every answer names its ``window``. Dates are ISO 8601 (UTC).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import jsonify

from kb.search_filters import KINDS
from kb.usage_reports import SORTS, VERDICTS, rep_leaderboard, scorecard, stale_content, top_content, unused_content
from web.api import bp
from web.context import knowledge_base
from web.openapi import PAGING, api_doc, tag_names
from web.pagination import page_args
from web.query_args import only_params
from web.usage import (
    GROUPINGS,
    TOP_PER_GROUP,
    WINDOW_DAYS,
    content_filters,
    grouping_arg,
    older_than_arg,
    report_window,
    sort_args,
    verdict_arg,
)

WINDOW_PARAMS = ("days", "since", "until")
WINDOW = {"days": {"type": "integer", "enum": list(WINDOW_DAYS), "description": "the last N days (default 30)"},
          "since": {"type": "string", "format": "date", "description": "first day (UTC), instead of days"},
          "until": {"type": "string", "format": "date", "description": "last day (UTC; default today)"}}


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    """A report row for JSON: dates and times in ISO 8601 (Flask's default would be an HTTP date)."""
    return {key: value.isoformat() if isinstance(value, date | datetime) else value for key, value in row.items()}


@bp.get("/usage/scorecard")
@api_doc("The content scorecard: per live item its impressions, clicks, copies, sends, prospect opens, "
         "questions answered, last use and weekly trend", tag="usage",
         query={**WINDOW, "kind": {"type": "string", "enum": list(KINDS)}, "persona": tag_names("personas"),
                "stage": tag_names("stages"), "sort": {"type": "string", "enum": list(SORTS)},
                "order": {"type": "string", "enum": ["asc", "desc"]}, **PAGING})
def usage_scorecard():  # type: ignore[no-untyped-def]
    only_params((*WINDOW_PARAMS, "kind", "persona", "stage", "sort", "order", "limit", "offset"))
    window, filters, (sort, desc), page = report_window(), content_filters(), sort_args(), page_args()
    rows, total = scorecard(knowledge_base(), window, **filters, sort=sort, desc=desc, limit=page.limit,
                            offset=page.offset)
    return jsonify({**page.envelope("contents", [_iso(row) for row in rows], total), "window": window.to_dict(),
                    "filters": filters, "sort": sort, "order": "desc" if desc else "asc"})


@bp.get("/usage/unused")
@api_doc("Content nobody used in the window with its verdict: findability (reps ask, nobody sends it), "
         "retire_or_refresh (nobody asks or uses it) or too_new", tag="usage",
         query={**WINDOW, "verdict": {"type": "string", "enum": list(VERDICTS)}, **PAGING})
def usage_unused():  # type: ignore[no-untyped-def]
    only_params((*WINDOW_PARAMS, "verdict", "limit", "offset"))
    window, verdict, page = report_window(), verdict_arg(), page_args()
    rows, total = unused_content(knowledge_base(), window, verdict=verdict, limit=page.limit, offset=page.offset)
    return jsonify({**page.envelope("contents", [_iso(row) for row in rows], total), "window": window.to_dict(),
                    "verdict": verdict})


@bp.get("/usage/stale")
@api_doc("Content unchanged for older_than days (default 365) and unused in the window, oldest first", tag="usage",
         query={**WINDOW, "older_than": {"type": "integer", "minimum": 1, "maximum": 36500}, **PAGING})
def usage_stale():  # type: ignore[no-untyped-def]
    only_params((*WINDOW_PARAMS, "older_than", "limit", "offset"))
    window, older_than, page = report_window(), older_than_arg(), page_args()
    rows, total = stale_content(knowledge_base(), older_than_days=older_than, window=window, limit=page.limit,
                                offset=page.offset)
    return jsonify({**page.envelope("contents", [_iso(row) for row in rows], total), "window": window.to_dict(),
                    "older_than": older_than})


@bp.get("/usage/top")
@api_doc("The most used content of each persona or stage in the window (top 5 of each)", tag="usage",
         query={**WINDOW, "by": {"type": "string", "enum": list(GROUPINGS)}})
def usage_top():  # type: ignore[no-untyped-def]
    only_params((*WINDOW_PARAMS, "by"))
    window, by = report_window(), grouping_arg()
    groups = top_content(knowledge_base(), window, by=by, per_group=TOP_PER_GROUP)
    listed = [{"name": name, "contents": [_iso(row) for row in rows]} for name, rows in groups.items()]
    return jsonify({"by": by, "window": window.to_dict(), "groups": listed})


@bp.get("/usage/leaderboard")
@api_doc("Reps whose questions led to content: questions asked, answered by content published later, "
         "topics started", tag="usage", query={**WINDOW, **PAGING})
def usage_leaderboard():  # type: ignore[no-untyped-def]
    only_params((*WINDOW_PARAMS, "limit", "offset"))
    window, page = report_window(), page_args()
    rows, total = rep_leaderboard(knowledge_base(), window, limit=page.limit, offset=page.offset)
    return jsonify({**page.envelope("reps", rows, total), "window": window.to_dict()})
