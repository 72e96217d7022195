"""Engine and sessions for SQLite (embedded default) or any SQLAlchemy URL (PostgreSQL for teams).

The engine is built by a function, never at import time. SQLite connections get WAL, a busy timeout
and foreign keys on every new connection (``foreign_keys`` is per-connection and off by default).
The schema is owned by Alembic migrations in ``kb/migrations``; ``upgrade`` brings a database to head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Create an engine; for SQLite, create the parent folder and set the connection pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is crash-safe for the application in WAL mode; a power loss may roll back the
        # last commits, which the crawler repeats on its next run.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


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

    command.upgrade(_alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Migrate to head when the database is behind (a fresh file included)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
