"""Alembic environment: runs migrations on the engine the knowledge base hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from kb.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # invoked by the alembic command line: use sqlalchemy.url
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one; with foreign keys on, that DROP
            # deletes every row referencing it through ON DELETE CASCADE (altering `sites` emptied `contents`).
            # The pragma only takes effect outside a transaction, so it is set on the driver's connection
            # before ours begins; the keys are checked at the end instead and switched back on after.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    # One migrating process at a time (web workers and a crawl may start together); the others
                    # wait here, then find the schema at head. SQLite gets the same from kb.db's BEGIN IMMEDIATE.
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4175160601)")
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,  # SQLite needs table copies to alter
                )
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} rows with broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")

run_migrations_online()
