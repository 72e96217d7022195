"""Backing up and restoring the database, while the crawler and the web app keep writing.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot in one step
(a WAL reader never blocks writers); the copy is checked with ``PRAGMA integrity_check``, turned into a
single self-contained file (rollback journal instead of WAL) and moved into place atomically, so a
crash leaves the old file or the new one, never half a backup. Restoring goes through the same API
into the live file, under SQLite's write lock, so processes that have it open see the old or the new
database. PostgreSQL: its documented native tools, ``pg_dump --format=custom`` and ``pg_restore``.

The database is the source of truth: the search indexes are derived from it, and a knowledge base
whose saved index does not match its database rebuilds it on load (``KnowledgeBase.indexes``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from kb import db
from kb.errors import ConflictError, NotFoundError, SettingsError, ValidationError


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore did: the file, the database kind, its size and schema revision."""

    path: Path
    backend: str
    size_bytes: int
    revision: str | None

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "backend": self.backend, "size_bytes": self.size_bytes,
                "revision": self.revision}


def backup_database(database_url: str, target: Path) -> BackupReport:
    """Write a backup of the database at ``database_url`` to ``target`` (which must not exist yet)."""
    url = make_url(database_url)
    target = Path(target)
    if target.exists():
        raise ConflictError(f"{target} already exists: choose a new file name")
    if not target.parent.is_dir():
        raise NotFoundError(f"no folder {target.parent} to write the backup into")
    if url.get_backend_name() == "sqlite":
        return _backup_sqlite(_sqlite_path(url), target)
    if url.get_backend_name() == "postgresql":
        return _backup_postgres(url, target)
    raise ValidationError(f"backups support SQLite and PostgreSQL, not {url.get_backend_name()}")


def restore_database(database_url: str, source: Path, *, busy_timeout_ms: int = 5000) -> BackupReport:
    """Replace the database at ``database_url`` with the backup ``source``, then migrate it to head."""
    url = make_url(database_url)
    source = Path(source)
    if not source.is_file():
        raise NotFoundError(f"no backup file {source}")
    if url.get_backend_name() == "sqlite":
        _restore_sqlite(source, _sqlite_path(url), busy_timeout_ms)
    elif url.get_backend_name() == "postgresql":
        _restore_postgres(source, url)
    else:
        raise ValidationError(f"backups support SQLite and PostgreSQL, not {url.get_backend_name()}")
    engine = db.make_engine(database_url, busy_timeout_ms=busy_timeout_ms)
    try:  # a backup from an older version is brought up to this version's schema
        db.upgrade(engine)
        revision = db.current_revision(engine)
    finally:
        engine.dispose()
    return BackupReport(source, url.get_backend_name(), source.stat().st_size, revision)


# -- SQLite ------------------------------------------------------------------------------------------
def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ValidationError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _checked_revision(connection: sqlite3.Connection, what: Path) -> str | None:
    """Integrity-check a SQLite database and return its schema revision; ValidationError when it is no good."""
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ValidationError(f"{what} is not a SQLite database: {exc}") from exc
    if verdict != "ok":
        raise ValidationError(f"{what} fails SQLite's integrity check: {verdict}")
    if "alembic_version" not in tables:
        raise ValidationError(f"{what} is not a knowledge base database (no schema revision)")
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    revision = row[0] if row else None
    if revision and revision > db.head_revision():
        raise ValidationError(f"{what} is from a newer version (schema {revision}; this one knows up to "
                              f"{db.head_revision()}): upgrade the software first")
    return revision


def _backup_sqlite(database: Path, target: Path) -> BackupReport:
    if not database.is_file():
        raise NotFoundError(f"no database file {database}")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        source = sqlite3.connect(database)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: a consistent snapshot; writers go on meanwhile (WAL)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            revision = _checked_revision(copy, database)
        finally:
            copy.close()
            source.close()
        with open(partial, "rb") as handle:  # durable before it takes the final name
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(target, "sqlite", target.stat().st_size, revision)


def _restore_sqlite(source: Path, database: Path, busy_timeout_ms: int) -> None:
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _checked_revision(backup, source)
        database.parent.mkdir(parents=True, exist_ok=True)
        db.check_local_filesystem(database)
        live = sqlite3.connect(database, timeout=busy_timeout_ms / 1000)
        try:
            live.execute("PRAGMA journal_mode=WAL")
            backup.backup(live)  # takes the live file's write lock, waiting for the current writer
            if live.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise ValidationError(f"the restored database {database} fails SQLite's integrity check")
        finally:
            live.close()
    finally:
        backup.close()


# -- PostgreSQL ---------------------------------------------------------------------------------------
def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password (kept out of the process list) and the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SettingsError(f"{name} is not installed: install the PostgreSQL client tools "
                            "(Debian: apt-get install postgresql-client)")
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValidationError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-1500:]}")


def _backup_postgres(url: URL, target: Path) -> BackupReport:
    conninfo, env = _libpq(url)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        # --format=custom: compressed, and pg_restore can --clean the objects it restores.
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}",
              f"--dbname={conninfo}"], env)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    engine = db.make_engine(url.render_as_string(hide_password=False))
    try:
        revision = db.current_revision(engine)
    finally:
        engine.dispose()
    return BackupReport(target, "postgresql", target.stat().st_size, revision)


def _restore_postgres(source: Path, url: URL) -> None:
    conninfo, env = _libpq(url)
    # One transaction: a failed restore leaves the database as it was.
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", f"--dbname={conninfo}", str(source)], env)
