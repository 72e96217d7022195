"""`kb usage ...`: the usage reports (scorecard, unused, stale, top, leaderboard) and the daily roll-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx

FORMATS = ("text", "csv", "json")


def window_options(default_days: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--days / --since / --until / --format / --limit / --offset, shared by every report."""
    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--days", type=click.IntRange(min=1), default=default_days, show_default=True,
                         help="Report on the last N days (UTC, today included)."),
            click.option("--since", help="First day of the report (YYYY-MM-DD); overrides --days."),
            click.option("--until", help="Last day of the report (YYYY-MM-DD; default today)."),
            click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True),
            click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Rows shown."),
            click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Rows skipped."),
        ]):
            command = option(command)
        return command
    return wrap


def _window(days: int, since: str | None, until: str | None):  # type: ignore[no-untyped-def]
    from kb.usage_reports import ReportWindow

    return ReportWindow.parse(since, until, days=days)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def _render(rows: list[dict[str, Any]], total: int, columns: list[str], fmt: str, *, window: Any,
            text_columns: list[str]) -> None:
    from kb.usage_reports import report_csv

    if fmt == "json":
        emit_json({"window": window.to_dict() if window else None, "total": total, "rows": rows})
    elif fmt == "csv":
        click.echo(report_csv(rows, columns), nl=False)
    elif not rows:
        click.echo("nothing to report")
    else:
        table = [text_columns] + [[_cell(row.get(key))[:48] for key in text_columns] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(text_columns))]
        for line in table:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        shown = f"{len(rows)} of {total}" if total > len(rows) else str(total)
        span = f" ({window.start} to {window.end})" if window else ""
        click.echo(f"{shown} rows{span}")


@cli.group()
def usage() -> None:
    """Usage reports: what content is used, what is not and why; the daily roll-up."""


@usage.command("scorecard")
@window_options(30)
@click.option("--kind", help="Only this kind of content (blog, case_study, video, ...).")
@click.option("--persona", help="Only content for this buyer persona.")
@click.option("--stage", help="Only content for this flywheel stage.")
@click.option("--sort", default="impressions", show_default=True,
              help="impressions, clicks, copies, sends, opens, uses, questions_answered, last_used, title, "
                   "published_at.")
@click.option("--asc", is_flag=True, help="Smallest first.")
@pass_ctx
def scorecard_command(ctx: Context, days: int, since: str | None, until: str | None, fmt: str, limit: int,
                      offset: int, kind: str | None, persona: str | None, stage: str | None, sort: str,
                      asc: bool) -> None:
    """Per content: impressions, clicks, copies, sends, prospect opens, questions answered, last used, trend."""
    from kb.usage_reports import SCORECARD_COLUMNS, scorecard

    window = _window(days, since, until)
    rows, total = scorecard(ctx.kb, window, kind=kind, persona=persona, stage=stage, sort=sort, desc=not asc,
                            limit=limit, offset=offset)
    _render(rows, total, SCORECARD_COLUMNS, fmt, window=window,
            text_columns=["content_id", "title", "impressions", "clicks", "copies", "sends", "opens",
                          "questions_answered", "last_used", "trend"])


@usage.command("unused")
@window_options(90)
@click.option("--verdict", type=click.Choice(["findability", "retire_or_refresh", "too_new"]),
              help="Only this verdict.")
@pass_ctx
def unused_command(ctx: Context, days: int, since: str | None, until: str | None, fmt: str, limit: int,
                   offset: int, verdict: str | None) -> None:
    """Content nobody used, judged against demand: findability problem, retire or refresh, or too new."""
    from kb.usage_reports import UNUSED_COLUMNS, unused_content

    window = _window(days, since, until)
    rows, total = unused_content(ctx.kb, window, verdict=verdict, limit=limit, offset=offset)
    _render(rows, total, UNUSED_COLUMNS, fmt, window=window,
            text_columns=["content_id", "title", "verdict", "demand", "impressions", "published_at"])


@usage.command("stale")
@window_options(90)
@click.option("--older-than", "older_than", type=click.IntRange(min=1), default=365, show_default=True,
              help="Unchanged for at least this many days.")
@pass_ctx
def stale_command(ctx: Context, days: int, since: str | None, until: str | None, fmt: str, limit: int,
                  offset: int, older_than: int) -> None:
    """Old content, unchanged for --older-than days and unused in the window (--days, default 90)."""
    from kb.usage_reports import STALE_COLUMNS, stale_content

    window = _window(days, since, until)
    rows, total = stale_content(ctx.kb, older_than_days=older_than, window=window, limit=limit, offset=offset)
    _render(rows, total, STALE_COLUMNS, fmt, window=window,
            text_columns=["content_id", "title", "last_changed", "age_days", "impressions"])


@usage.command("top")
@window_options(30)
@click.option("--by", type=click.Choice(["persona", "stage"]), default="persona", show_default=True)
@click.option("--per-group", type=click.IntRange(min=1), default=5, show_default=True)
@pass_ctx
def top_command(ctx: Context, days: int, since: str | None, until: str | None, fmt: str, limit: int,
                offset: int, by: str, per_group: int) -> None:
    """The most used content of each persona (or stage)."""
    from kb.usage_reports import SCORECARD_COLUMNS, top_content

    window = _window(days, since, until)
    groups = top_content(ctx.kb, window, by=by, per_group=per_group)
    if fmt == "json":
        emit_json({"window": window.to_dict(), "by": by, "groups": groups})
        return
    rows = [{by: name, **row} for name, members in groups.items() for row in members]
    _render(rows[offset:offset + limit], len(rows), [by, *SCORECARD_COLUMNS], fmt, window=window,
            text_columns=[by, "content_id", "title", "uses", "impressions", "last_used"])


@usage.command("leaderboard")
@window_options(90)
@pass_ctx
def leaderboard_command(ctx: Context, days: int, since: str | None, until: str | None, fmt: str, limit: int,
                        offset: int) -> None:
    """Reps whose questions led to published content."""
    from kb.usage_reports import LEADERBOARD_COLUMNS, rep_leaderboard

    window = _window(days, since, until)
    rows, total = rep_leaderboard(ctx.kb, window, limit=limit, offset=offset)
    _render(rows, total, LEADERBOARD_COLUMNS, fmt, window=window, text_columns=LEADERBOARD_COLUMNS)


@usage.command("rollup")
@click.option("--since", help="Also re-roll the days from this one (YYYY-MM-DD); rolling is idempotent.")
@click.option("--until", help="Last day to roll up (default yesterday; today is never rolled up).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def rollup_command(ctx: Context, since: str | None, until: str | None, as_json: bool) -> None:
    """Roll whole past days of usage events up into daily counts, then delete raw events past retention."""
    from kb.usage_counts import ReportWindow
    from kb.usage_rollup import roll_up

    bounds = ReportWindow.parse(since, until) if (since or until) else None
    report = roll_up(ctx.kb, since=bounds.start if since and bounds else None,
                     until=bounds.end if until and bounds else None)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(f"rolled up {report.days_rolled} days ({report.events_counted} events into {report.rows_written} "
               f"rows); deleted {report.events_deleted} raw events before {report.retention_cutoff} "
               f"({report.seconds:.2f} s)")
