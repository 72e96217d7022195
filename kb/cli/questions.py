"""`kb ask`, `kb questions import`, `kb questions list` (logic in kb.questions and kb.question_import)."""

from __future__ import annotations

import json
from typing import Any

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _tag_line(result: dict[str, Any]) -> str:
    parts = []
    for kind in ("persona", "stage"):
        tag = result[kind]
        if tag["name"]:
            how = tag["source"] if tag["source"] != "suggested" else f"suggested, {_percent(tag['confidence'])}"
            parts.append(f"{kind} {tag['name']} ({how})")
        else:
            parts.append(f"{kind} not set")
    return "; ".join(parts)


def render_result(result: dict[str, Any]) -> None:
    """The text a rep reads: answered or gap, the matches with links, the topic and who else asked."""
    confidence, threshold = result["confidence"], result["threshold"]
    if result["decision"] == "answered":
        click.echo(f"ANSWERED: {confidence:.0%} confident the first match answers it (threshold {threshold:.0%})")
    else:
        click.echo(f"GAP: nothing answers it well enough ({confidence:.0%} confident, threshold {threshold:.0%}); "
                   "it is in the content backlog")
    answer = result.get("confirmed_answer")
    if answer:  # the topic it joined was closed with this content as its answer
        click.echo(f"answer on record for this topic ({answer['status'].replace('_', ' ')}): "
                   f"{answer['title']}  {answer['link']}")
    if result["matches"]:
        click.echo("best matches:" if result["decision"] == "answered" else "closest matches:")
    for rank, match in enumerate(result["matches"], 1):
        moment = f" at {match['moment']}" if match["moment"] else ""
        click.echo(f"{rank}. {match['title']}  ({match['kind'].replace('_', ' ')}{moment})")
        click.echo(f"   {match['link']}")
        if match["heading_path"]:
            click.echo(f"   § {' > '.join(match['heading_path'])}")
        click.echo(f"   {match['passage']}")
    topic = result["topic"]
    others = topic["other_reps"]
    asked = "a new topic" if topic["new"] else f"asked {topic['ask_count']} times"
    click.echo(f"topic #{topic['id']} ({topic['status'].replace('_', ' ')}, {asked}): {topic['title']}")
    if others:
        click.echo(f"{others} other rep{'s' if others != 1 else ''} asked this")
    click.echo(_tag_line(result))


def _one_line_summary(line: int, result: dict[str, Any]) -> str:
    topic = result["topic"]
    others = topic["other_reps"]
    return (f"line {line}: {result['decision'].upper()} {result['confidence']:.0%}  topic #{topic['id']}"
            f"{' (new)' if topic['new'] else ''}"
            f"{f', {others} other reps asked this' if others else ''}  {result['question']}")


@cli.command()
@click.argument("question", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False),
              help="Ask every line of this file (one question per line; '-' reads standard input).")
@click.option("--as", "asked_by", metavar="EMAIL", help="Who asks (created as a rep on first sight).")
@click.option("--persona", help="The prospect's buyer persona (wins over the suggestion).")
@click.option("--stage", help="The flywheel stage (wins over the suggestion).")
@click.option("--company", help="The prospect's company.")
@click.option("--deal-stage", help="Where the deal is (free text, e.g. 'security review').")
@click.option("--deal-value", type=float, default=None, help="The deal's value (weighs in the topic's priority).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --file: one object per line).")
@pass_ctx
def ask(ctx: Context, question: str | None, file: str | None, asked_by: str | None, persona: str | None,
        stage: str | None, company: str | None, deal_stage: str | None, deal_value: float | None,
        as_json: bool) -> None:
    """Submit a prospect's question: what answers it now, or the backlog topic it was filed under."""
    from dataclasses import replace

    from kb.errors import ValidationError
    from kb.question_input import QuestionInput, read_question_lines
    from kb.questions import submit_lines, submit_question

    if (question is None) == (file is None):
        raise ValidationError("give either a QUESTION or --file FILE")
    template = QuestionInput(text="", asked_by=asked_by, persona=persona, stage=stage, company=company,
                             deal_stage=deal_stage, deal_value=deal_value, source="cli")
    if question is not None:
        result = submit_question(ctx.kb, replace(template, text=question)).to_dict()
        if as_json:
            emit_json(result)
        else:
            render_result(result)
        return
    source = click.get_binary_stream("stdin").read() if file == "-" else file
    for line, outcome in submit_lines(ctx.kb, read_question_lines(source or ""), template):
        if as_json:
            click.echo(json.dumps({"line": line, **outcome}, default=str, ensure_ascii=False))
        elif "error" in outcome:
            click.echo(f"line {line}: error: {outcome['error']['message']}")
        else:
            click.echo(_one_line_summary(line, outcome))


@cli.group()
def questions() -> None:
    """Prospect questions: import a CSV of them, list them with the status of their topic."""


@questions.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report what would happen; write nothing.")
@click.option("--source", default="import", show_default=True, help="Source of rows without a source column.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def import_command(ctx: Context, file: str, dry_run: bool, source: str, as_json: bool) -> None:
    """Import questions from a CSV (question, asked_by; optional asked_at, persona, stage, company,
    deal_stage, deal_value, source). Importing the same file twice adds nothing; bad rows are reported
    with their line numbers and the good rows still land."""
    from kb.question_import import import_questions

    report = import_questions(ctx.kb, file, dry_run=dry_run, default_source=source)
    if as_json:
        emit_json(report.to_dict())
        return
    would = "would be " if dry_run else ""
    click.echo(f"{'dry run, nothing written: ' if dry_run else ''}{report.rows} rows read: "
               f"{report.added} {would}added ({report.added_topics} new topics; {report.answered} answered, "
               f"{report.gaps} gaps), {report.already_present} already present, {report.bad} bad "
               f"({report.seconds:.1f} s)")
    if report.ignored_columns:
        click.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}")


@questions.command("list")
@click.option("--as", "asked_by", metavar="EMAIL", help="Only this rep's questions.")
@click.option("--topic", "topic_id", type=int, help="Only the questions of this topic.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def list_command(ctx: Context, asked_by: str | None, topic_id: int | None, limit: int, as_json: bool) -> None:
    """Questions with what became of them (the status of their topic)."""
    from kb.question_results import list_questions

    rows = list_questions(ctx.kb, asked_by=asked_by, topic_id=topic_id, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no questions")
        return
    for row in rows:
        topic = row["topic"] or {}
        status = (row["status"] or "-").replace("_", " ")
        click.echo(f"#{row['id']}  {row['asked_at'][:10]}  {row['decision']:<8}  {status:<17}  "
                   f"topic #{topic.get('id', '-')}  {row['question']}")
