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
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kb import db, embedding, indexing
from kb.confidence import ConfidenceModel
from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.index import DenseIndex
from kb.keyword_index import KeywordIndex
from kb.search import Retrievers, SearchResponse, clean_query, search
from kb.search_filters import SearchFilters
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
        self._keyword: KeywordIndex | None = None
        self._confidence: ConfidenceModel | None = None
        self._lock = threading.RLock()
        # Per-process derived data other modules keep warm between calls (e.g. the question vectors the
        # de-duplication compares against), keyed by the owning module's name; each entry checks itself
        # against the database before use, so a stale entry is refreshed, never trusted.
        self.caches: dict[str, object] = {}

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
                self._embedder = embedding.load_embedder(self.settings.embedding, self.settings.instance_dir / "models")
            return self._embedder

    @property
    def dense_index_dir(self) -> Path:
        return self.settings.index_dir

    @property
    def keyword_index_dir(self) -> Path:
        return self.settings.index_dir / "keyword"

    def dense_index(self) -> DenseIndex:
        return self.indexes()[0]

    def indexes(self) -> tuple[DenseIndex, KeywordIndex]:
        """Both indexes, loaded from disk and checked against the database; rebuilt when they differ."""
        with self._lock:
            if self._index is None:
                self._index = self._load_dense()
            if self._keyword is None:
                self._keyword = self._load_keyword(self._index)
            return self._index, self._keyword

    def _load_dense(self) -> DenseIndex:
        embedder = self.embedder
        loaded = DenseIndex.load(self.dense_index_dir, ef_search=self.settings.search.hnsw_ef_search)
        with self.sessions() as session:
            if loaded is not None and indexing.matches_database(
                loaded[1], session, embedder.model_name, embedder.dimension
            ):
                return loaded[0]
        self.refresh_index(rebuild=True)
        assert self._index is not None
        return self._index

    def _load_keyword(self, dense: DenseIndex) -> KeywordIndex:
        loaded = KeywordIndex.load(self.keyword_index_dir)
        if loaded is not None and loaded[1].ids_digest == dense.manifest().ids_digest:
            return loaded[0]
        return self._rebuild_keyword(dense)

    def _rebuild_keyword(self, dense: DenseIndex) -> KeywordIndex:
        """BM25 over exactly the passages in the dense index (same text the model embedded)."""
        ids = np.sort(dense.ids())
        with self.sessions() as session:
            texts = indexing.embedding_texts(session, ids)
        keyword = KeywordIndex.build(ids, texts)
        keyword.save(self.keyword_index_dir)
        self._keyword = keyword
        return keyword

    def refresh_index(self, *, rebuild: bool = False, progress: indexing.ProgressFn | None = None) -> IndexReport:
        """Embed what is pending, bring both indexes in step with the database and save them."""
        with self._lock:
            embedder = self.embedder
            with self.transaction() as session:
                if indexing.stale_model_count(session, embedder.model_name):
                    indexing.reset_embeddings(session, embedder.model_name)
                    rebuild = True
            embedded = indexing.embed_pending(self.sessions, embedder, progress=progress)
            with self.sessions() as session:
                wanted = len(indexing.embedded_ids(session))
                kind = "hnsw" if wanted > self.settings.search.hnsw_threshold else "flat"
                index = self._index
                if rebuild or index is None or index.model != embedder.model_name or index.kind != kind:
                    index, rebuild = self._new_dense(kind), True
                try:
                    result = indexing.reconcile(index, session)
                except indexing.NeedsRebuild:
                    index, rebuild = self._new_dense(kind), True
                    result = indexing.reconcile(index, session)
            index.save(self.dense_index_dir)
            self._index = index
            keyword = self._keyword
            if rebuild or keyword is None or result.added or result.removed or keyword.count != index.count:
                self._rebuild_keyword(index)
            return IndexReport(embedded, result.added, result.removed, index.count, rebuild)

    def _new_dense(self, kind: str) -> DenseIndex:
        embedder = self.embedder
        return DenseIndex(embedder.dimension, embedder.model_name, kind=kind,
                          ef_search=self.settings.search.hnsw_ef_search)

    @property
    def confidence_model(self) -> ConfidenceModel:
        """The instance's own calibration if it has one (refitted from feedback), else the shipped one."""
        with self._lock:
            if self._confidence is None:
                self._confidence = ConfidenceModel.load(self.settings.instance_dir / "confidence.json")
            return self._confidence

    # -- queries -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str = "hybrid",
        filters: SearchFilters | None = None,
        query_vector: np.ndarray | None = None,
    ) -> SearchResponse:
        """Hybrid (or dense / keyword) search; ``query_vector`` is the query's embedding if already made."""
        cfg = self.settings.search
        k = cfg.default_k if k is None else k
        if not 1 <= k <= cfg.max_k:
            raise ValidationError(f"k must be between 1 and {cfg.max_k}")
        query = clean_query(query, self.settings.web.max_query_chars)
        dense, keyword = self.indexes()
        retrievers = Retrievers(self.embedder, dense, keyword, self.confidence_model, cfg)
        with self.sessions() as session:
            return search(session, retrievers, query, k=k, mode=mode, filters=filters, query_vector=query_vector)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
