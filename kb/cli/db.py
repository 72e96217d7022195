"""`kb db`: migrate, back up and restore the database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import click

from kb.cli.base import Context, cli, emit_json, pass_ctx


@cli.group("db")
def db_group() -> None:
    """Migrate, back up and restore the database."""


@db_group.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply the schema migrations the database has not had yet."""
    from kb.db import upgrade_url

    before, after = upgrade_url(ctx.settings.database_url, busy_timeout_ms=ctx.settings.database.busy_timeout_ms)
    if before == after:
        click.echo(f"database already at schema {after}")
    else:
        click.echo(f"database migrated from schema {before or '(empty)'} to {after}")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def db_backup(ctx: Context, file: Path, as_json: bool) -> None:
    """Back up the database to FILE, while the crawler and web app keep running.

    SQLite: a consistent, integrity-checked copy (the online backup API). PostgreSQL: pg_dump's custom format.
    """
    from kb.backup import backup_database

    report = backup_database(ctx.settings.database_url, file)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"backed up the {report.backend} database (schema {report.revision}) to {report.path}"
                   f" ({report.size_bytes} bytes)")


@db_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def db_restore(ctx: Context, file: Path, as_json: bool) -> None:
    """Replace the database with the backup FILE (made by `kb db backup`), then migrate it.

    The search index is rebuilt from the restored database the next time it is loaded; restart `kb serve`.
    """
    from kb.backup import restore_database

    report = restore_database(ctx.settings.database_url, file, busy_timeout_ms=ctx.settings.database.busy_timeout_ms)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"restored the {report.backend} database from {report.path}; now at schema {report.revision}")
