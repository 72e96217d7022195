"""`kb crawl` and `kb pages`: crawl sites and report crawl health."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from kb.cli.base import Context, KBError, cli, emit_json, pass_ctx
from kb.errors import ConflictError


# -- crawl and health ------------------------------------------------------------------------------
@contextmanager
def crawl_progress(enabled: bool) -> Iterator[Any]:
    """A tqdm progress bar fed by crawl progress events (off for --json and non-terminals)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(unit="url", dynamic_ncols=True, file=sys.stderr) as bar:
        def update(event: Any) -> None:
            bar.total = event.done + event.queued
            bar.n = event.done
            bar.set_postfix_str(event.outcome, refresh=False)
            bar.refresh()

        yield update


@cli.command()
@click.argument("site", required=False)
@click.option("--every", default=None, metavar="DURATION",
              help="Keep running: crawl each site when it is due (e.g. 6h, 30m, 1d); SIGTERM stops cleanly.")
@click.option("--site", "site_option", default=None, help="Only this site (the same as the SITE argument).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def crawl(ctx: Context, site: str | None, every: str | None, site_option: str | None, as_json: bool) -> None:
    """Crawl SITE (or every site) and bring the index up to date.

    Each crawl holds the site's lock, so two crawls of one site never overlap (another process, the web
    app's "Crawl now", another machine on the same database).
    """
    import threading

    from ingest.crawler import crawl_site
    from kb import crawl_schedule
    from kb.sites import sync_config_sites

    if site and site_option and site != site_option:
        raise KBError(f"two different sites given: {site!r} and --site {site_option!r}")
    site = site or site_option
    interval = crawl_schedule.parse_every(every) if every else None
    with ctx.kb.transaction() as session:
        sync_config_sites(session, ctx.settings.sites)
    sites = crawl_schedule.site_ids(ctx.kb, [site] if site else None)
    if not sites:
        raise KBError("no sites to crawl: add one with `kb sites add NAME URL`")
    stop = threading.Event()
    if interval is not None:
        with crawl_schedule.stop_on_signals(stop):
            crawl_schedule.run_schedule(ctx.kb, crawl_site, every=interval, names=[site] if site else None,
                                        stop=stop, report=lambda event: _echo_event(event, as_json))
        return
    summaries = []
    with crawl_schedule.stop_on_signals(stop):
        for name, site_id in sites.items():
            with crawl_progress(not as_json and sys.stderr.isatty()) as progress:
                try:
                    summaries.append(crawl_schedule.locked_crawl(ctx.kb, name, site_id, crawl_site,
                                                                 stop=stop.is_set, progress=progress))
                except ConflictError as exc:
                    if site:  # the one site asked for is busy: that is the answer (exit code 4)
                        raise
                    click.echo(f"skipped {name}: {exc.message}", err=True)
    if as_json:
        emit_json([s.to_dict() for s in summaries])
        return
    for summary in summaries:
        click.echo(render_summary(summary))


def _echo_event(event: Any, as_json: bool) -> None:
    """One scheduled crawl's outcome, as it happens (stdout is flushed per line for log collectors)."""
    if as_json:
        summary = event.summary.to_dict() if event.summary is not None else None
        click.echo(json.dumps({"site": event.site, "event": event.kind, "message": event.message,
                               "summary": summary}, default=str))
    elif event.kind == "crawled":
        click.echo(render_summary(event.summary))
    else:
        click.echo(f"{event.kind}: {event.site}: {event.message}", err=True)
    sys.stdout.flush()


def render_summary(summary: Any) -> str:
    counts = summary.counts
    lines = [
        f"crawl of {summary.site} finished in {summary.seconds:.1f} s (run {summary.run_id})",
        f"  fetched {summary.fetched}: new {counts['new']}, changed {counts['changed']}, "
        f"unchanged {counts['unchanged']}, duplicates {counts['duplicate']}, aliases {counts['alias']}, "
        f"retired {counts['retired']}",
        f"  skipped {counts['skipped']}, failed {counts['failed']}",
    ]
    for reason, n in summary.reasons.most_common():
        lines.append(f"    {reason}: {n}")
    lines.append(f"  passages embedded {summary.passages_embedded}; index holds {summary.index_total}")
    loop = getattr(summary, "loop", None)
    if loop is not None:
        lines.append(f"  {loop.summary()}")
        if loop.suggested:
            lines.append("    confirm or reject: kb topics confirm ID / kb topics reject ID")
    for warning in summary.warnings:
        if warning.startswith("answer loop"):
            lines.append(f"  warning: {warning}")
    lines.append("  details: kb pages --status skipped,failed")
    return "\n".join(lines)


@cli.command()
@click.option("--site", help="Only this site.")
@click.option("--status", "statuses", default="", help="Comma-separated outcomes, e.g. skipped,failed.")
@click.option("--limit", default=10_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def pages(ctx: Context, site: str | None, statuses: str, limit: int, as_json: bool) -> None:
    """Crawl health: every URL of the latest crawl with its outcome and reason."""
    from kb.crawl_report import page_rows

    wanted = [s.strip() for s in statuses.split(",") if s.strip()]
    with ctx.kb.sessions() as session:
        rows = page_rows(session, site=site, outcomes=wanted, limit=limit)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    for row in rows:
        why = f" {row.reason}" if row.reason else ""
        status = f" [{row.http_status}]" if row.http_status else ""
        click.echo(f"{row.outcome:<9}{why:<22}{status:<6} {row.url}")
    click.echo(f"{len(rows)} URLs", err=True)
