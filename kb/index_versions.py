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

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kb.models import IndexState, utcnow

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

    The increment is one UPDATE (atomic in both SQLite and PostgreSQL); callers hold the index writer lock,
    so the insert of the very first row has no competitor.
    """
    done = session.execute(
        update(IndexState)
        .where(IndexState.name == name)
        .values(version=IndexState.version + 1, manifest=manifest, updated_at=utcnow())
    )
    if not done.rowcount:
        session.add(IndexState(name=name, version=1, manifest=manifest, updated_at=utcnow()))
        session.flush()
    return int(session.scalar(select(IndexState.version).where(IndexState.name == name)) or 0)
