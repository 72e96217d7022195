"""`kb bench links`: redirect latency and throughput of /l/<token> under load, with every open counted."""

from __future__ import annotations

import click

from kb.cli.base import emit_json
from kb.cli.bench import bench


@bench.command("links")
@click.option("--requests", "requests_", default=2000, show_default=True, type=click.IntRange(min=1),
              help="Timed requests (a bounded run).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(min=1),
              help="Client threads, each with its own keep-alive connection.")
@click.option("--warmup", default=50, show_default=True, type=click.IntRange(min=0), help="Untimed requests first.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Server workers [default: 2 when `kb serve --workers` exists, else 1].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def bench_links_command(requests_: int, concurrency: int, warmup: int, workers: int | None, as_json: bool) -> None:
    """Serve a fresh knowledge base on 127.0.0.1, drive /l/<token> with concurrent clients and check that
    every request was counted (exit 1 on any error or count mismatch)."""
    from kb.bench_links import bench_links

    result = bench_links(requests=requests_, concurrency=concurrency, warmup=warmup, workers=workers)
    if as_json:
        emit_json(result)
    else:
        latency = result["latency_ms"]
        click.echo(f"{result['server']}: {result['requests']} requests, {result['concurrency']} concurrent, "
                   f"{result['seconds']} s, {result['requests_per_second']} requests/s")
        click.echo(f"redirect latency ms: p50 {latency['p50']}  p95 {latency['p95']}  p99 {latency['p99']}  "
                   f"max {latency['max']}")
        click.echo(f"errors {result['errors']} (warm-up {result['warmup_errors']}); sent {result['sent']}, "
                   f"open count {result['open_count']}, counted visits {result['counted_visits']}, "
                   f"link_visit events {result['usage_events']}: {'match' if result['counts_match'] else 'MISMATCH'}")
    if result["errors"] or result["warmup_errors"] or not result["counts_match"]:
        raise SystemExit(1)
