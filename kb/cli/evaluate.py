"""`kb eval ...`: quality evaluations on labelled data."""

from __future__ import annotations

import click

from kb.cli.base import cli, emit_json


# -- evaluation ----------------------------------------------------------------------------------
@cli.group(name="eval")
def evaluate() -> None:
    """Quality evaluations on labelled data (paths to ../shared/data folders)."""


@evaluate.command("extraction")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--limit", type=int, default=None, help="Only the first N pages.")
@click.option("--baseline", is_flag=True, help="Also score trafilatura alone.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def eval_extraction(data_dir: str, limit: int | None, baseline: bool, as_json: bool) -> None:
    """Main-text extraction on the article-extraction benchmark (shingle P/R/F1)."""
    from pathlib import Path

    from ingest.extraction_eval import evaluate_extraction, trafilatura_baseline

    result = evaluate_extraction(Path(data_dir), limit=limit)
    if baseline:
        result["trafilatura_alone"] = evaluate_extraction(
            Path(data_dir), extractor=trafilatura_baseline, limit=limit
        )
    if as_json:
        emit_json(result)
        return
    click.echo(f"pages {result['pages']}: precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
               f"F1 {result['f1']:.4f}  exact {result['accuracy']:.4f}  ({result['seconds']:.1f} s)")
    if baseline:
        b = result["trafilatura_alone"]
        click.echo(f"trafilatura alone: precision {b['precision']:.4f}  recall {b['recall']:.4f}  F1 {b['f1']:.4f}")
