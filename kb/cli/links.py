"""`kb links ...`: tracked links for prospects from the command line (create, list, revoke)."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx

AS_HELP = "Whose link (a known user's e-mail; env KB_USER)."


def _owner(as_user: str | None) -> str:
    if not as_user:
        raise click.UsageError("say whose link it is with --as EMAIL (or set KB_USER)")
    return as_user


@cli.group()
def links() -> None:
    """Tracked links for prospects: /l/<token> redirects to your content and counts the prospect's opens."""


@links.command("create")
@click.argument("url")
@click.option("--at", "at_seconds", type=float, default=None, help="Start a video or podcast at this second.")
@click.option("--label", default=None, help="The prospect: company or deal (only you see it).")
@click.option("--as", "as_user", envvar="KB_USER", metavar="EMAIL", help=AS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the link.")
@pass_ctx
def create_command(ctx: Context, url: str, at_seconds: float | None, label: str | None, as_user: str | None,
                   as_json: bool) -> None:
    """Make a tracked link to URL (a page on one of the configured sites) and print it."""
    from kb.tracked_links import create_link

    link = create_link(ctx.kb, _owner(as_user), url=url, at_seconds=at_seconds, label=label)
    if as_json:
        emit_json(link)
        return
    click.echo(link["url"])


@links.command("list")
@click.option("--as", "as_user", envvar="KB_USER", metavar="EMAIL", help=AS_HELP)
@click.option("--limit", default=50, show_default=True, help="Most links to list, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def list_command(ctx: Context, as_user: str | None, limit: int, as_json: bool) -> None:
    """List your links with their opens."""
    from kb.tracked_links import list_links

    rows, total = list_links(ctx.kb, _owner(as_user), limit=limit)
    if as_json:
        emit_json({"links": rows, "total": total})
        return
    if not rows:
        click.echo("no links")
    for row in rows:
        state = "revoked" if not row["active"] else f"{row['open_count']} open{'' if row['open_count'] == 1 else 's'}"
        first = f", first {row['first_opened_at'][:16]}" if row["first_opened_at"] else ""
        click.echo(f"{row['id']:>5}  {state}{first}  {row['label'] or '-'}  {row['url']}  -> {row['title'] or ''}")


@links.command("revoke")
@click.argument("link_id", type=int)
@click.option("--as", "as_user", envvar="KB_USER", metavar="EMAIL",
              help="Only if it is this user's link (default: any link: the operator's command).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def revoke_command(ctx: Context, link_id: int, as_user: str | None, as_json: bool) -> None:
    """Revoke your link LINK_ID: it answers 404 from now on."""
    from kb.tracked_links import revoke_link

    link = revoke_link(ctx.kb, as_user or None, link_id)
    if as_json:
        emit_json(link)
        return
    click.echo(f"revoked link {link['id']} ({link['url']})")
