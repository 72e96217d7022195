"""The knowledge base object: settings, database, embedder and index, wired once.

The CLI and the web app each hold one of these (the web app in ``app.extensions``) and call its
methods; heavy parts (the model, the index) are loaded on first use, never at import time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kb import db, embedding, index_versions, indexing
from kb.confidence import ConfidenceModel
from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.index import DenseIndex, Manifest
from kb.index_locks import PUBLISH_LOCK, WRITER_LOCK, FolderLock
from kb.keyword_index import KeywordIndex
from kb.search import Retrievers, SearchResponse, clean_query, search
from kb.search_filters import SearchFilters
from kb.settings import Settings

BRIEF_LOCK_WAIT_MS = 250  # transaction(brief=True): how long bookkeeping waits for SQLite's write lock

log = logging.getLogger(__name__)


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
        self._lock = threading.RLock()  # held briefly: model loading and swapping the served indexes
        # Index versions shared by processes (kb.index_versions, kb.index_locks): the version this process
        # serves, when it last asked the database for the published one, and a version whose files failed.
        self._loaded_version = 0
        self._next_version_check = 0.0
        self._refused_version = -1
        self._load_lock = threading.Lock()  # one first load at a time
        self._reload_lock = threading.Lock()  # one reload at a time; others keep searching the served pair
        self._writer = FolderLock(settings.index_dir, WRITER_LOCK)
        self._publisher = FolderLock(settings.index_dir, PUBLISH_LOCK)
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
        """Sessions for reading (a deferred transaction on SQLite: never waits for the writer)."""
        return db.make_sessionmaker(self.engine)

    @cached_property
    def write_sessions(self) -> sessionmaker[Session]:
        """Sessions for writing: on SQLite their transaction takes the write lock first (BEGIN IMMEDIATE)."""
        return db.make_sessionmaker(self.engine, write=True)

    @cached_property
    def brief_write_sessions(self) -> sessionmaker[Session]:
        """Write sessions that wait at most :data:`BRIEF_LOCK_WAIT_MS` for SQLite's write lock."""
        return db.make_sessionmaker(self.engine, write=True, lock_wait_ms=BRIEF_LOCK_WAIT_MS)

    @contextmanager
    def transaction(self, *, brief: bool = False) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on error.

        ``brief``: bookkeeping that must never hold up the user's action (search evidence, usage events)
        waits at most a quarter second for another writer (a crawl) to release the lock, then fails with
        an OperationalError the caller logs and drops, instead of the usual busy timeout.
        """
        with db.transaction(self.brief_write_sessions if brief else self.write_sessions) as session:
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
        """Both indexes: loaded from disk on first use and checked against the database (repaired when they
        differ), then followed: when another process publishes a newer version, it is loaded and swapped in."""
        if self._index is None or self._keyword is None:
            with self._load_lock:
                if self._index is None or self._keyword is None:
                    self._load_at_start()
        else:
            self._follow_published()
        with self._lock:  # both references read together: a swap replaces the pair at once
            assert self._index is not None and self._keyword is not None
            return self._index, self._keyword

    def _load_at_start(self) -> None:
        """Serve the saved pair when it holds what the database says; otherwise bring it in step (a refresh:
        reconcile from stored vectors, or a full rebuild when damaged or made by another model). While another
        process is writing, an intact saved pair of this model is served as is: that writer publishes a newer
        one and :meth:`_follow_published` picks it up."""
        embedder = self.embedder
        with self.sessions() as session:
            state = index_versions.published(session)  # read before the files: a newer one is noticed later
        saved = self._read_saved(blocking=True)
        if saved is not None:
            dense, manifest, keyword = saved
            with self.sessions() as session:
                fresh = indexing.matches_database(manifest, session, embedder.model_name, embedder.dimension)
            same_model = manifest.model == embedder.model_name and manifest.dimension == embedder.dimension
            if keyword is not None and (fresh or (same_model and self._writer.taken_elsewhere())):
                with self._lock:
                    self._index, self._keyword, self._loaded_version = dense, keyword, state.version
                return
            if same_model:
                with self._lock:
                    self._index = dense  # reconcile from it rather than from nothing
                self.refresh_index()
                return
        self.refresh_index(rebuild=True)

    def _read_saved(self, *, blocking: bool) -> tuple[DenseIndex, Manifest, KeywordIndex | None] | None:
        """The saved dense index, its manifest and the keyword index built over the same passages (None if
        missing or built over other passages), read under the shared publish lock so no save lands between."""
        if not self._publisher.acquire(shared=True, blocking=blocking):
            return None
        try:
            loaded = DenseIndex.load(self.dense_index_dir, ef_search=self.settings.search.hnsw_ef_search)
            if loaded is None:
                return None
            keyword = KeywordIndex.load(self.keyword_index_dir)
        finally:
            self._publisher.release()
        dense, manifest = loaded
        matching = keyword is not None and keyword[1].ids_digest == manifest.ids_digest
        return dense, manifest, keyword[0] if matching and keyword is not None else None

    def _follow_published(self) -> None:
        """Reload the saved pair when another process published a newer version (checked at most every
        ``serve.index_check_seconds``). Searches meanwhile use the served pair; the swap replaces both
        references at once, so a search sees the old pair or the new one, never a mix and never an error.
        A published pair that fails its checks is refused (logged) and the served one stays."""
        now = time.monotonic()
        if now < self._next_version_check or not self._reload_lock.acquire(blocking=False):
            return
        try:
            self._next_version_check = now + self.settings.serve.index_check_seconds
            with self.sessions() as session:
                state = index_versions.published(session)
            if state.version in (self._loaded_version, self._refused_version):
                return
            saved = self._read_saved(blocking=False)
            if saved is None and not self._publisher.taken_elsewhere():
                log.error("index version %s is published but its files are missing or damaged; serving %s",
                          state.version, self._loaded_version)
                self._refused_version = state.version
                return
            if saved is None:
                self._next_version_check = 0.0  # a writer is publishing right now: look again next time
                return
            dense, manifest, keyword = saved
            if keyword is None or manifest.ids_digest != state.manifest.get("ids_digest") or (
                manifest.model != self.embedder.model_name
            ):
                log.warning("saved index files do not match published version %s (a save in progress, or a "
                            "crash between save and publish); serving version %s", state.version,
                            self._loaded_version)
                return
            with self._lock:
                self._index, self._keyword, self._loaded_version = dense, keyword, state.version
            log.info("search index version %s loaded (%s passages)", state.version, dense.count)
        finally:
            self._reload_lock.release()

    @property
    def loaded_index_version(self) -> int | None:
        """The published version this process serves; None before the indexes are loaded."""
        return None if self._index is None else self._loaded_version

    def _rebuild_keyword(self, dense: DenseIndex) -> KeywordIndex:
        """BM25 over exactly the passages in the dense index (same text the model embedded), saved."""
        ids = np.sort(dense.ids())
        with self.sessions() as session:
            texts = indexing.embedding_texts(session, ids)
        keyword = KeywordIndex.build(ids, texts)
        keyword.save(self.keyword_index_dir)
        return keyword

    def refresh_index(self, *, rebuild: bool = False, progress: indexing.ProgressFn | None = None) -> IndexReport:
        """Embed what is pending, bring both indexes in step with the database, save them and publish the new
        version. One writer at a time across processes (the writer lock); the served index is never changed in
        place: a copy is reconciled, saved, published, then swapped in."""
        with self._writer.held():
            embedder = self.embedder
            with self.transaction() as session:
                if indexing.stale_model_count(session, embedder.model_name):
                    indexing.reset_embeddings(session, embedder.model_name)
                    rebuild = True
            embedded = indexing.embed_pending(self.sessions, embedder, progress=progress)
            with self.sessions() as session:
                wanted = len(indexing.embedded_ids(session))
                kind = "hnsw" if wanted > self.settings.search.hnsw_threshold else "flat"
                served = self._index
                if rebuild or served is None or served.model != embedder.model_name or served.kind != kind:
                    index, rebuild = self._new_dense(kind), True
                else:
                    index = served.copy()
                try:
                    result = indexing.reconcile(index, session)
                except indexing.NeedsRebuild:
                    index, rebuild = self._new_dense(kind), True
                    result = indexing.reconcile(index, session)
            keyword = self._keyword
            with self._publisher.held():  # readers never load a new dense file beside an old keyword file
                manifest = index.save(self.dense_index_dir)
                if rebuild or keyword is None or result.added or result.removed or keyword.count != index.count:
                    keyword = self._rebuild_keyword(index)
                version = self._publish(manifest)
            with self._lock:
                self._index, self._keyword, self._loaded_version = index, keyword, version
            log.info("search index version %s published: %s passages (%s added, %s removed%s)", version, index.count,
                     result.added, result.removed, ", rebuilt" if rebuild else "")
            return IndexReport(embedded, result.added, result.removed, index.count, rebuild)

    def _publish(self, manifest: Manifest) -> int:
        """Bump the index version in the database so every worker reloads the files just saved."""
        with self.transaction() as session:
            return index_versions.publish(session, asdict(manifest))

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
