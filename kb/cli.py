"""The ``kb`` command line. Commands parse arguments, call one function of ``kb``/``ingest`` and render.

This module is the composition root: it is the one place in ``kb`` allowed to import ``ingest`` and
``web``, and only inside command functions so ``kb --help`` stays fast. Typed ``KBError``s become one
clear line on stderr and the exit code the error class declares; no tracebacks for user mistakes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from kb.errors import KBError
from kb.settings import Settings, SiteSettings, load_settings


class KBGroup(click.Group):
    """A click group that turns typed knowledge-base errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KBError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


class Context:
    """Lazily built settings and knowledge base shared by the commands of one invocation."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._kb = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def kb(self):  # type: ignore[no-untyped-def]
        from kb.knowledge_base import KnowledgeBase

        if self._kb is None:
            self._kb = KnowledgeBase(self.settings)
        return self._kb


pass_ctx = click.make_pass_decorator(Context)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(cls=KBGroup)
@click.option("--config", "config", envvar="KB_CONFIG", type=click.Path(dir_okay=False),
              help="Settings file (default: ./config.toml; env KB_CONFIG).")
@click.version_option(package_name="smarketing-kb")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Smarketing KB: crawl your content, search it, and find the questions it does not answer."""
    ctx.obj = Context(config)


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create the database (run migrations) and load the sites from the config file."""
    from kb.sites import sync_config_sites

    with ctx.kb.transaction() as session:
        sites = sync_config_sites(session, ctx.settings.sites)
    click.echo(f"database ready: {ctx.settings.database_url}")
    click.echo(f"sites from config: {', '.join(s.name for s in sites) or 'none'}")


# -- sites ---------------------------------------------------------------------------------------
@cli.group()
def sites() -> None:
    """Manage crawl sources."""


@sites.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--sitemap", "sitemaps", multiple=True, help="Sitemap URL (repeatable).")
@click.option("--feed", "feeds", multiple=True, help="RSS/Atom feed URL (repeatable).")
@click.option("--include", multiple=True, help="Only crawl URLs matching this regex (repeatable).")
@click.option("--exclude", multiple=True, help="Never crawl URLs matching this regex (repeatable).")
@click.option("--delay", type=float, default=-1.0, help="Seconds between requests to the host.")
@click.option("--budget", type=int, default=0, help="Maximum pages per crawl.")
@click.option("--max-depth", type=int, default=-1, help="Link-following depth limit.")
@click.option("--allow-private-addresses", is_flag=True,
              help="Allow loopback/private addresses (only for local demo and test sites).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def sites_add(ctx: Context, name: str, url: str, sitemaps: tuple[str, ...], feeds: tuple[str, ...],
              include: tuple[str, ...], exclude: tuple[str, ...], delay: float, budget: int, max_depth: int,
              allow_private_addresses: bool, as_json: bool) -> None:
    """Add a site NAME to crawl, starting at URL."""
    from kb.sites import add_site, site_to_dict

    spec = SiteSettings(name=name, base_url=url, sitemaps=list(sitemaps), feeds=list(feeds),
                        include=list(include), exclude=list(exclude), delay_seconds=delay,
                        page_budget=budget, max_depth=max_depth,
                        allow_private_addresses=allow_private_addresses)
    with ctx.kb.transaction() as session:
        site = add_site(session, spec)
        data = site_to_dict(site)
    emit_json(data) if as_json else click.echo(f"added site {name}: {url}")


@sites.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def sites_list(ctx: Context, as_json: bool) -> None:
    """List the sites (config sites are loaded first)."""
    from kb.sites import list_sites, site_to_dict, sync_config_sites

    with ctx.kb.transaction() as session:
        sync_config_sites(session, ctx.settings.sites)
        rows = [site_to_dict(s) for s in list_sites(session)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no sites yet: add one with `kb sites add NAME URL` or in config.toml")
    for row in rows:
        private = "  (private addresses allowed)" if row["allow_private_addresses"] else ""
        click.echo(f"{row['name']:<20} {row['base_url']}  [{row['source']}]{private}")


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def crawl(ctx: Context, site: str | None, as_json: bool) -> None:
    """Crawl SITE (or every site) and bring the index up to date."""
    from ingest.crawler import crawl_site
    from kb.sites import list_sites, sync_config_sites

    with ctx.kb.transaction() as session:
        sync_config_sites(session, ctx.settings.sites)
        names = [site] if site else [s.name for s in list_sites(session)]
    if not names:
        raise KBError("no sites to crawl: add one with `kb sites add NAME URL`")
    summaries = []
    for name in names:
        with crawl_progress(not as_json and sys.stderr.isatty()) as progress:
            summaries.append(crawl_site(ctx.kb, name, progress=progress))
    if as_json:
        emit_json([s.to_dict() for s in summaries])
        return
    for summary in summaries:
        click.echo(render_summary(summary))


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


# -- search and index ----------------------------------------------------------------------------
@cli.command()
@click.argument("query")
@click.option("--k", default=None, type=int, help="Number of results (default from config).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def search(ctx: Context, query: str, k: int | None, as_json: bool) -> None:
    """Search the knowledge base; results are grouped by content with the best passage."""
    hits = ctx.kb.search(query, k=k)
    if as_json:
        emit_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, 1):
        where = " > ".join(hit.heading_path)
        click.echo(f"{rank}. {hit.title}  ({hit.kind}, score {hit.score:.3f})")
        click.echo(f"   {hit.url}")
        if where:
            click.echo(f"   § {where}")
        click.echo(f"   {hit.snippet}")


@cli.command()
@click.option("--re-embed", is_flag=True, help="Embed every passage again (e.g. after a model change).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def reindex(ctx: Context, re_embed: bool, as_json: bool) -> None:
    """Rebuild the search index from the database."""
    from kb import indexing

    if re_embed:
        with ctx.kb.transaction() as session:
            indexing.reset_embeddings(session)
    report = ctx.kb.refresh_index(rebuild=True)
    if as_json:
        emit_json(report.__dict__)
    else:
        click.echo(f"index rebuilt: {report.total} passages ({report.embedded} embedded now)")


@cli.command()
@click.option("--host", default=None, help="Interface (default from config: 127.0.0.1).")
@click.option("--port", default=None, type=int)
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Run the web app."""
    from web import create_app

    app = create_app(ctx.kb)
    host = host or ctx.settings.web.host
    port = port or ctx.settings.web.port
    click.echo(f"Smarketing KB on http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False)


# -- demo ----------------------------------------------------------------------------------------
@cli.command()
@click.option("--port", default=5000, show_default=True, help="Port of the web app.")
@click.option("--query", help="Run one search after the crawl and print it.")
@click.option("--no-serve", is_flag=True, help="Crawl (and search) then exit instead of serving.")
@pass_ctx
def demo(ctx: Context, port: int, query: str | None, no_serve: bool) -> None:
    """Serve the bundled demo website, crawl it into a fresh database and open the web app."""
    from ingest.crawler import crawl_site
    from kb.demo.server import DemoSiteServer
    from kb.demo.session import demo_knowledge_base

    with DemoSiteServer() as site:
        click.echo(f"demo website (a fictional company) served at {site.base_url}/")
        kb = demo_knowledge_base(ctx.settings, site.base_url)
        click.echo(f"crawling it into {kb.settings.database_url} ...")
        with crawl_progress(sys.stderr.isatty()) as progress:
            summary = crawl_site(kb, "demo", progress=progress)
        click.echo(render_summary(summary))
        for q in [query] if query else []:
            click.echo(f"\nsearch: {q}")
            for rank, hit in enumerate(kb.search(q, k=3), 1):
                click.echo(f"  {rank}. {hit.title} ({hit.score:.3f})  {hit.url}")
        if no_serve:
            return
        from web import create_app

        app = create_app(kb)
        click.echo(f"\nOpen http://127.0.0.1:{port}/ and search, e.g. 'Do you support SSO with Okta?'")
        click.echo("Press Ctrl+C to stop.")
        app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)


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


def main() -> None:
    cli(prog_name="kb")
