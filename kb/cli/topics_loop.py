"""`kb topics confirm/reject/recheck`: a marketer's decision on a "possibly answered" topic, and the re-check."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


@cli.group()
def topics() -> None:
    """Topics the after-crawl re-check marked "possibly answered"."""


def _render(data: dict[str, Any], verb: str) -> str:
    answer = data.get("answer") or {}
    lines = [f"topic {data['id']} {verb}: {data['title']} (status {data['status']})"]
    if answer:
        lines.append(f"  answer: {answer['title']}  {answer['link']}")
    lines.append(f"  asked {data['ask_count']} times by {data['rep_count']} reps; "
                 f"searched {data['search_count']} times")
    return "\n".join(lines)


@topics.command("confirm")
@click.argument("topic_id", type=int)
@click.option("--as", "as_user", metavar="EMAIL", help="The marketer confirming (must be a known user).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def topics_confirm(ctx: Context, topic_id: int, as_user: str | None, as_json: bool) -> None:
    """Confirm the suggested content answers TOPIC_ID; every rep who asked is notified."""
    from kb.suggestion_decisions import decide_suggestion

    data = decide_suggestion(ctx.kb, topic_id, "confirm", user_email=as_user)
    if as_json:
        emit_json(data)
    else:
        click.echo(_render(data, "confirmed"))


@topics.command("reject")
@click.argument("topic_id", type=int)
@click.option("--as", "as_user", metavar="EMAIL", help="The marketer rejecting (must be a known user).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def topics_reject(ctx: Context, topic_id: int, as_user: str | None, as_json: bool) -> None:
    """The suggested content does not answer TOPIC_ID: never suggest it for this topic again."""
    from kb.suggestion_decisions import decide_suggestion

    data = decide_suggestion(ctx.kb, topic_id, "reject", user_email=as_user)
    if as_json:
        emit_json(data)
    else:
        click.echo(_render(data, "suggestion rejected"))


@topics.command("recheck")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def topics_recheck(ctx: Context, as_json: bool) -> None:
    """Re-match every open topic and re-check every answered one now (crawls do this for what they change)."""
    from kb.answer_loop import recheck_topics

    report = recheck_topics(ctx.kb)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(report.summary())
    for change in report.suggested:
        click.echo(f"  possibly answered: topic {change.topic_id} {change.title!r} -> {change.content_title!r} "
                   f"({change.confidence:.0%}); confirm with `kb topics confirm {change.topic_id}`")
    for change in report.reopened:
        click.echo(f"  reopened: topic {change.topic_id} {change.title!r} ({change.reason})")
