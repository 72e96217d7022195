"""`kb search`, `kb reindex`, `kb serve`."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


# -- search and index ----------------------------------------------------------------------------
@cli.command()
@click.argument("query")
@click.option("--k", default=None, type=int, help="Number of results (default from config).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True,
              help="Ranking: both fused, meaning only, or keywords only.")
@click.option("--kind", "kinds", multiple=True, help="Only this kind: blog, case_study, podcast, video, page.")
@click.option("--site", "sites", multiple=True, help="Only content of this site (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only content with this tag (repeatable).")
@click.option("--persona", "personas", multiple=True, help="Only content for this buyer persona.")
@click.option("--stage", "stages", multiple=True, help="Only content for this flywheel stage.")
@click.option("--from", "date_from", help="Published on or after this date (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Published on or before this date (YYYY-MM-DD).")
@click.option("--as", "as_user", metavar="EMAIL", help="Who is searching (a low-confidence search counts as "
              "evidence of demand, attributed to them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def search(ctx: Context, query: str, k: int | None, mode: str, kinds: tuple[str, ...], sites: tuple[str, ...],
           tags: tuple[str, ...], personas: tuple[str, ...], stages: tuple[str, ...], date_from: str | None,
           date_to: str | None, as_user: str | None, as_json: bool) -> None:
    """Search the knowledge base; results are grouped by content with the best passage."""
    from kb.search_evidence import search_with_evidence
    from kb.search_filters import parse_filters

    filters = parse_filters(kinds=kinds, sites=sites, tags=tags, personas=personas, stages=stages,
                            published_from=date_from, published_to=date_to)
    response = search_with_evidence(ctx.kb, query, k=k, mode=mode, filters=filters, user_email=as_user)
    if as_json:
        emit_json(response.to_dict())
        return
    if not response.hits:
        click.echo("no results")
        return
    click.echo(f"{len(response.hits)} results, {response.confidence:.0%} confident the first answers it "
               f"({response.took_ms:.0f} ms)")
    for rank, hit in enumerate(response.hits, 1):
        where = " > ".join(hit.heading_path)
        moment = f" at {hit.moment}" if hit.moment else ""
        click.echo(f"{rank}. {hit.title}  ({hit.kind.replace('_', ' ')}{moment})")
        click.echo(f"   {hit.link}")
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
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Worker processes (default from config serve.workers); more than 1 runs gunicorn.")
@click.option("--production", is_flag=True, help="Run under gunicorn even with one worker.")
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None, workers: int | None, production: bool) -> None:
    """Run the web app (simple threaded server, or gunicorn with --workers N / --production)."""
    host = host or ctx.settings.web.host
    port = port or ctx.settings.web.port
    workers = workers or ctx.settings.serve.workers
    if workers > 1 or production:
        from kb.logging_setup import default_format
        from web.serving import serve_production

        click.echo(f"Smarketing KB on http://{host}:{port}/ ({workers} gunicorn workers)")
        serve_production(ctx.settings, host=host, port=port, workers=workers,
                         log_format=ctx.log_format or default_format())
        return
    from web import create_app

    app = create_app(ctx.kb)
    click.echo(f"Smarketing KB on http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False)
