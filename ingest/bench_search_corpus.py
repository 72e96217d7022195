"""The corpus of ``kb bench search``: real text from a BEIR corpus, stored and embedded the normal way, then
synthetic passages (varied copies of the real ones, already embedded) bulk-inserted up to the size asked.

Separate from the timing (:mod:`ingest.bench_search_timing`) and the run and its report
(:mod:`ingest.bench_search`): this is what is measured *on*, and its recipe decides how far the figures carry
over to real content. The BEIR files are read by :mod:`ingest.beir`.

A BEIR ``corpus.jsonl`` (title and text) is split into ~170-word passages, three documents to a content item
so items hold a few passages like real pages, whose sections carry the document titles as headings. The
real ones are stored through :func:`kb.content.store_page` and embedded by the knowledge base's own embedder
(the normal ``embed_pending`` path). Embedding 100k passages would take over an hour on this machine, so the
rest are **synthetic**: copies of the real content items whose passage vectors are the real vectors plus
Gaussian noise (sigma 0.02 per component, re-normalised; cosine ~0.93 to the original) and whose texts are
the real texts with ~10% of the words dropped, ~5% replaced by words of another passage and ~10% of
neighbouring words swapped (a pure shuffle would leave BM25's bags of words identical). They are
bulk-inserted with their vectors and the embedder's model name, so the index takes them as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from ingest.beir import corpus_documents, query_texts
from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Passage, utcnow

DEFAULT_BEIR_DIR = Path("/work/shared/data/beir/scifact")
PASSAGE_WORDS = 170
DOCS_PER_CONTENT = 3
SIGMA = 0.02
INSERT_BATCH = 5000
KINDS = ("blog", "page", "case_study")
BASE_URL = "https://bench.invalid/"


@dataclass
class BenchPage:
    """One content item: a title and its passages as ``(heading_path, text)``."""

    title: str
    sections: list[tuple[tuple[str, ...], str]]


# -- inputs ----------------------------------------------------------------------------------------------
def read_corpus(path: Path) -> list[tuple[str, str]]:
    """``(title, text)`` of every document of a BEIR ``corpus.jsonl`` (empty documents skipped)."""
    _require_file(path)
    docs = []
    for doc in corpus_documents(path):
        title, text = " ".join(doc.title.split()), " ".join(doc.text.split())
        if title or text:
            docs.append((title, text))
    if not docs:
        raise ValidationError(f"{path}: no documents")
    return docs


def read_queries(path: Path) -> list[str]:
    """The texts of a BEIR ``queries.jsonl``, in file order; a plain text file gives one query a line."""
    _require_file(path)
    if path.suffix == ".jsonl":
        queries = [" ".join(text.split()) for text in query_texts(path).values()]
    else:
        queries = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    queries = [q for q in queries if q]
    if not queries:
        raise ValidationError(f"{path}: no queries")
    return queries


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")


def split_words(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """``text`` in pieces of at most ``max_words`` words, balanced (230 words: 115 + 115, not 170 + 60)."""
    words = text.split()
    if not words:
        return []
    pieces = -(-len(words) // max_words)
    size = -(-len(words) // pieces)
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def make_pages(docs: Sequence[tuple[str, str]], count: int, *, docs_per_content: int = DOCS_PER_CONTENT,
               max_words: int = PASSAGE_WORDS) -> list[BenchPage]:
    """Content items of ``docs_per_content`` documents each holding ``count`` passages in all (the last
    item is cut), or every passage of ``docs`` if they hold fewer. The first document's title is the
    item's title; the other documents' titles head their passages."""
    pages: list[BenchPage] = []
    total = 0
    for start in range(0, len(docs), docs_per_content):
        page = BenchPage(title=docs[start][0] or docs[start][1][:80], sections=[])
        for offset, (title, text) in enumerate(docs[start : start + docs_per_content]):
            heading = (title,) if offset and title else ()
            page.sections.extend((heading, piece) for piece in split_words(text or title, max_words))
        page.sections = page.sections[: count - total]
        if page.sections:
            pages.append(page)
            total += len(page.sections)
        if total >= count:
            break
    return pages


# -- synthetic passages -----------------------------------------------------------------------------------
def vary_words(words: Sequence[str], rng: np.random.Generator, donor: Sequence[str] = ()) -> str:
    """``words`` with ~10% dropped, ~5% replaced by words of ``donor`` and ~10% of neighbours swapped."""
    if len(words) < 4:
        return " ".join(words)
    kept = [w for w, drop in zip(words, rng.random(len(words)) < 0.10, strict=True) if not drop] or list(words)
    if donor:
        for i in np.flatnonzero(rng.random(len(kept)) < 0.05):
            kept[i] = donor[int(rng.integers(len(donor)))]
    for i in np.flatnonzero(rng.random(len(kept) - 1) < 0.10):
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept)


def perturb(vectors: np.ndarray, rng: np.random.Generator, sigma: float = SIGMA) -> np.ndarray:
    """``vectors`` plus N(0, sigma^2) per component, L2-normalised again, float32."""
    noisy = vectors + rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(sigma)
    noisy /= np.maximum(np.linalg.norm(noisy, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(noisy, dtype=np.float32)



# -- filling the knowledge base ----------------------------------------------------------------------------
def store_real(kb: KnowledgeBase, site_id: int, pages: list[BenchPage]) -> list[int]:
    """Store ``pages`` the normal way (passages await embedding); their content ids in order."""
    ids = []
    with kb.transaction() as session:
        for number, page in enumerate(pages):
            texts = [text for _, text in page.sections]
            record = PageRecord(
                canonical_url=f"{BASE_URL}real/{number}",
                content_hash=hashlib.sha256("\n".join([page.title, *texts]).encode()).hexdigest(),
                passages=[PassageInput(text=text, heading_path=heading) for heading, text in page.sections],
                kind=KINDS[number % len(KINDS)],
                title=page.title,
            )
            _, content = store_page(session, site_id, record)
            ids.append(content.id)
    return ids


def real_vectors(kb: KnowledgeBase, content_ids: list[int], pages: list[BenchPage], dimension: int) -> np.ndarray:
    """The stored vectors of the real passages, in page then section order."""
    position, n = {}, 0
    for cid, page in zip(content_ids, pages, strict=True):
        for ordinal in range(len(page.sections)):
            position[(cid, ordinal)] = n
            n += 1
    vectors = np.zeros((n, dimension), dtype=np.float32)
    with kb.sessions() as session:
        rows = session.execute(select(Passage.content_id, Passage.ordinal, Passage.embedding))
        for cid, ordinal, blob in rows:
            if (cid, ordinal) in position and blob is not None:
                vectors[position[(cid, ordinal)]] = np.frombuffer(blob, dtype=np.float32)
    return vectors


def insert_synthetic(kb: KnowledgeBase, site_id: int, pages: list[BenchPage], vectors: np.ndarray, count: int,
                      model_name: str, rng: np.random.Generator, sigma: float) -> int:
    """Bulk-insert ``count`` synthetic passages: varied copies of ``pages`` cycled (see the module docstring),
    already embedded. Returns the number of synthetic content items."""
    words = [text.split() for page in pages for _, text in page.sections]
    first = np.cumsum([0] + [len(p.sections) for p in pages[:-1]])  # index of each page's first real passage
    with kb.sessions() as session:
        next_id = (session.scalar(select(Content.id).order_by(Content.id.desc()).limit(1)) or 0) + 1
    contents: list[dict[str, Any]] = []
    passages: list[dict[str, Any]] = []
    pending: list[int] = []  # real passage index behind each row of ``passages``
    made = items = 0
    now = utcnow()

    def flush() -> None:
        if not passages:
            return
        noisy = perturb(vectors[pending], rng, sigma)
        for row, vector in zip(passages, noisy, strict=True):
            row["embedding"] = vector.tobytes()
        with kb.transaction() as session:
            session.execute(insert(Content), contents)
            session.execute(insert(Passage), passages)
        contents.clear()
        passages.clear()
        pending.clear()

    while made < count:
        for number, page in enumerate(pages):
            if made >= count:
                break
            cid = next_id + items
            title = vary_words(page.title.split(), rng)
            texts = []
            for ordinal, (heading, _) in enumerate(page.sections[: count - made]):
                real = int(first[number]) + ordinal
                donor = words[int(rng.integers(len(words)))]
                text = vary_words(words[real], rng, donor)
                texts.append(text)
                passages.append({
                    "content_id": cid, "ordinal": ordinal, "text": text, "heading_path": list(heading),
                    "embedding_model": model_name, "embedded": True,
                })
                pending.append(real)
            contents.append({
                "id": cid, "site_id": site_id, "canonical_url": f"{BASE_URL}synthetic/{cid}",
                "kind": KINDS[cid % len(KINDS)], "title": title, "authors": [], "tags": [],
                "content_hash": hashlib.sha256("\n".join([title, *texts]).encode()).hexdigest(),
                "status": "live", "first_seen_at": now, "changed_at": now,
            })
            made += len(texts)
            items += 1
            if len(passages) >= INSERT_BATCH:
                flush()
    flush()
    return items

