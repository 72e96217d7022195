"""`kb eval tagging`: persona and stage suggestions against labelled questions, with and without corrections."""

from __future__ import annotations

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.evaluate import evaluate


@evaluate.command("tagging")
@click.argument("csv_path", metavar="[CSV]", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def eval_tagging(ctx: Context, csv_path: str | None, as_json: bool) -> None:
    """Accuracy and coverage of suggested personas and stages on CSV (columns question, persona, stage;
    default: the bundled demo questions): descriptions/examples alone, and with marketer corrections
    (leave-one-out: every other labelled row counts as a marketer-tagged topic)."""
    from pathlib import Path

    from kb.tagging_eval import evaluate_tagging

    result = evaluate_tagging(Path(csv_path) if csv_path else None, ctx.settings)
    if as_json:
        emit_json(result)
        return
    params = result["params"]
    click.echo(f"{result['questions']} questions from {result['csv']} ({result['embedding_model']}); "
               f"floor {params['floor']}, temperature {params['temperature']}, {params['neighbours']} neighbours; "
               f"{result['seconds']:.1f} s")
    for problem in result["problems"]:
        click.echo(f"skipped {problem}")
    for kind in ("persona", "stage"):
        report = result[kind]
        if not report["rows"]:
            click.echo(f"{kind}: no labelled rows")
            continue
        majority = report["majority"]
        click.echo(f"{kind}: {report['rows']} labelled rows; most common '{majority['label']}' "
                   f"{majority['share']:.3f}")
        for name, title in (("config", "descriptions/examples"), ("corrections", "+ marketer corrections")):
            m = report[name]
            click.echo(f"  {title:<23} accuracy {m['accuracy']:.3f}  coverage {m['coverage']:.3f}  "
                       f"correct {m['correct']:.3f}  top-1 {m['top1']:.3f}")
