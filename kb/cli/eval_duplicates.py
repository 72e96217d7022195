"""`kb eval duplicates`: duplicate-question detection on labelled pairs, and fitting the shipped model
(weights and thresholds only: word rarity is computed from the data at run time and never stored)."""

from __future__ import annotations

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.evaluate import evaluate


def _progress(message: str) -> None:
    click.echo(message, err=True)


@evaluate.command("duplicates")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the fitted model (duplicate_model.json format); default: print only.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N pairs of each split.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def eval_duplicates(ctx: Context, data_dir: str, out: str | None, limit: int | None, as_json: bool) -> None:
    """Cosine-threshold baseline vs the de-duplication model on DATA_DIR/{dev,test}.tsv (chosen on dev)."""
    from pathlib import Path

    from kb.duplicates_eval import evaluate_duplicates

    command = " ".join(["kb eval duplicates", data_dir] + (["--limit", str(limit)] if limit else [])
                       + (["--out", out] if out else []) + (["--json"] if as_json else []))
    result = evaluate_duplicates(Path(data_dir), ctx.settings, limit=limit, out=Path(out) if out else None,
                                 command=command, progress=_progress)
    if as_json:
        emit_json(result)
        return
    counts = result["counts"]
    click.echo(f"{result['dataset']}: dev {counts['dev']['pairs']} pairs, test {counts['test']['pairs']} pairs, "
               f"{counts['distinct_questions']} distinct questions; {result['embedding_model']}; "
               f"{result['seconds']['total']:.1f} s")
    for problem in result["malformed"]:
        click.echo(f"skipped {problem}")
    for name in ("baseline", "model"):
        method, test = result[name], result[name]["test"]
        click.echo(f"{name:<9} test precision {test['precision']:.4f}  recall {test['recall']:.4f}  "
                   f"F1 {test['f1']:.4f}  (threshold {method['threshold']:.4f} chosen on dev)")
    idf = result["model"]["idf"]
    click.echo(f"word rarity: document frequencies over the {idf['documents']} {idf['source']} "
               f"(computed for this run, not stored in the model)")
    if out:
        click.echo(f"model written to {out}")
