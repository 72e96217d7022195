"""The one place where SQL differs between SQLite and PostgreSQL.

Both databases support ``INSERT ... ON CONFLICT``, the only way to create a row keyed by a natural key
(a canonical URL, an e-mail address, a site name) that stays correct when two processes race: a
select-then-insert lets both see "absent" and both insert, so one fails (unique index) or, without one,
a duplicate appears. SQLAlchemy has the statement per dialect (``sqlalchemy.dialects.<name>.insert``)
with the same ``on_conflict_do_nothing`` / ``on_conflict_do_update`` API; this module picks the right one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def upsert_insert(session: Session, model: Any) -> Any:
    """An ``INSERT`` into ``model``'s table that has ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    name = session.get_bind().dialect.name
    try:
        return _INSERTS[name](model)
    except KeyError:
        raise NotImplementedError(f"no INSERT ... ON CONFLICT for database dialect {name!r}") from None


def insert_if_absent(session: Session, model: Any, key: str, values: dict[str, Any]) -> int | None:
    """Insert a row unless one with the same unique ``key`` column exists; returns the new id or None.

    On PostgreSQL a conflicting row another transaction is still writing makes this wait for it (the
    unique index decides), so afterwards the existing row can be read with ``SELECT`` in the same
    transaction (READ COMMITTED sees rows committed before each statement).
    """
    statement = (
        upsert_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=[key]).returning(model.id)
    )
    return session.execute(statement).scalar()
