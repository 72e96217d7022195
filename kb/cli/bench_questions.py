"""`kb bench questions`: intake latency and CSV import speed on the demo site (logic in kb.bench_questions)."""

from __future__ import annotations

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.bench import bench


@bench.command("questions")
@click.option("--repeats", default=4, show_default=True, help="Times the 50 demo questions are asked (timed).")
@click.option("--rows", default=10_000, show_default=True, help="Rows of the generated CSV that is imported.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated rows.")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Keep the knowledge bases and the CSV here (default: a temporary folder, removed after).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def bench_questions_command(ctx: Context, repeats: int, rows: int, seed: int, workdir: str | None,
                            as_json: bool) -> None:
    """Crawl the demo site, time `kb ask` warm in process and `kb questions import` of a generated CSV."""
    from pathlib import Path

    from ingest.crawler import crawl_site
    from kb.bench_questions import bench_questions

    if repeats < 1 or rows < 1:
        raise click.BadParameter("--repeats and --rows must be positive")
    result = bench_questions(ctx.settings, lambda kb, site: crawl_site(kb, site), repeats=repeats, rows=rows,
                             seed=seed, workdir=Path(workdir) if workdir else None,
                             progress=lambda message: click.echo(message, err=True))
    if as_json:
        emit_json(result)
        return
    intake, imported = result["intake"], result["import"]
    latency = intake["latency_ms"]
    click.echo(f"embedder        {result['embedder']}; demo crawl {result['crawl_seconds']} s")
    click.echo(f"kb ask (warm)   p50 {latency['p50']} ms  p95 {latency['p95']} ms  p99 {latency['p99']} ms  "
               f"over {intake['asks']} asks ({intake['questions']} questions x {intake['repeats']})")
    click.echo(f"import          {imported['rows']:,} rows in {imported['seconds']} s "
               f"({imported['rows_per_second']} rows/s; {imported['distinct_wordings']:,} distinct wordings, "
               f"{imported['topics_opened']} topics opened, {imported['bad']} bad)")
    click.echo(f"peak RSS        {imported['peak_rss_mib']} MiB ({imported['peak_rss_scope']}; "
               f"{imported['rss_before_mib']} MiB before)")
    click.echo(f"load average    {result['load_average_before']} -> {result['load_average_after']} "
               f"on {result['cores']} cores")
