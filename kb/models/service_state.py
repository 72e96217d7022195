"""What the processes of one deployment share about the search indexes (issue 8).

The index files live on disk beside the database; every web worker holds a copy in memory. The row
here is the published version: whoever saves a new index (a crawl, ``kb reindex``) bumps it after
the files are in place, and each worker compares it with the version it loaded (one primary-key
SELECT at most every ``serve.index_check_seconds``) and reloads the saved files when it moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kb.models.base import Base, utcnow


class IndexState(Base):
    __tablename__ = "index_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)  # "search": the dense + keyword pair
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The dense manifest of the published files (model, dimension, count, ids digest): a worker checks
    # what it loaded against this before swapping it in, so it never serves a pair the writer did not publish.
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
