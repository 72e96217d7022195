"""`kb users ...`: the people who log in, ask questions and work the backlog.

No default passwords anywhere (ASVS 6.3.2): the first admin types one (`kb users add EMAIL --admin`
prompts, or reads it from standard input), everyone else gets a one-time invitation link.
"""

from __future__ import annotations

import sys

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx
from kb.roles import ROLES


def _user_dict(user) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "active": user.active,
            "has_password": bool(user.password_hash)}


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _invitation_url(ctx: Context, token: str) -> str:
    web = ctx.settings.web
    base = web.base_url.rstrip("/") or f"http://{web.host}:{web.port}"
    return f"{base}/invitation/{token}"


@cli.group()
def users() -> None:
    """Reps, marketers and admins."""


@users.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(ROLES), default="rep", show_default=True)
@click.option("--admin", is_flag=True, help="Same as --role admin; asks for the password (the first admin is made so).")
@click.option("--password", "set_password_", is_flag=True, help="Ask for a password instead of printing an invitation.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def users_add(ctx: Context, email: str, name: str, role: str, admin: bool, set_password_: bool,
              password_stdin: bool, as_json: bool) -> None:
    """Add a user: an admin sets a password now; others get an invitation link to set their own."""
    from kb.invitations import create_invitation
    from kb.login import set_password
    from kb.passwords import check_password_rules
    from kb.users import add_user, normalise_email

    role = "admin" if admin else role
    password = None
    if admin or set_password_ or password_stdin:
        password = _read_password(password_stdin)
        check_password_rules(password, email=normalise_email(email))  # before anything is stored
    with ctx.kb.transaction() as session:
        user = add_user(session, email, name=name, role=role)
        invitation = None
        if password is not None:
            set_password(session, user, password)
        else:
            invitation = _invitation_url(ctx, create_invitation(session, user))
        data = {**_user_dict(user), "invitation": invitation}
    if as_json:
        emit_json(data)
        return
    click.echo(f"added {data['email']} ({data['role']})")
    if invitation:
        click.echo(f"invitation (valid 7 days, once): {invitation}")


@users.command("invite")
@click.argument("user")
@pass_ctx
def users_invite(ctx: Context, user: str) -> None:
    """A new invitation link for USER (e-mail or id), e.g. after a lost password; older links stop working."""
    from kb.invitations import create_invitation
    from kb.users import get_user

    with ctx.kb.transaction() as session:
        url = _invitation_url(ctx, create_invitation(session, get_user(session, user)))
    click.echo(url)


@users.command("set-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_ctx
def users_set_password(ctx: Context, user: str, password_stdin: bool) -> None:
    """Set USER's password (ends all their sessions)."""
    from kb.login import set_password
    from kb.users import get_user

    password = _read_password(password_stdin)
    with ctx.kb.transaction() as session:
        found = get_user(session, user)
        set_password(session, found, password)
        email = found.email
    click.echo(f"password of {email} changed; their sessions are ended")


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
        state = "" if row["active"] else "  (disabled)"
        click.echo(f"{row['id']:>4}  {row['email']:<40} {row['role']:<9} {row['name']}{state}")


@users.command("set-role")
@click.argument("user")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def users_set_role(ctx: Context, user: str, role: str) -> None:
    """Change the role of USER (e-mail or id); it applies from their next request."""
    from kb.users import set_role

    with ctx.kb.transaction() as session:
        changed = set_role(session, user, role)
        email = changed.email
    click.echo(f"{email} is now {role}")


@users.command("disable")
@click.argument("user")
@pass_ctx
def users_disable(ctx: Context, user: str) -> None:
    """Disable USER: their sessions end and their API tokens stop working at once."""
    from kb.users import set_active

    with ctx.kb.transaction() as session:
        email = set_active(session, user, False).email
    click.echo(f"{email} is disabled")


@users.command("enable")
@click.argument("user")
@pass_ctx
def users_enable(ctx: Context, user: str) -> None:
    """Enable a disabled USER again."""
    from kb.users import set_active

    with ctx.kb.transaction() as session:
        email = set_active(session, user, True).email
    click.echo(f"{email} is enabled")
