"""`kb backlog`: list, show, triage, merge and move the content-gap topics (logic in kb.backlog, kb.topic_merge)."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx

TITLE_WIDTH = 60


@cli.group(invoke_without_command=True)
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only these statuses (repeat or comma-separate; 'all', 'open', 'closed'). Default: open.")
@click.option("--persona", metavar="NAME", help="Only this persona ('none': untagged).")
@click.option("--stage", metavar="NAME", help="Only this flywheel stage ('none': untagged).")
@click.option("--owner", metavar="EMAIL", help="Only topics this user owns ('none': unassigned).")
@click.option("--overdue", is_flag=True, help="Only open topics past their due date.")
@click.option("--sort", default="priority", show_default=True, metavar="KEY",
              help="priority, asks, reps, age (oldest first), recent (last asked) or due.")
@click.option("--limit", type=int, default=None, help="At most this many topics.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def backlog(click_ctx: click.Context, statuses: tuple[str, ...], persona: str | None, stage: str | None,
            owner: str | None, overdue: bool, sort: str, limit: int | None, as_json: bool) -> None:
    """The content backlog: topics nothing answers yet, highest priority first."""
    if click_ctx.invoked_subcommand is not None:
        return
    from kb.backlog import backlog_rows

    ctx: Context = click_ctx.obj
    rows = backlog_rows(ctx.kb, status=statuses, persona=persona, stage=stage, owner=owner, overdue=overdue,
                        sort=sort, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no topics")
        return
    click.echo(f"{'id':>5}  {'priority':<13} {'asks':>4} {'reps':>4}  {'status':<17} {'persona':<13} "
               f"{'stage':<8} {'owner':<24} {'due':<11}  title")
    for row in rows:
        due = (row["due_date"] or "-") + ("!" if row["overdue"] else "")
        click.echo(
            f"{row['id']:>5}  {row['priority']:>6.2f} {row['priority_level']:<6} {row['ask_count']:>4} "
            f"{row['rep_count']:>4}  {row['status']:<17} {row['persona'] or '-':<13} {row['stage'] or '-':<8} "
            f"{row['owner'] or '-':<24} {due:<11}  {_short(row['title'])}"
        )
    overdue_count = sum(1 for row in rows if row["overdue"])
    click.echo(f"{len(rows)} topics" + (f", {overdue_count} overdue (!)" if overdue_count else ""))


def _short(text: str, width: int = TITLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@backlog.command("show")
@click.argument("topic_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def backlog_show(ctx: Context, topic_id: int, as_json: bool) -> None:
    """Everything about TOPIC_ID: demand and the priority formula, questions, notes and history."""
    from kb.topic_view import topic_details

    data = topic_details(ctx.kb, topic_id)
    if as_json:
        emit_json(data)
    else:
        click.echo(render_topic(data))


def render_topic(data: dict[str, Any]) -> str:
    """The text of `kb backlog show`."""
    breakdown = data["priority_breakdown"]
    parts = " + ".join(f"{name} {value:.2f}" for name, value in breakdown["parts"].items())
    lines = [
        f"topic {data['id']}: {data['title']}",
        f"  status    {data['status']}" + (f" (merged into topic {data['merged_into_id']})"
                                           if data["merged_into_id"] else "")
        + (f"; next: {', '.join(data['allowed_statuses'])}" if data["allowed_statuses"] else ""),
        f"  priority  {breakdown['score']:.2f} ({breakdown['level']}) = {parts}",
        f"  formula   {breakdown['formula']}",
        f"  demand    {data['ask_count']} asks by {data['rep_count']} reps, {data['search_count']} searches, "
        f"deal value {data['deal_value']:g}; last asked {data['last_asked_at'] or '-'}",
        f"  persona   {data['persona'] or '-'} ({data['persona_source'] or 'untagged'})",
        f"  stage     {data['stage'] or '-'} ({data['stage_source'] or 'untagged'})",
        f"  owner     {data['owner'] or '-'}",
        f"  due       {data['due_date'] or '-'} ({data['due_source']})" + ("  OVERDUE" if data["overdue"] else ""),
        f"  created   {data['created_at']}" + (f"; closed {data['closed_at']}" if data["closed_at"] else ""),
    ]
    if data["answer"]:
        lines.append(f"  answer    {data['answer']['title']}  {data['answer']['url']}")
    if data["suggestion"]:
        suggestion = data["suggestion"]
        lines.append(f"  possibly answered by {suggestion['title']}  {suggestion['url']} "
                     f"({suggestion['confidence']:.0%}); `kb topics confirm {data['id']}` or `reject`")
    for rejected in data["rejected"]:
        lines.append(f"  rejected  {rejected['title']}  {rejected['url']} by {rejected['user'] or '-'}")
    if data["merged_from"]:
        lines.append(f"  merged from topics {', '.join(str(i) for i in data['merged_from'])}")
    lines.append(f"questions ({len(data['questions'])}):")
    for q in data["questions"]:
        context = ", ".join(str(v) for v in (q["company"], q["deal_stage"]) if v)
        lines.append(f"  #{q['id']} {q['asked_at']} {q['asked_by'] or '-'} via {q['source']}"
                     f"{' (' + context + ')' if context else ''}: {q['text']!r} "
                     f"[{q['decision']}, {q['confidence']:.0%}]")
    if data["notes"]:
        lines.append(f"notes ({len(data['notes'])}):")
        lines.extend(f"  {n['at']} {n['user'] or '-'}: {n['text']}" for n in data["notes"])
    lines.append("history:")
    for event in data["history"]:
        change = " -> ".join(v if v is not None else "-" for v in (event["old"], event["new"]))
        lines.append(f"  {event['at']} {event['user'] or '-'} {event['action']}: {change}")
    return "\n".join(lines)


@backlog.command("update")
@click.argument("topic_id", type=int)
@click.option("--status", help="new, triaged, planned, in_progress, published, answered_existing, wont_do.")
@click.option("--owner", metavar="EMAIL", help="A marketer or admin; 'none' to unassign.")
@click.option("--persona", metavar="NAME", help="A persona from config.toml; 'none' to clear.")
@click.option("--stage", metavar="NAME", help="A flywheel stage from config.toml; 'none' to clear.")
@click.option("--title", help="The topic's canonical wording.")
@click.option("--due", metavar="YYYY-MM-DD|sla", help="A due date, or 'sla' for the date the SLA gives.")
@click.option("--note", metavar="TEXT", help="Add a note.")
@click.option("--answer", metavar="URL_OR_ID", help="The content that answers it (for published/answered_existing).")
@click.option("--as", "as_user", metavar="EMAIL", help="Who makes the change (recorded in the history).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def backlog_update(ctx: Context, topic_id: int, as_user: str | None, as_json: bool, **options: str | None) -> None:
    """Triage TOPIC_ID: status, owner, tags, title, due date, a note, the answer."""
    from kb.topic_changes import change_topic

    changes = {key: value for key, value in options.items() if value is not None}
    data = change_topic(ctx.kb, topic_id, changes, user_email=as_user)
    if as_json:
        emit_json(data)
        return
    click.echo(f"topic {data['id']} updated: {data['title']}")
    latest = data["history"][-1]["at"] if data["history"] else None
    for event in data["history"]:
        if event["at"] == latest:
            click.echo(f"  {event['action']}: {event['old'] or '-'} -> {event['new'] or '-'}")


@backlog.command("merge")
@click.argument("source_id", type=int)
@click.argument("target_id", type=int)
@click.option("--as", "as_user", metavar="EMAIL", help="Who merges (recorded in the history).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def backlog_merge(ctx: Context, source_id: int, target_id: int, as_user: str | None, as_json: bool) -> None:
    """Merge topic SOURCE_ID into TARGET_ID: its questions, searches and notes move; counts follow."""
    from kb.topic_merge import merge_request

    data = merge_request(ctx.kb, source_id, target_id, user_email=as_user)
    if as_json:
        emit_json(data)
        return
    target = data["target"]
    click.echo(f"merged topic {source_id} into topic {target['id']}: {target['ask_count']} asks by "
               f"{target['rep_count']} reps, priority {target['priority']:.2f} ({target['priority_level']})")


@backlog.command("move")
@click.argument("question_id", type=int)
@click.option("--to", "to_topic", type=int, default=None, help="The topic to move it to (default: a new topic).")
@click.option("--as", "as_user", metavar="EMAIL", help="Who moves it (recorded in the history).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def backlog_move(ctx: Context, question_id: int, to_topic: int | None, as_user: str | None, as_json: bool) -> None:
    """Move question QUESTION_ID out of its topic, to another topic or to a new one of its own."""
    from kb.topic_merge import move_request

    data = move_request(ctx.kb, question_id, to_topic_id=to_topic, user_email=as_user)
    if as_json:
        emit_json(data)
        return
    left, joined = data["from"], data["to"]
    if left is not None:
        click.echo(f"question {question_id} left topic {left['id']} (now {left['ask_count']} asks by "
                   f"{left['rep_count']} reps)")
    click.echo(f"question {question_id} is in topic {joined['id']} ({joined['ask_count']} asks by "
               f"{joined['rep_count']} reps): {joined['title']}")
