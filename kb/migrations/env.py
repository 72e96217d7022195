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
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table copies to alter
        )
        context.run_migrations()


run_migrations_online()
