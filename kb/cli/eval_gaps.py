"""`kb eval gaps`: precision, recall and F1 of the answered-or-gap decision on BEIR data with held-out answers."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.evaluate import evaluate


@evaluate.command("gaps")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Queries to score: qrels/SPLIT.tsv.")
@click.option("--fit-split", default="train", show_default=True,
              help="Queries to choose thresholds on, when the dataset has them (else chosen on the scored queries).")
@click.option("--seed", default=13, show_default=True, help="Seed of the half of the queries made gaps.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Reuse (or keep) the ingested knowledge base, as for `kb eval retrieval`.")
@click.option("--limit-queries", type=click.IntRange(min=1), default=None, help="Only the first N judged queries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def eval_gaps(ctx: Context, data_dir: str, split: str, fit_split: str, seed: int, workdir: str | None,
              limit_queries: int | None, as_json: bool) -> None:
    """Answered or gap: half the queries lose their relevant documents; score the confidence threshold."""
    from pathlib import Path

    from ingest.gap_eval import evaluate_gaps

    result = evaluate_gaps(Path(data_dir), ctx.settings, split=split, fit_split=fit_split, seed=seed,
                           workdir=Path(workdir) if workdir else None, limit_queries=limit_queries,
                           progress=lambda message: click.echo(message, err=True))
    if as_json:
        emit_json(result)
        return
    labels = result["labels"][split]
    click.echo(f"{result['dataset']} ({split}): {labels['queries']} queries, {labels['gaps']} gaps "
               f"({labels['extra_gaps']} of them answerable queries whose documents were all held out), "
               f"seed {result['seed']}; thresholds chosen on {result['thresholds_chosen_on']}")
    click.echo(f"{'decision':<34}{'threshold':>10}{'precision':>11}{'recall':>8}{'F1':>8}  {'F1 95%':<15}chosen on")
    rows: list[tuple[str, dict[str, Any]]] = [(f"model, {key}", value) for key, value in result["model"].items()]
    rows.append(("always gap", result["baselines"]["always_gap"]))
    rows += [(f"top dense cosine, {key}", value) for key, value in result["baselines"]["dense_top"].items()]
    for label, m in rows:
        interval = "-".join(f"{v:.3f}" for v in m["f1_ci95"]) if "f1_ci95" in m else ""
        click.echo(f"{label:<34}{m['threshold']:>10.4f}{m['precision']:>11.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}  "
                   f"{interval:<15}{m['chosen_on']}")
    top = result["answered_top1_relevant"]
    click.echo(f"answerable queries decided answered: {top['answered']}, first hit relevant in {top['top1_relevant']}")
