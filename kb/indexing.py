"""Keeping the dense index in step with the database.

Two steps, both idempotent so a crash between them is repaired by running them again:
1. :func:`embed_pending` embeds passages that have no vector yet (new or changed content only),
   longest-first within large batches so each model batch holds texts of similar length;
2. :func:`reconcile` makes the index hold exactly the embedded passages of live content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from kb.embedding import Embedder
from kb.index import DenseIndex, Manifest, ids_digest
from kb.models import Content, Passage

ProgressFn = Callable[[int, int], None]  # (done, total)


class NeedsRebuild(Exception):
    """The index cannot be patched in place (HNSW deletions): build a fresh one."""


@dataclass(frozen=True)
class ReconcileResult:
    added: int
    removed: int


def passage_embedding_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """What gets embedded for a passage: its page title and heading path give it context."""
    headings = " > ".join(h.strip() for h in heading_path if h and h.strip())
    return "\n".join(part for part in (title.strip(), headings, text.strip()) if part)


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Passage).where(Passage.embedded.is_(False))) or 0


def embed_pending(
    factory: sessionmaker[Session],
    embedder: Embedder,
    *,
    batch_size: int = 512,
    progress: ProgressFn | None = None,
) -> int:
    """Embed every passage without a vector; commits per batch so a crash loses at most one batch."""
    with factory() as session:
        total = pending_count(session)
    done = 0
    while True:
        with factory() as session:
            rows = session.execute(
                select(Passage.id, Passage.text, Passage.heading_path, Content.title)
                .join(Content)
                .where(Passage.embedded.is_(False))
                .order_by(Passage.id)
                .limit(batch_size)
            ).all()
        if not rows:
            break
        texts = [passage_embedding_text(r.title, r.heading_path or [], r.text) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: len(texts[i]), reverse=True)
        vectors = embedder.embed_passages([texts[i] for i in order])
        # The model runs outside any transaction and the write transaction starts with the UPDATE: a
        # transaction that read before writing cannot wait for SQLite's write lock (see kb.db), and
        # holding the lock while embedding would stall every other writer for seconds.
        # A Core UPDATE (not the ORM's by-primary-key one): a passage a concurrent crawl replaced meanwhile is
        # simply not updated, where the ORM would fail the whole batch on the row count.
        table = Passage.__table__
        with factory() as session, session.begin():
            session.execute(
                update(table)
                .where(table.c.id == bindparam("passage_id"))
                .values(embedding=bindparam("vector"), embedding_model=embedder.model_name, embedded=True),
                [
                    {"passage_id": rows[i].id, "vector": vectors[pos].astype(np.float32).tobytes()}
                    for pos, i in enumerate(order)
                ],
            )
        done += len(rows)
        if progress:
            progress(done, max(total, done))
    return done


def embedding_texts(session: Session, ids: np.ndarray) -> list[str]:
    """The text embedded for each passage id (title, heading path, passage), in ``ids`` order;
    the keyword index indexes the same text so both rankings see the same passages."""
    texts: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = [int(i) for i in ids[start : start + 5000]]
        rows = session.execute(
            select(Passage.id, Passage.text, Passage.heading_path, Content.title)
            .join(Content)
            .where(Passage.id.in_(chunk))
        )
        for row in rows:
            texts[row.id] = passage_embedding_text(row.title, row.heading_path or [], row.text)
    return [texts.get(int(i), "") for i in ids]


def embedded_ids(session: Session) -> np.ndarray:
    """Ids of the passages that belong in the index."""
    ids = session.scalars(
        select(Passage.id)
        .join(Content)
        .where(Passage.embedded.is_(True), Content.status == "live")
        .order_by(Passage.id)
    ).all()
    return np.asarray(ids, dtype=np.int64)


def load_vectors(session: Session, ids: np.ndarray, dimension: int) -> np.ndarray:
    vectors = np.zeros((len(ids), dimension), dtype=np.float32)
    position = {int(i): n for n, i in enumerate(ids)}
    for start in range(0, len(ids), 5000):
        chunk = [int(i) for i in ids[start : start + 5000]]
        for pid, blob in session.execute(select(Passage.id, Passage.embedding).where(Passage.id.in_(chunk))):
            vectors[position[pid]] = np.frombuffer(blob, dtype=np.float32)
    return vectors


def reconcile(index: DenseIndex, session: Session) -> ReconcileResult:
    """Add missing vectors from the database and drop vectors of deleted or retired passages."""
    wanted = embedded_ids(session)
    present = index.ids()
    to_remove = np.setdiff1d(present, wanted, assume_unique=True)
    to_add = np.setdiff1d(wanted, present, assume_unique=True)
    if len(to_remove) and not index.can_remove:
        raise NeedsRebuild(f"{len(to_remove)} vectors to remove from an HNSW index")
    removed = index.remove(to_remove)
    if len(to_add):
        index.add(to_add, load_vectors(session, to_add, index.dimension))
    return ReconcileResult(added=len(to_add), removed=removed)


def matches_database(manifest: Manifest, session: Session, model: str, dimension: int) -> bool:
    """True when a saved index holds exactly the database's embedded passages for this model."""
    if manifest.model != model or manifest.dimension != dimension:
        return False
    ids = embedded_ids(session)
    return manifest.count == len(ids) and manifest.ids_digest == ids_digest(ids)


def stale_model_count(session: Session, model: str) -> int:
    """Passages embedded by another model: their vectors must not be mixed into this index."""
    return session.scalar(
        select(func.count())
        .select_from(Passage)
        .where(Passage.embedded.is_(True), Passage.embedding_model != model)
    ) or 0


def reset_embeddings(session: Session, model: str | None = None) -> int:
    """Mark passages (all, or those of another model) as needing embedding again."""
    stmt = update(Passage).values(embedded=False, embedding=None, embedding_model=None)
    if model is not None:
        stmt = stmt.where(Passage.embedding_model != model)
    return session.execute(stmt).rowcount or 0
