"""`kb eval retrieval` (ranking quality) and `kb eval calibrate` (fitting the answer-confidence model) on BEIR data."""

from __future__ import annotations

from typing import Any

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.evaluate import evaluate

_METRICS = (("ndcg@10", "nDCG@10"), ("recall@10", "R@10"), ("recall@100", "R@100"), ("mrr@10", "MRR@10"))


def _progress(message: str) -> None:
    click.echo(message, err=True)


@evaluate.command("retrieval")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Judgements to score: qrels/SPLIT.tsv.")
@click.option("--mode", type=click.Choice(["dense", "bm25", "hybrid", "all"]), default="hybrid", show_default=True,
              help="Search mode; 'all' runs the three over one ingested corpus.")
@click.option("--limit-queries", type=click.IntRange(min=1), default=None, help="Only the first N judged queries.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the ingested knowledge base here and reuse it when the corpus and settings match.")
@click.option("--fusion", type=click.Choice(["rrf", "weighted"]), default=None, help="Override search.fusion.")
@click.option("--rrf-k", type=click.IntRange(min=1), default=None, help="Override search.rrf_k.")
@click.option("--dense-weight", type=click.FloatRange(0.0, 1.0), default=None, help="Override search.dense_weight.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def eval_retrieval(ctx: Context, data_dir: str, split: str, mode: str, limit_queries: int | None,
                   workdir: str | None, fusion: str | None, rrf_k: int | None, dense_weight: float | None,
                   as_json: bool) -> None:
    """nDCG@10, Recall@10/100 and MRR@10 of search on a BEIR-layout folder (corpus, queries, qrels)."""
    from pathlib import Path

    from ingest.retrieval_eval import MODES, evaluate_retrieval

    overrides: dict[str, Any] = {key: value for key, value in
                                 (("fusion", fusion), ("rrf_k", rrf_k), ("dense_weight", dense_weight))
                                 if value is not None}
    result = evaluate_retrieval(
        Path(data_dir), ctx.settings, split=split, modes=MODES if mode == "all" else (mode,),
        limit_queries=limit_queries, workdir=Path(workdir) if workdir else None, search=overrides,
        progress=_progress,
    )
    if as_json:
        emit_json(result)
        return
    timing, cfg = result["timing"], result["settings"]
    click.echo(f"{result['dataset']} ({result['split']}): {result['queries']} queries, "
               f"{result['documents']} documents, {result['passages']} passages; {cfg['model']} ({cfg['backend']}), "
               f"fusion {cfg['fusion']} rrf_k={cfg['rrf_k']} dense_weight={cfg['dense_weight']}")
    if timing["ingested"]:
        rate = timing["embedding_passages_per_second"]
        click.echo(f"ingested in {timing['ingest_seconds']:.1f} s (embedding {rate:.1f} passages/s)")
    else:
        click.echo("reused the ingested knowledge base")
    header = "".join(f"{label:>9}" for _, label in _METRICS)
    click.echo(f"{'mode':<8}{header}{'mean ms':>10}{'p50 ms':>9}{'p95 ms':>9}")
    for name, metrics in result["modes"].items():
        ms = timing["query_ms"][name]
        click.echo(f"{name:<8}" + "".join(f"{metrics[key]:>9.4f}" for key, _ in _METRICS)
                   + f"{ms['mean']:>10.1f}{ms['p50']:>9.1f}{ms['p95']:>9.1f}")


@evaluate.command("calibrate")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="train", show_default=True,
              help="Queries to fit on; evaluated on test (without this split: a seeded half of test each).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Reuse (or keep) the ingested knowledge base, as for `kb eval retrieval`.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the fitted model (confidence.json format); default: print only.")
@click.option("--seed", default=13, show_default=True, help="Seed of the answerable/gap and fit/held-out splits.")
@click.option("--limit-queries", type=click.IntRange(min=1), default=None, help="Only the first N judged queries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def eval_calibrate(ctx: Context, data_dir: str, split: str, workdir: str | None, out: str | None, seed: int,
                   limit_queries: int | None, as_json: bool) -> None:
    """Fit the answer-confidence model and its gap threshold: every query searched with and without its answers."""
    from pathlib import Path

    from ingest.calibration import calibrate

    command = " ".join(["kb eval calibrate", data_dir, "--split", split, "--seed", str(seed)]
                       + (["--limit-queries", str(limit_queries)] if limit_queries else []))
    model, report = calibrate(Path(data_dir), ctx.settings, split=split, workdir=Path(workdir) if workdir else None,
                              seed=seed, limit_queries=limit_queries, command=command, progress=_progress)
    if out:
        model.save(Path(out))
        report["out"] = str(out)
    if as_json:
        emit_json(report)
        return
    held, shipped = report["held_out"], report["shipped_model_held_out"]["metrics"]
    click.echo(f"{report['dataset']}: {report['protocol']}")
    fit = report["fit"]
    click.echo(f"fitting: {fit['queries']} queries searched twice ({fit['gaps']} of {fit['searches']} searches gaps); "
               f"held out: {held['queries']} ({held['gaps']} gaps, {held['answerable_top1_relevant']}/"
               f"{held['answerable']} answerable with a relevant first hit)")
    click.echo("weights: " + ", ".join(f"{k} {v:+.3f}" for k, v in model.weights.items() if v)  # unfitted: 0
               + f"; bias {model.bias:+.3f}")
    for label, m in (("fitted", held["metrics"]), ("shipped", shipped)):
        click.echo(f"{label:<8} log-loss {m['log_loss']:.4f}  Brier {m['brier']:.4f}  ECE {m['ece']:.4f}  "
                   f"accuracy {m['accuracy']:.4f}  gap precision {m['precision_gap']:.4f} recall {m['recall_gap']:.4f} "
                   f"F1 {m['f1_gap']:.4f}")
    click.echo(f"threshold {model.threshold:.4f} (top dense cosine baseline: {report['dense_top_threshold']:.4f})"
               + (f"; model written to {out}" if out else ""))
