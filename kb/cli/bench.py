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
    _render_media(result["media"])


@bench.command("media")
@click.argument("site_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--port", default=8765, show_default=True, help="Port the site's absolute URLs were rendered for.")
@click.option("--include", "include", multiple=True,
              help="Crawl only URL paths matching this regex (repeatable). Default: ^/videos/ and ^/podcast/.")
@click.option("--whole-site", is_flag=True, help="Crawl every page, not only the video and podcast pages.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def bench_media_command(ctx: Context, site_dir: str, port: int, include: tuple[str, ...], whole_site: bool,
                        as_json: bool) -> None:
    """Crawl a static site's video and podcast pages once: time, timed passages, seconds of media, cues kept."""
    from pathlib import Path

    from ingest.bench import MEDIA_PATHS, bench_media

    patterns = () if whole_site else (include or MEDIA_PATHS)
    result = bench_media(ctx.settings, Path(site_dir), port=port, include=patterns)
    if as_json:
        emit_json(result)
        return
    crawl = result["crawl"]
    click.echo(f"crawl of {', '.join(result['include']) or 'the whole site'}: {crawl['fetched']} URLs fetched, "
               f"{result['contents']} contents in {crawl['seconds']} s; {crawl['passages_embedded']} passages "
               f"embedded in {crawl['embedding_seconds']} s of model time")
    _render_media(result["media"])


def _render_media(media: dict) -> None:
    share = media["share_of_blocks_kept"]
    click.echo(f"recordings: {media['recordings']} with {media['passages']} timed passages, "
               f"{media['media_seconds']:,.0f} s of media; caption files parsed {media['caption_files_parsed']}: "
               f"{media['cues_kept']:,} cues kept of {media['cue_blocks']:,} blocks"
               + ("" if share is None else f" ({share:.2%} of blocks kept)"))
    sources = ", ".join(f"{n} {source}" for source, n in media["transcript_pages"].items()) or "none"
    click.echo(f"pages with a transcript: {sources}; transcript passages: {media['transcript_passages']['timed']} "
               f"timed, {media['transcript_passages']['untimed']} untimed")
    for kind, figures in media["by_kind"].items():
        click.echo(f"  {kind}: {figures['recordings']} recordings, {figures['passages']} passages, "
                   f"{figures['media_seconds']:,.0f} s")
    dropped = ", ".join(f"{n} {reason}" for reason, n in media["blocks_dropped"].items()) or "none"
    failures = ", ".join(f"{n} {reason}" for reason, n in media["failures"].items()) or "none"
    fetch = media["fetch_seconds"]
    click.echo(f"blocks dropped: {dropped}; caption/transcript failures: {failures} "
               f"({media['pages_indexed_without_their_captions']} pages indexed from their text alone)")
    click.echo(f"fetch time: recording pages {fetch['recording_pages']:.1f} s, caption files "
               f"{fetch['caption_files']:.1f} s, other URLs {fetch['other_urls']:.1f} s")
