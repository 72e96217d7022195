"""Is this process ready to serve? The checks behind ``GET /readyz``.

Ready means: the database answers, its schema is at the newest migration (a worker started before
``kb db upgrade`` finished is not ready), and the search index is loaded at the version published in the
database (a worker whose reload failed is taken out of rotation by the load balancer instead of answering
from an outdated index). A probe also does what a search does first: load the index in a process that has
not yet (gunicorn workers load it before accepting requests), or follow a newer published version.
Each check reports "ok" or a reason; none raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb import db, index_versions

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or why not

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


def readiness(kb: KnowledgeBase) -> Readiness:
    checks: dict[str, str] = {}
    try:
        with kb.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            checks["database"] = "ok"
        revision, head = db.current_revision(kb.engine), db.head_revision()
        checks["migrations"] = "ok" if revision == head else f"database at {revision}, code at {head}"
        with kb.sessions() as session:
            index_versions.published(session)
    except Exception as exc:  # any failure to reach the database is the answer, not an error
        checks["database"] = f"unreachable ({type(exc).__name__})"
        return Readiness(checks)
    try:  # loads the index in a process that has not yet (the simple server), else follows a newer version
        kb.indexes()
        with kb.sessions() as session:
            published = index_versions.published(session).version
    except Exception as exc:  # a failure to load is the answer
        checks["index"] = f"failed to load ({type(exc).__name__}: {exc})"
        return Readiness(checks)
    loaded = kb.loaded_index_version
    if loaded != published:
        checks["index"] = f"serving version {loaded}, database publishes {published} (reload pending or refused)"
    else:
        checks["index"] = "ok"
    return Readiness(checks)
