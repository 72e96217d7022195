"""`kb bench ...`: speed and memory benchmarks."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


# -- benchmarks ----------------------------------------------------------------------------------
@cli.group()
def bench() -> None:
    """Speed and memory benchmarks (figures go to BENCHMARKS.md)."""


@bench.command("crawl")
@click.argument("site_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--port", default=8765, show_default=True, help="Port the site's absolute URLs were rendered for.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def bench_crawl_command(ctx: Context, site_dir: str, port: int, as_json: bool) -> None:
    """Serve a static site folder on 127.0.0.1, crawl it twice and report speed and memory."""
    from pathlib import Path

    from ingest.bench import bench_crawl

    result = bench_crawl(ctx.settings, Path(site_dir), port=port)
    if as_json:
        emit_json(result)
        return
    first, second = result["first_crawl"], result["second_crawl"]
    click.echo(f"first crawl: {first['fetched']} pages in {first['seconds']} s ({first['pages_per_second']} pages/s); "
               f"{first['passages_embedded']} passages embedded at {first['passages_per_second_embedded']}/s")
    click.echo(f"second crawl: {second['seconds']} s ({result['second_over_first']:.1%} of the first), "
               f"{second['passages_embedded']} passages re-embedded")
    click.echo(f"peak memory {result['peak_rss_mib']} MiB; disallowed URLs fetched: {result['disallowed_fetched']}; "
               f"tracking-parameter aliases {result['tracking_parameter_aliases']}")
