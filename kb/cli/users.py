"""`kb users add/list/set-role`: the people questions and backlog changes are attributed to."""

from __future__ import annotations

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx
from kb.roles import ROLES


def _user_dict(user) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "active": user.active}


@cli.group()
def users() -> None:
    """Reps, marketers and admins."""


@users.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(ROLES), default="rep", show_default=True)
@click.option("--admin", is_flag=True, help="Same as --role admin (the first admin is made this way).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def users_add(ctx: Context, email: str, name: str, role: str, admin: bool, as_json: bool) -> None:
    """Add a user."""
    from kb.users import add_user

    with ctx.kb.transaction() as session:
        user = add_user(session, email, name=name, role="admin" if admin else role)
        data = _user_dict(user)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"added {data['email']} ({data['role']})")


@users.command("list")
@click.option("--role", type=click.Choice(ROLES), default=None, help="Only this role.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def users_list(ctx: Context, role: str | None, as_json: bool) -> None:
    """List users."""
    from kb.users import list_users

    with ctx.kb.sessions() as session:
        rows = [_user_dict(user) for user in list_users(session, role=role)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no users")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['email']:<40} {row['role']:<9} {row['name']}")


@users.command("set-role")
@click.argument("user")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def users_set_role(ctx: Context, user: str, role: str) -> None:
    """Change the role of USER (e-mail or id)."""
    from kb.users import set_role

    with ctx.kb.transaction() as session:
        changed = set_role(session, user, role)
        email = changed.email
    click.echo(f"{email} is now {role}")
