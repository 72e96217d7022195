"""A BEIR benchmark corpus as a knowledge base, ingested like crawled content and reused from a workdir.

The corpus goes in exactly like crawled content (one Site ``beir``, one Content per document under
``beir://<dataset>/<doc id>``, passages from :func:`ingest.chunking.chunk_sections`, stored by
:func:`kb.content.store_page` in transactions, then ``refresh_index``), so evaluations measure the
product's own chunking, embedding, indexes, fusion and grouping rather than a bespoke pipeline.

A ``workdir`` keeps the ingested knowledge base; a stamp (corpus sha256, chunking settings, model)
says whether it can be reused, so search variants are compared without re-embedding. Shared by
:mod:`ingest.retrieval_eval` (ranking quality) and :mod:`ingest.gap_eval` (answered-or-gap decisions).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import select

from ingest.beir import BeirDataset, BeirDocument, Qrels, file_sha256
from ingest.chunking import chunk_sections
from ingest.extract import Section
from ingest.pipeline import content_hash
from kb import embedding
from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, ContentAlias, Passage, Site
from kb.search import SearchResponse
from kb.settings import ChunkingSettings, Settings, SiteSettings, with_overrides
from kb.sites import add_site

Progress = Callable[[str], None]
SEARCH_K = 100  # results per query: enough for Recall@100 (the product's max_k)
SITE_NAME = "beir"
SITE_URL = "https://beir.invalid/"  # sites need an http(s) base URL; .invalid never resolves
STAMP_FILE = "beir-stamp.json"
LOCK_FILE = ".lock"
STAMP_FORMAT = 1
BATCH_DOCUMENTS = 500  # documents stored per transaction


@dataclass
class Corpus:
    """An ingested benchmark corpus, open for searching."""

    kb: KnowledgeBase
    docs_of: dict[int, list[str]]  # content id -> document ids (several when store_page merged duplicates)
    passages_of: dict[int, list[int]]  # content id -> passage ids
    documents: int
    passages: int
    ingested: bool
    timing: dict[str, float]
    outcomes: dict[str, int]

    def content_of(self) -> dict[str, int]:
        return {doc: cid for cid, docs in self.docs_of.items() for doc in docs}

    def ranked_docs(self, response: SearchResponse) -> list[str]:
        """The response's hits as document ids, best first (merged duplicates side by side)."""
        out: list[str] = []
        seen: set[str] = set()
        for hit in response.hits:
            for doc in self.docs_of.get(hit.content_id, ()):
                if doc not in seen:
                    seen.add(doc)
                    out.append(doc)
        return out


def doc_url(dataset: str, doc_id: str) -> str:
    return f"beir://{quote(dataset, safe='')}/{quote(doc_id, safe='')}"


def doc_id_of(url: str) -> str:
    return unquote(url.rsplit("/", 1)[1])


def corpus_stamp(dataset: BeirDataset, chunking: ChunkingSettings, model_name: str) -> dict[str, Any]:
    return {
        "format": STAMP_FORMAT,
        "corpus_sha256": file_sha256(dataset.corpus_path),
        "max_words": chunking.max_words,
        "overlap_words": chunking.overlap_words,
        "model": model_name,
    }


def eval_settings(settings: Settings, instance: Path, search: Mapping[str, Any] | None = None) -> Settings:
    """The configured settings on a private SQLite instance (room for ``SEARCH_K`` results), with
    optional search overrides."""
    settings = with_overrides(replace(settings, instance_path=str(instance)), database={"url": ""})
    return with_overrides(settings, search={"max_k": max(SEARCH_K, settings.search.max_k), **(search or {})})


