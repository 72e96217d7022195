"""`kb bench usage`: usage report build times at a million events, raw and rolled up (issue 7)."""

from __future__ import annotations

import click

from kb.cli.base import emit_json
from kb.cli.bench import bench


@bench.command("usage")
@click.option("--events", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Usage events in the temporary knowledge base.")
@click.option("--seed", default=7, show_default=True, help="Seed of the synthetic events.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Folder for the temporary knowledge base (default: the system's temporary folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def bench_usage_command(events: int, seed: int, workdir: str | None, as_json: bool) -> None:
    """Build a throwaway KB with EVENTS usage events; time each report raw, the roll-up, and each report rolled up."""
    from pathlib import Path

    from kb.usage_bench import bench_usage

    result = bench_usage(events=events, seed=seed, workdir=Path(workdir) if workdir else None)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['events']} events over {result['span_days']} days, {result['contents']} contents, "
               f"{result['users']} reps; inserted in {result['insert_seconds']} s ({result['database_mib']} MiB)")
    rollup = result["rollup"]
    click.echo(f"roll-up: {rollup['days_rolled']} days, {rollup['rows_written']} rows in {rollup['seconds']} s")
    click.echo(f"reports over {result['window_days']} days (seconds)   raw   rolled up")
    for name, raw in result["raw_seconds"].items():
        click.echo(f"  {name:<24}{raw:>12.3f}{result['rolled_up_seconds'][name]:>11.3f}")
    signal = result["search_usage_signal_ms"]
    click.echo(f"  {'search usage lift (ms)':<24}{signal['raw']:>12.1f}{signal['rolled_up']:>11.1f}")
    click.echo(f"same rows raw and rolled up: {'yes' if result['same_results'] else 'NO'}")
