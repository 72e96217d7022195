"""`kb eval questions`: the bundled demo end to end -- crawl, import the reps' questions, score against the key."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.evaluate import evaluate


@evaluate.command("questions")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the crawled demo here and reuse it next time (re-crawled when the site or settings change).")
@click.option("--show", type=click.Choice(["wrong", "all", "none"]), default="wrong", show_default=True,
              help="Questions to list under the figures.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every figure and every question) instead.")
@pass_ctx
def eval_questions(ctx: Context, workdir: str | None, show: str, as_json: bool) -> None:
    """Answered or gap, the answer shown, and topics for the 50 demo questions against their key; and the
    transcript split: questions answered only inside a video or podcast (hit@3, timed link inside the answer)."""
    from pathlib import Path

    from ingest.demo_eval import evaluate_questions

    result = evaluate_questions(ctx.settings, workdir=Path(workdir) if workdir else None,
                                progress=lambda message: click.echo(message, err=True))
    if as_json:
        emit_json(result)
        return
    _render(result, show)


def _render(result: dict[str, Any], show: str) -> None:
    d, a, t = result["decisions"], result["answers"], result["topics"]
    click.echo(f"{result['dataset']}: {d['questions']} questions ({d['true_gaps']} gaps in the key); "
               f"threshold {result['threshold']:.4f}; {result['seconds']:.1f} s")
    click.echo(f"{'answered or gap':<28}{'value':>8}  detail")
    rows = [
        ("accuracy", d["accuracy"], f"{d['correct']} of {d['questions']} right"),
        ("gap precision", d["gap_precision"], f"{d['false_gaps']} answered questions decided gaps"),
        ("gap recall", d["gap_recall"], f"{d['missed_gaps']} gaps decided answered"),
        ("gap F1", d["gap_f1"], f"{d['decided_gaps']} decided gaps"),
        (f"answer page hit@{a['k']}", a["hit_at_k"], f"{a['hit']} of {a['answered_questions']} answered questions"),
        ("topic pair precision", t["pair_precision"], f"{t['pairs_right']} of {t['pairs_predicted']} same-topic pairs"),
        ("topic pair recall", t["pair_recall"], f"{t['pairs_right']} of {t['pairs_expected']} duplicate pairs"),
        ("topic pair F1", t["pair_f1"], ""),
    ]
    for label, value, detail in rows:
        click.echo(f"{label:<28}{value:>8.3f}  {detail}")
    click.echo(f"{'look-alike pairs merged':<28}{t['lookalikes_merged']:>8}  of {t['lookalike_pairs']}")
    click.echo(f"{'topics':<28}{t['topics']:>8}  the key implies {t['topics_expected']}")
    for kind, k in a["by_source_kind"].items():
        click.echo(f"  answered in {kind:<18} {k['questions']:>3} questions: {k['hit']} hit@{a['k']}, "
                   f"{k['decided_answered']} decided answered")
    if "transcripts" in result:
        _render_transcripts(a, result["transcripts"], show)
    listed = [row for row in result["questions"] if show == "all" or (show == "wrong" and not row["correct"])]
    if listed:
        click.echo(f"\n{'#':>3}  {'key':<9}{'decision':<10}{'conf':>6}  {'rank':>4}  question")
        for row in listed:
            rank = "-" if row["answer_rank"] is None else str(row["answer_rank"])
            click.echo(f"{row['index']:>3}  {row['expected']:<9}{row['decision']:<10}{row['confidence']:>6.3f}  "
                       f"{rank:>4}  {row['question']}")


def _render_transcripts(answers: dict[str, Any], spoken: dict[str, Any], show: str) -> None:
    """The split: answered only inside a recording (searched) against the rest of the imported questions."""
    rest, k = answers["not_transcript_only"], spoken["k"]
    click.echo(f"\nsplit: answered only in a transcript ({spoken['questions']} questions, "
               f"{spoken['from_questions_csv']} of them in the CSV) against the other answered questions")
    click.echo(f"{'transcript only: hit@' + str(k):<28}{spoken['hit_at_k']:>8.3f}  "
               f"{spoken['hit']} of {spoken['questions']}; {spoken['decided_answered']} decided answered")
    miss = spoken["median_miss_seconds"]
    click.echo(f"{'  link inside answer span':<28}{spoken['in_span_rate']:>8.3f}  {spoken['in_span']} of "
               f"{spoken['questions']} ({spoken['in_span_of_hits']:.3f} of hits)"
               + ("" if miss is None else f"; misses land a median {miss:.0f} s off the span"))
    for kind, c in spoken["by_source_kind"].items():
        click.echo(f"  {kind:<26}{c['hit_at_k']:>8.3f}  {c['hit']} of {c['questions']} hit@{k}, "
                   f"{c['in_span']} linked inside the span")
    click.echo(f"{'other answered: hit@' + str(rest['k']):<28}{rest['hit_at_k']:>8.3f}  "
               f"{rest['hit']} of {rest['answered_questions']}")
    click.echo(f"{'all answered (CSV): hit@' + str(answers['k']):<28}{answers['hit_at_k']:>8.3f}  "
               f"{answers['hit']} of {answers['answered_questions']}")
    if show == "none":
        return
    click.echo(f"\n{'key':<16}{'rank':>4}  {'link at':>7}  {'answer span s':>13}  {'lands':>7}  question")
    for row in spoken["rows"]:
        rank = "-" if row["rank"] is None else str(row["rank"])
        second = "-" if row["second"] is None else f"{row['second']:.0f}"
        lands = "-" if row["offset"] is None else "inside" if row["in_span"] else f"{row['offset']:+.1f}"
        span = "{:.1f}-{:.1f}".format(*row["answer_span"])
        click.echo(f"{row['key']:<16}{rank:>4}  {second:>7}  {span:>13}  {lands:>7}  {row['question']}")