@contextmanager
def open_corpus(
    dataset: BeirDataset,
    settings: Settings,
    *,
    workdir: Path | None = None,
    search: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Iterator[Corpus]:
    """The benchmark's corpus in a knowledge base: ingested now, or reused from ``workdir``."""
    say = progress or (lambda _message: None)
    embedder = embedding.TimedEmbedder(embedding.load_embedder(settings.embedding))
    with _folder(workdir) as folder:
        instance, stamp_path = folder / "instance", folder / STAMP_FILE
        stamp = corpus_stamp(dataset, settings.chunking, embedder.model_name)
        reuse = workdir is not None and instance.is_dir() and _read_json(stamp_path) == stamp
        if not reuse:
            if instance.exists():
                say(f"{folder}: built from another corpus or settings (or unfinished): rebuilding")
                shutil.rmtree(instance)
            stamp_path.unlink(missing_ok=True)
        kb = KnowledgeBase(eval_settings(settings, instance, search), embedder=embedder)
        try:
            timing: dict[str, float] = {}
            outcomes: dict[str, int] = {}
            if reuse:
                say(f"reusing the knowledge base in {folder}")
            else:
                timing, outcomes = _ingest(kb, dataset, embedder, say)
                stamp_path.write_text(json.dumps(stamp, indent=2))
            docs_of, passages_of = _contents(kb)
            yield Corpus(
                kb=kb,
                docs_of=docs_of,
                passages_of=passages_of,
                documents=sum(len(docs) for docs in docs_of.values()),
                passages=sum(len(pids) for pids in passages_of.values()),
                ingested=not reuse,
                timing=timing,
                outcomes=outcomes,
            )
        finally:
            kb.close()


@contextmanager
def _folder(workdir: Path | None) -> Iterator[Path]:
    """A temporary folder, or ``workdir`` locked for this run (one run at a time may rebuild it)."""
    if workdir is not None:
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        with (workdir / LOCK_FILE).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield workdir
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        yield Path(tmp)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _record(dataset: str, doc: BeirDocument, chunking: ChunkingSettings) -> PageRecord:
    text = doc.text if doc.text.strip() else doc.title  # a title-only document is still findable
    drafts = chunk_sections([Section((), text)], max_words=chunking.max_words, overlap_words=chunking.overlap_words)
    return PageRecord(
        canonical_url=doc_url(dataset, doc.doc_id),
        content_hash=content_hash(doc.title, text),
        passages=[PassageInput(text=d.text, heading_path=d.heading_path, ordinal=d.ordinal) for d in drafts],
        kind="page",
        title=doc.title,
    )


def _ingest(kb: KnowledgeBase, dataset: BeirDataset, embedder: embedding.TimedEmbedder,
            say: Progress) -> tuple[dict[str, float], dict[str, int]]:
    began = time.perf_counter()
    chunking = kb.settings.chunking
    with kb.transaction() as session:
        site_id = add_site(session, SiteSettings(name=SITE_NAME, base_url=SITE_URL), source="eval").id
    outcomes: Counter[str] = Counter()

    def store(batch: list[BeirDocument]) -> None:
        with kb.transaction() as session:
            for doc in batch:
                outcome, _ = store_page(session, site_id, _record(dataset.name, doc, chunking))
                outcomes[outcome] += 1
        say(f"stored {sum(outcomes.values())} documents")

    batch: list[BeirDocument] = []
    for doc in dataset.corpus():
        batch.append(doc)
        if len(batch) >= BATCH_DOCUMENTS:
            store(batch)
            batch = []
    if batch:
        store(batch)
    stored = time.perf_counter()
    step = {"next": 0.0}

    def embedded(done: int, total: int) -> None:
        if total and (done >= total or done / total >= step["next"]):
            say(f"embedded {done}/{total} passages ({time.perf_counter() - stored:.0f} s)")
            step["next"] = done / total + 0.1

    report = kb.refresh_index(progress=embedded)
    finished = time.perf_counter()
    timing = {
        "ingest_seconds": finished - began,
        "store_seconds": stored - began,
        "index_seconds": finished - stored,  # embedding + both indexes built and saved
        "embed_seconds": embedder.seconds,
        "passages_embedded": float(report.embedded),
        "embedding_passages_per_second": report.embedded / embedder.seconds if embedder.seconds else 0.0,
    }
    return timing, dict(outcomes)


def _contents(kb: KnowledgeBase) -> tuple[dict[int, list[str]], dict[int, list[int]]]:
    with kb.sessions() as session:
        rows = session.execute(
            select(Content.id, Content.canonical_url).join(Site)
            .where(Site.name == SITE_NAME, Content.status == "live").order_by(Content.id)
        ).all()
        docs_of = {cid: [doc_id_of(url)] for cid, url in rows}
        for cid, url in session.execute(select(ContentAlias.content_id, ContentAlias.url).order_by(ContentAlias.id)):
            if cid in docs_of and url.startswith("beir://"):
                docs_of[cid].append(doc_id_of(url))
        passages_of: dict[int, list[int]] = {cid: [] for cid in docs_of}
        for pid, cid in session.execute(select(Passage.id, Passage.content_id)):
            if cid in passages_of:
                passages_of[cid].append(pid)
    return docs_of, passages_of


# -- queries ---------------------------------------------------------------------------------------
def judged_queries(dataset: BeirDataset, split: str, limit: int | None = None) -> tuple[list[tuple[str, str]], Qrels]:
    """Queries of ``split`` with at least one positive judgement, in the queries file's order."""
    qrels = dataset.qrels(split)
    queries = [(qid, text) for qid, text in dataset.queries().items()
               if text.strip() and any(score > 0 for score in qrels.get(qid, {}).values())]
    if not queries:
        raise ValidationError(f"{dataset.path}: no query of split {split!r} has a positive judgement")
    return (queries[:limit] if limit else queries), qrels


def search_settings(settings: Settings) -> dict[str, Any]:
    cfg = settings.search
    return {"fusion": cfg.fusion, "rrf_k": cfg.rrf_k, "dense_weight": cfg.dense_weight, "candidates": cfg.candidates}
