"""Usage reports on a small real knowledge base (SQLite; PostgreSQL too under `make test`) with hand-made
events (tests/support/usage_seed.py), and the daily roll-up: idempotent, reports equal before and after,
retention deletes only old raw events."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from kb.errors import ValidationError
from kb.models import UsageDaily, UsageEvent
from kb.usage_counts import aware
from kb.usage_reports import (
    SCORECARD_COLUMNS,
    UNUSED_COLUMNS,
    ReportWindow,
    rep_leaderboard,
    report_csv,
    scorecard,
    stale_content,
    top_content,
    unused_content,
    usage_by_cell,
)
from kb.usage_rollup import roll_up
from tests.support.usage_seed import TODAY, at, seed_usage

pytestmark = pytest.mark.database  # the SQL differs by dialect (day buckets, JSON results): run on both

WINDOW = ReportWindow.last(30, TODAY)


@pytest.fixture
def kbase(make_kb):
    kb = make_kb({"usage": {"retention_days": 30}})
    kb.ids = seed_usage(kb)
    return kb


def by_id(rows):  # type: ignore[no-untyped-def]
    return {row["content_id"]: row for row in rows}


def every_report(kb) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "scorecard": scorecard(kb, WINDOW, limit=100),
        "unused": unused_content(kb, WINDOW, limit=100),
        "stale": stale_content(kb, window=ReportWindow.last(90, TODAY), limit=100),
        "top": top_content(kb, WINDOW),
        "cells": usage_by_cell(kb, WINDOW),
        "leaderboard": rep_leaderboard(kb, WINDOW),
    }


def test_window_bounds_and_bad_windows():
    assert ReportWindow(date(2026, 9, 1), date(2026, 9, 30)) == WINDOW
    assert ReportWindow.parse("2026-09-03", "2026-09-04").days == 2
    assert ReportWindow.parse(None, "2026-09-30", days=7).start == date(2026, 9, 24)
    for call, message in ((lambda: ReportWindow.last(0), "at least 1"),
                          (lambda: ReportWindow.parse("2026-09-05", "2026-09-01"), "after it ends"),
                          (lambda: ReportWindow.parse("yesterday", None), "date like")):
        with pytest.raises(ValidationError, match=message):
            call()


def test_scorecard_counts_each_kind_in_the_window(kbase):
    ids = kbase.ids
    rows, total = scorecard(kbase, WINDOW, limit=100)
    assert total == 5  # the retired post is not reported
    a, b, e = by_id(rows)[ids["a"]], by_id(rows)[ids["b"]], by_id(rows)[ids["e"]]
    assert set(SCORECARD_COLUMNS) <= set(a)
    assert (a["impressions"], a["clicks"], a["copies"], a["sends"], a["opens"], a["questions_answered"]) == (
        5, 4, 3, 2, 1, 1)
    assert a["trend"] == [0] * 7 + [10] and a["last_used"] == at(9, 29, 20)
    assert (b["impressions"], b["questions_answered"], b["last_used"]) == (5, 2, None)
    # e was sent before the window: not counted in it, but in the trend's weeks and as its last use
    assert (e["sends"], e["trend"], e["last_used"]) == (0, [0, 0, 1, 0, 0, 0, 0, 0], at(8, 20))
    assert rows[0]["content_id"] in (ids["a"], ids["b"])  # sorted by impressions, most first
    assert [r["content_id"] for r in scorecard(kbase, WINDOW, sort="sends")[0]][0] == ids["a"]
    only, total = scorecard(kbase, WINDOW, persona="finance", stage="engage")
    assert total == 1 and only[0]["content_id"] == ids["e"]
    assert scorecard(kbase, WINDOW, limit=2, offset=4)[0][0]["content_id"] in by_id(rows)
    with pytest.raises(ValidationError, match="unknown sort"):
        scorecard(kbase, WINDOW, sort="id; drop table")


def test_unused_content_is_judged_against_demand(kbase):
    ids = kbase.ids
    rows, total = unused_content(kbase, WINDOW, limit=100)
    verdicts = {row["content_id"]: row["verdict"] for row in rows}
    assert verdicts == {ids["b"]: "findability", ids["c"]: "retire_or_refresh", ids["e"]: "retire_or_refresh",
                        ids["d"]: "too_new"}
    assert total == 4 and rows[0]["content_id"] == ids["b"] and rows[0]["demand"] == 2  # findability first
    assert set(UNUSED_COLUMNS) <= set(rows[0])
    only, total = unused_content(kbase, WINDOW, verdict="retire_or_refresh")
    assert total == 2 and {r["content_id"] for r in only} == {ids["c"], ids["e"]}
    # Over a window that holds e's send, e is used, so it is not unused.
    wider = ReportWindow.last(60, TODAY)
    assert ids["e"] not in {r["content_id"] for r in unused_content(kbase, wider, limit=100)[0]}
    with pytest.raises(ValidationError, match="unknown verdict"):
        unused_content(kbase, WINDOW, verdict="meh")


def test_stale_content_is_old_unchanged_and_unused(kbase):
    ids = kbase.ids
    rows, total = stale_content(kbase, older_than_days=365, window=ReportWindow.last(90, TODAY))
    # a is as old but used; b was modified in June; e is recent; d is new.
    assert total == 1 and rows[0]["content_id"] == ids["c"] and rows[0]["age_days"] > 900
    rows, _ = stale_content(kbase, older_than_days=100, window=ReportWindow.last(90, TODAY))
    assert [r["content_id"] for r in rows] == [ids["c"], ids["b"]]  # oldest first
    with pytest.raises(ValidationError):
        stale_content(kbase, older_than_days=0)


def test_top_content_and_usage_cells(kbase):
    ids = kbase.ids
    top = top_content(kbase, WINDOW)
    assert list(top) == ["it-security"]
    assert [r["content_id"] for r in top["it-security"]] == [ids["a"], ids["b"]]  # uses, then impressions
    assert [r["content_id"] for r in top_content(kbase, WINDOW, by="stage", per_group=1)["engage"]] == [ids["a"]]
    assert usage_by_cell(kbase, WINDOW) == {("it-security", "engage"): 10, ("finance", "attract"): 0,
                                            (None, None): 0, ("finance", "engage"): 0}
    with pytest.raises(ValidationError):
        top_content(kbase, WINDOW, by="site")


def test_rep_leaderboard_counts_questions_that_led_to_new_content(kbase):
    rows, total = rep_leaderboard(kbase, WINDOW)
    assert total == 2
    assert rows[0] == {"user_id": kbase.ids["bo"], "name": "Bo", "questions_asked": 4,
                       "questions_answered_by_new_content": 1, "topics_started": 1}
    assert rows[1] == {"user_id": kbase.ids["cy"], "name": "Cy", "questions_asked": 1,
                       "questions_answered_by_new_content": 0, "topics_started": 0}
    august = ReportWindow(date(2026, 8, 1), date(2026, 8, 31))
    assert rep_leaderboard(kbase, august)[0] == [{"user_id": kbase.ids["cy"], "name": "Cy", "questions_asked": 1,
                                                  "questions_answered_by_new_content": 0, "topics_started": 1}]


def daily_rows(kb):  # type: ignore[no-untyped-def]
    with kb.sessions() as s:
        return sorted(s.execute(select(UsageDaily.day, UsageDaily.kind, UsageDaily.content_id,
                                       UsageDaily.count, UsageDaily.last_at)).all(), key=repr)


def raw_events(kb) -> int:  # type: ignore[no-untyped-def]
    with kb.sessions() as s:
        return s.scalar(select(func.count()).select_from(UsageEvent))


def test_reports_are_equal_before_and_after_the_rollup_which_is_idempotent(kbase):
    before = every_report(kbase)
    partial = roll_up(kbase, today=date(2026, 9, 28))  # 09-28 onwards stay raw: reports mix both
    assert partial.days_rolled > 0 and partial.events_deleted == 1  # retention 30 days: the 08-20 send
    assert every_report(kbase) == before
    report = roll_up(kbase, today=TODAY + timedelta(days=1))
    assert report.days_rolled == 3 and report.rows_written > 0  # only the days not rolled up yet
    assert every_report(kbase) == before
    rows = daily_rows(kbase)
    assert ("impression" in {row[1] for row in rows}) and len(rows) == report.rows_written + partial.rows_written
    again = roll_up(kbase, since=date(2026, 9, 1), today=TODAY + timedelta(days=1))
    assert again.days_rolled == 30 and daily_rows(kbase) == rows
    assert every_report(kbase) == before


def test_retention_deletes_only_old_raw_events_after_rolling_them_up(kbase):
    before, total = every_report(kbase), raw_events(kbase)
    report = roll_up(kbase, today=date(2026, 9, 25))  # retention 30 days: cutoff 08-26
    assert report.retention_cutoff == "2026-08-26" and report.events_deleted == 1  # e's send on 08-20
    assert raw_events(kbase) == total - 1
    with kbase.sessions() as s:
        assert aware(s.scalar(select(func.min(UsageEvent.at)))) >= at(8, 26)
    assert every_report(kbase) == before  # the deleted event lives on in its day's counts
    # Re-rolling a day whose raw events are gone keeps its counts.
    roll_up(kbase, since=date(2026, 8, 1), today=date(2026, 9, 25))
    assert scorecard(kbase, ReportWindow(date(2026, 8, 20), date(2026, 8, 20)))[0][-1]["content_id"] is not None
    assert by_id(scorecard(kbase, ReportWindow(date(2026, 8, 20), date(2026, 8, 20)), limit=100)[0])[
        kbase.ids["e"]]["sends"] == 1
    with pytest.raises(ValidationError, match="whole past days"):
        roll_up(kbase, until=date(2026, 9, 25), today=date(2026, 9, 25))


def test_report_csv_defuses_formulas_and_parses(kbase):
    rows, _ = scorecard(kbase, WINDOW, limit=100)
    text = report_csv(rows, SCORECARD_COLUMNS)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 5 and list(parsed[0]) == SCORECARD_COLUMNS
    hostile = next(row for row in parsed if "Old webinar" in row["title"])
    assert hostile["title"].startswith("'=HYPERLINK")
    sso = next(row for row in parsed if row["title"] == "SSO guide")
    assert sso["trend"] == "0 0 0 0 0 0 0 10" and sso["last_used"].startswith("2026-09-29T20:00")
