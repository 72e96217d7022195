"""The knowledge base object: settings, database, embedder and index, wired once.

The CLI and the web app each hold one of these (the web app in ``app.extensions``) and call its
methods; heavy parts (the model, the index) are loaded on first use, never at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kb import db, indexing
from kb.embedding import DIMENSION, MODEL_NAME, Embedder, load_embedder
from kb.errors import ValidationError
from kb.index import DenseIndex
from kb.search import SearchHit, clean_query, search
from kb.settings import Settings


@dataclass(frozen=True)
class IndexReport:
    embedded: int
    added: int
    removed: int
    total: int
    rebuilt: bool


class KnowledgeBase:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._index: DenseIndex | None = None
        self._lock = threading.RLock()

    # -- storage -------------------------------------------------------------------------------
    @cached_property
    def engine(self) -> Engine:
        engine = db.make_engine(
            self.settings.database_url,
            busy_timeout_ms=self.settings.database.busy_timeout_ms,
            echo=self.settings.database.echo,
        )
        db.ensure_schema(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.make_sessionmaker(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with db.transaction(self.sessions) as session:
            yield session

    # -- model and index -----------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings.embedding)
            return self._embedder

    @property
    def model_name(self) -> str:
        return self._embedder.model_name if self._embedder else MODEL_NAME

    def dense_index(self) -> DenseIndex:
        """The index, loaded from disk and checked against the database; rebuilt when they differ."""
        with self._lock:
            if self._index is None:
                self._index = self._load_or_rebuild()
            return self._index

    def _load_or_rebuild(self) -> DenseIndex:
        loaded = DenseIndex.load(self.settings.index_dir)
        with self.sessions() as session:
            if loaded is not None and indexing.matches_database(
                loaded[1], session, self.model_name, DIMENSION
            ):
                return loaded[0]
        self.refresh_index(rebuild=True)
        assert self._index is not None
        return self._index

    def refresh_index(self, *, rebuild: bool = False, progress: indexing.ProgressFn | None = None) -> IndexReport:
        """Embed what is pending, bring the index in step with the database and save it."""
        with self._lock:
            embedder = self.embedder
            with self.transaction() as session:
                if indexing.stale_model_count(session, embedder.model_name):
                    indexing.reset_embeddings(session, embedder.model_name)
                    rebuild = True
            embedded = indexing.embed_pending(self.sessions, embedder, progress=progress)
            index = self._index
            if rebuild or index is None or index.model != embedder.model_name:
                index = DenseIndex(embedder.dimension, embedder.model_name)
                rebuild = True
            with self.sessions() as session:
                result = indexing.reconcile(index, session)
            index.save(self.settings.index_dir)
            self._index = index
            return IndexReport(embedded, result.added, result.removed, index.count, rebuild)

    # -- queries -------------------------------------------------------------------------------
    def search(self, query: str, *, k: int | None = None) -> list[SearchHit]:
        cfg = self.settings.search
        k = cfg.default_k if k is None else k
        if not 1 <= k <= cfg.max_k:
            raise ValidationError(f"k must be between 1 and {cfg.max_k}")
        query = clean_query(query, self.settings.web.max_query_chars)
        index = self.dense_index()
        with self.sessions() as session:
            return search(
                session,
                self.embedder,
                index,
                query,
                k=k,
                candidates=cfg.candidates,
                snippet_words=cfg.snippet_words,
            )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
