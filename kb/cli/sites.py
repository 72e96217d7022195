"""`kb sites`: manage crawl sources."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx
from kb.settings import SiteSettings


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
@click.option("--transcripts", "transcripts", multiple=True, metavar="TEMPLATE",
              help="Where transcripts no page links to live, e.g. https://site/captions/{slug}.vtt (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def sites_add(ctx: Context, name: str, url: str, sitemaps: tuple[str, ...], feeds: tuple[str, ...],
              include: tuple[str, ...], exclude: tuple[str, ...], delay: float, budget: int, max_depth: int,
              allow_private_addresses: bool, transcripts: tuple[str, ...], as_json: bool) -> None:
    """Add a site NAME to crawl, starting at URL."""
    from kb.sites import add_site, site_to_dict

    spec = SiteSettings(name=name, base_url=url, sitemaps=list(sitemaps), feeds=list(feeds),
                        include=list(include), exclude=list(exclude), delay_seconds=delay,
                        page_budget=budget, max_depth=max_depth,
                        allow_private_addresses=allow_private_addresses, transcripts=list(transcripts))
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
