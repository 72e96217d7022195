"""`kb search`, `kb reindex`, `kb serve`."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


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
