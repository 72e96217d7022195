"""Engine and sessions for SQLite (embedded default) or PostgreSQL (teams), with the same migrations.

The engine is built by a function, never at import time. SQLite connections get WAL, a busy timeout
and foreign keys on every new connection (``foreign_keys`` is per-connection and off by default).
The schema is owned by Alembic migrations in ``kb/migrations``; ``upgrade`` brings a database to head.

Write transactions on SQLite start with ``BEGIN IMMEDIATE``: they take the write lock first, waiting
up to the busy timeout for it. A deferred transaction that reads and then writes cannot wait: if
another connection wrote since its read, SQLite answers "database is locked" at once (the busy handler
is not used, since waiting could deadlock). pysqlite's own transaction handling cannot say IMMEDIATE,
so it is switched off and the BEGIN is emitted here (SQLAlchemy's documented pysqlite recipe). Read
sessions keep a deferred BEGIN: in WAL mode readers never wait for the writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kb.errors import SettingsError, ValidationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PROC_MOUNTS = Path("/proc/mounts")
# File systems on which SQLite's locks (and WAL's shared memory) cannot be trusted: SQLITE wal.html,
# "WAL does not work over a network filesystem"; FUSE remote mounts are the same in practice.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "ncpfs", "afs", "9p", "ceph", "glusterfs", "lustre", "gpfs",
    "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.glusterfs", "fuse.gcsfuse", "fuse.juicefs", "davfs",
})
_WRITE_OPTION = "kb_write_transaction"
# Milliseconds a transaction waits for SQLite's write lock, when not the engine's busy timeout: bookkeeping
# writes (search evidence, usage events) wait briefly, then give up, rather than stall a search behind a crawl.
_LOCK_WAIT_OPTION = "kb_lock_wait_ms"


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Create an engine; for SQLite, create the parent folder and set the connection pragmas.

    A SQLite file on a network file system is refused (:func:`check_local_filesystem`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
        event.listen(engine, "before_cursor_execute", _refuse_nul_characters)
        event.listen(engine, "handle_error", _number_out_of_range)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        check_local_filesystem(Path(parsed.database))
    engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own: _sqlite_begin does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is crash-safe for the application in WAL mode; a power loss may roll back the
        # last commits, which the crawler repeats on its next run.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
        options = conn.get_execution_options()
        # The wait must be set before BEGIN IMMEDIATE, which is where the lock is waited for; the pooled
        # connection remembers its current value, so the PRAGMA runs only when it changes.
        wait = int(options.get(_LOCK_WAIT_OPTION, busy_timeout_ms))
        if conn.connection.info.get("busy_timeout_ms", busy_timeout_ms) != wait:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={wait}")
            conn.connection.info["busy_timeout_ms"] = wait
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION) else "BEGIN")

    return engine


def _refuse_nul_characters(_conn, _cursor, _statement, parameters, _context, executemany) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold NUL (0x00), which SQLite stores: a typed 400 for input carrying one
    (a query string, a form field) instead of the driver's DataError surfacing as a 500."""
    rows = parameters if executemany else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row or ()
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise ValidationError("text must not contain NUL characters (\\x00)")


def _number_out_of_range(context) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's INTEGER is 32-bit where SQLite's is 64: an id like 100000000001 from a URL is out of
    range there (SQLSTATE 22003), i.e. bad input, a 400, never a 500."""
    if getattr(context.original_exception, "sqlstate", None) == "22003":
        raise ValidationError("a number in the request is out of range") from context.original_exception


def make_sessionmaker(engine: Engine, *, write: bool = False, lock_wait_ms: int | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``write=True`` for transactions that write (IMMEDIATE on SQLite), waiting
    ``lock_wait_ms`` for the write lock instead of the engine's busy timeout when given (SQLite only)."""
    options: dict[str, object] = {_WRITE_OPTION: True} if write else {}
    if lock_wait_ms is not None:
        options[_LOCK_WAIT_OPTION] = int(lock_wait_ms)
    return sessionmaker(engine.execution_options(**options) if options else engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


def network_filesystem(path: Path, mounts: str) -> str | None:
    """The network file system type ``path`` lives on according to ``mounts`` (/proc/mounts), or None."""
    best, best_type = "", ""
    resolved = str(path.resolve())
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts escapes space, tab, newline and backslash as octal (\040 ...)
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type if best_type in NETWORK_FILESYSTEMS else None


def check_local_filesystem(path: Path, mounts_file: Path = PROC_MOUNTS) -> None:
    """Refuse a SQLite database on a network file system: locking and WAL break there, silently
    corrupting the file under concurrent writers. (No /proc/mounts, as on macOS: nothing to check.)"""
    try:
        mounts = mounts_file.read_text(errors="replace")
    except OSError:
        return
    fstype = network_filesystem(path, mounts)
    if fstype:
        raise SettingsError(
            f"the SQLite database {path} is on a network file system ({fstype}), where SQLite's locking is "
            "unreliable and WAL does not work: use a local disk, or PostgreSQL (database.url)"
        )


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config  # imported lazily: only commands that migrate pay for it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration's revision id, read from the file names (``NNNN_description.py``).

    Every start compares it with the database's, so it must be cheap: importing Alembic to ask costs
    ~0.2 s of a command's cold start. A test checks this agrees with Alembic's own idea of the head.
    """
    names = [path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(names, default="")


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None for an empty database."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    from alembic import command

    # A write transaction (BEGIN IMMEDIATE on SQLite): processes starting together on a fresh database (web
    # workers, a crawl) migrate one after the other, and each later one then finds the schema at head.
    command.upgrade(_alembic_config(engine.execution_options(**{_WRITE_OPTION: True})), revision)


def upgrade_url(url: str, *, busy_timeout_ms: int = 5000) -> tuple[str | None, str | None]:
    """``kb db upgrade``: migrate the database at ``url`` to head; returns (revision before, revision after)."""
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        before = current_revision(engine)
        upgrade(engine)
        return before, current_revision(engine)
    finally:
        engine.dispose()


def ensure_schema(engine: Engine) -> None:
    """Migrate to head when the database is behind (a fresh file included)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
