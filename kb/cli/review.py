"""`kb review`: the weekly smarketing review's agenda in the terminal (logic in kb.review_agenda, kb.review_export)."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx

TITLE_WIDTH = 56


def _short(text: str, width: int = TITLE_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _change(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _decision(decision: dict[str, Any] | None) -> str:
    if not decision:
        return "-"
    parts = [decision["decision"]]
    if decision["owner"]:
        parts.append(decision["owner"])
    if decision["content"]:
        parts.append(f"by {decision['content']['url']}")
    if decision["merge_into"]:
        parts.append(f"into #{decision['merge_into']['id']}")
    if decision["note"]:
        parts.append(f'"{_short(decision["note"], 40)}"')
    return ", ".join(parts)


def render_agenda_text(agenda: dict[str, Any]) -> str:
    """The text of `kb review`."""
    counts = agenda["counts"]
    lines = [
        f"Smarketing review {agenda['week']} ({agenda['label']})",
        f"{counts['items']} on the agenda ({counts['carried_over']} carried over, {counts['decided']} decided); "
        f"{counts['new_topics']} new, {counts['closed_topics']} closed, {counts['content_published']} published; "
        f"{counts['overdue']} overdue, {counts['due_soon']} due soon",
        "",
        "AGENDA",
        f"{'#':>3} {'id':>5}  {'asks':>4} {'wk':>3} {'last':>4} {'chg':>4}  {'status':<12} {'owner':<22} "
        f"title / decision",
    ]
    for item in agenda["items"]:
        mark = "↻" if item["carried_over"] else " "
        lines.append(
            f"{item['position']:>3}{mark}{item['id']:>5}  {item['ask_count']:>4} {item['asks_this_week']:>3} "
            f"{item['asks_last_week']:>4} {_change(item['change']):>4}  {item['status']:<12} "
            f"{_short(item['owner'] or '-', 22):<22} {_short(item['title'])}"
        )
        if item["carried_over"] and item["previous_decision"]:
            lines.append(f"{'':>12}last week: {_decision(item['previous_decision'])}")
        if item["decision"]:
            lines.append(f"{'':>12}decided: {_decision(item['decision'])}")
    if not agenda["items"]:
        lines.append("  no open topics")
    if any(item["carried_over"] for item in agenda["items"]):
        lines.append("  ↻ carried over from last week")
    sla = agenda["sla"]
    sections = (
        ("NEW TOPICS", agenda["new_topics"]["total"], [
            f"#{t['id']} {_short(t['title'])} ({t['ask_count']} asks)" for t in agenda["new_topics"]["topics"]]),
        ("CLOSED", agenda["closed_topics"]["total"], [
            f"#{t['id']} {_short(t['title'])}: {t['status']}" + (f" by {t['answer']['url']}" if t["answer"] else "")
            for t in agenda["closed_topics"]["topics"]]),
        ("CONTENT PUBLISHED", agenda["content_published"]["total"], [
            f"{(c['published_at'] or c['first_seen_at'] or '')[:10]} {c['kind']:<10} {_short(c['title'])} {c['url']}"
            for c in agenda["content_published"]["content"]]),
        ("OVERDUE", sla["overdue_total"], [
            f"#{t['id']} due {t['due_date']} {_short(t['title'])}" for t in sla["overdue"]]),
        ("DUE SOON", sla["due_soon_total"], [
            f"#{t['id']} due {t['due_date']} {_short(t['title'])}" for t in sla["due_soon"]]),
    )
    for title, total, rows in sections:
        lines += ["", f"{title} ({total})"]
        lines += [f"  {row}" for row in rows] or ["  none"]
    others = [d for d in agenda["decisions"] if d["topic_id"] not in {i["id"] for i in agenda["items"]}]
    if others:
        lines += ["", "OTHER DECISIONS"]
        lines += [f"  #{d['topic_id']} {_short(d['topic_title'] or '')}: {_decision(d)}" for d in others]
    return "\n".join(lines)


@cli.command("review")
@click.option("--week", metavar="YYYY-Www", help="The ISO week, e.g. 2026-W48 (default: this week).")
@click.option("--top", type=int, default=None, help="How many top topics (default 10, at most 50).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "csv"]), default="text", show_default=True,
              help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Print the agenda as JSON.")
@pass_ctx
def review(ctx: Context, week: str | None, top: int | None, fmt: str, as_json: bool) -> None:
    """The weekly smarketing review: top gaps with their trend, new and closed topics, content published,
    SLA status, carried-over items and the decisions recorded."""
    from kb.review_agenda import review_agenda
    from kb.review_export import render_agenda
    from kb.weeks import week_or_current

    agenda = review_agenda(ctx.kb, week_or_current(week), top=top)
    if as_json:
        emit_json(agenda)
    elif fmt == "text":
        click.echo(render_agenda_text(agenda))
    else:
        click.echo(render_agenda(agenda, fmt).text, nl=False)
