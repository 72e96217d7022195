"""`kb notifications` and `kb notifications read ID...`: what reps were told about their questions."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json


@cli.group(invoke_without_command=True)
@click.option("--as", "as_user", metavar="EMAIL", help="Whose notifications (a known user).")
@click.option("--unread", is_flag=True, help="Only notifications not read yet.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def notifications(click_ctx: click.Context, as_user: str | None, unread: bool, as_json: bool) -> None:
    """List a user's notifications, newest first."""
    if click_ctx.invoked_subcommand is not None:
        click_ctx.meta["notifications_as"] = as_user  # `kb notifications --as EMAIL read 3` works too
        return
    from kb.notifications import user_notifications

    ctx: Context = click_ctx.find_object(Context)
    if not as_user:
        raise click.UsageError("say whose notifications with --as EMAIL")
    rows = user_notifications(ctx.kb, as_user, unread_only=unread)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no notifications")
    for row in rows:
        mark = " " if row["read"] else "*"
        mailed = " (e-mailed)" if row["emailed_at"] else ""
        click.echo(f"{mark}{row['id']:>5}  {row['created_at'][:16]}  {row['kind']:<9} {row['message']}{mailed}")


@notifications.command("read")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--as", "as_user", metavar="EMAIL", help="Whose notifications (a known user).")
@click.pass_context
def notifications_read(click_ctx: click.Context, ids: tuple[int, ...], as_user: str | None) -> None:
    """Mark notifications IDS read."""
    from kb.notifications import mark_user_read

    ctx: Context = click_ctx.find_object(Context)
    as_user = as_user or click_ctx.meta.get("notifications_as")
    if not as_user:
        raise click.UsageError("say whose notifications with --as EMAIL")
    done = mark_user_read(ctx.kb, as_user, ids)
    click.echo(f"{len(done)} notification{'s' if len(done) != 1 else ''} marked read")
