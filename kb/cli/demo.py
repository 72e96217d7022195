"""`kb demo`: the bundled demo, end to end."""

from __future__ import annotations

import sys

import click

from kb.cli.base import Context, cli, pass_ctx
from kb.cli.crawling import crawl_progress, render_summary


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
    from kb.demo.session import backlog_summary, demo_knowledge_base, demo_logins, import_demo_questions

    with DemoSiteServer() as site:
        click.echo(f"demo website (a fictional company) served at {site.base_url}/")
        kb = demo_knowledge_base(ctx.settings, site.base_url)
        click.echo(f"crawling it into {kb.settings.database_url} ...")
        with crawl_progress(sys.stderr.isatty()) as progress:
            summary = crawl_site(kb, "demo", progress=progress)
        click.echo(render_summary(summary))
        click.echo(backlog_summary(kb, import_demo_questions(kb)))
        for q in [query] if query else []:
            click.echo(f"\nsearch: {q}")
            for rank, hit in enumerate(kb.search(q, k=3).hits, 1):
                click.echo(f"  {rank}. {hit.title} ({hit.score:.3f})  {hit.url}")
        if no_serve:
            return
        from web import create_app

        app = create_app(kb)
        click.echo(f"\nOpen http://127.0.0.1:{port}/ and log in (passwords are new on every run):")
        for email, role, password in demo_logins(kb):
            click.echo(f"  {role:<9} {email:<34} {password}")
        click.echo("then search, e.g. 'Do you support SSO with Okta?', or open the backlog as the marketer.")
        click.echo("Press Ctrl+C to stop.")
        app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)
