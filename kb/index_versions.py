"""The published version of the search indexes, kept in the database so every process sees it.

A writer saves the index files first and then calls :func:`publish` (in a transaction): the version moves
only once the files it describes are complete on disk. Readers call :func:`published` (one primary-key
SELECT) and reload the files when the version differs from the one they hold. A crash between saving the
files and publishing leaves the old version published; the next refresh saves and publishes again, and a
process starting meanwhile checks the files against the database itself (``KnowledgeBase.indexes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import IndexState, utcnow
from kb.sql_dialect import upsert_insert

SEARCH = "search"  # the dense + keyword pair searched together


@dataclass(frozen=True)
class Published:
    """A published index version and the dense manifest it was published with (version 0: none yet)."""

    version: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


def published(session: Session, name: str = SEARCH) -> Published:
    row = session.execute(
        select(IndexState.version, IndexState.manifest).where(IndexState.name == name)
    ).first()
    return Published() if row is None else Published(row.version, dict(row.manifest or {}))


def publish(session: Session, manifest: dict[str, Any], name: str = SEARCH) -> int:
    """Record that new index files are in place; returns the new version number.

    One ``INSERT ... ON CONFLICT DO UPDATE`` creates the row or increments it atomically: the index writer
    lock is a file lock, which does not keep out a crawler on another machine sharing a PostgreSQL database.
    """
    now = utcnow()
    statement = (
        upsert_insert(session, IndexState)
        .values(name=name, version=1, manifest=manifest, updated_at=now)
        .on_conflict_do_update(index_elements=[IndexState.name],
                               set_={"version": IndexState.version + 1, "manifest": manifest, "updated_at": now})
        .returning(IndexState.version)
    )
    return int(session.execute(statement).scalar_one())
