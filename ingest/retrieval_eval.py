"""Retrieval quality and answer-confidence calibration on a BEIR benchmark.

The corpus goes in exactly like crawled content (one Site ``beir``, one Content per document under
``beir://<dataset>/<doc id>``, passages from :func:`ingest.chunking.chunk_sections`, stored by
:func:`kb.content.store_page` in transactions, then ``refresh_index``), so the figures measure the
product's own chunking, embedding, indexes, fusion and grouping rather than a bespoke pipeline.

Metrics are the ones BEIR reports through pytrec_eval: nDCG@10 with the qrels score as a linear gain
and a log2 discount, the ideal ranking taken from the qrels; Recall@k and MRR@10 count a document
as relevant when its score is above 0. Queries without a positive judgement are not scored.

A ``workdir`` keeps the ingested knowledge base; a stamp (corpus sha256, chunking settings, model)
says whether it can be reused, so fusion variants are compared without re-embedding.
"""

from __future__ import annotations

import fcntl
import json
import math
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
from sqlalchemy import select

from ingest.beir import BeirDataset, BeirDocument, Qrels, file_sha256
from ingest.chunking import chunk_sections
from ingest.extract import Section
from ingest.pipeline import content_hash
from kb import embedding
from kb.confidence import FEATURES, ConfidenceModel, fit_logistic
from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, ContentAlias, Passage, Site
from kb.search import Retrievers, SearchResponse, clean_query
from kb.search import search as run_search
from kb.settings import ChunkingSettings, Settings, SiteSettings, with_overrides
from kb.sites import add_site

Progress = Callable[[str], None]
MODES = ("dense", "bm25", "hybrid")
SEARCH_K = 100  # results per query: enough for Recall@100 (the product's max_k)
SITE_NAME = "beir"
SITE_URL = "https://beir.invalid/"  # sites need an http(s) base URL; .invalid never resolves
STAMP_FILE = "beir-stamp.json"
LOCK_FILE = ".lock"
STAMP_FORMAT = 1
BATCH_DOCUMENTS = 500  # documents stored per transaction


# -- metrics -------------------------------------------------------------------------------------
def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (the qrels score) and a log2 discount; 0 when nothing is relevant."""
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k])
              if judged.get(doc, 0) > 0)
    ideal = sorted((gain for gain in judged.values() if gain > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {doc for doc, gain in judged.items() if gain > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def query_metrics(ranking: Sequence[str], judged: Mapping[str, int]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at_k(ranking, judged, 10),
        "recall@10": recall_at_k(ranking, judged, 10),
        "recall@100": recall_at_k(ranking, judged, 100),
        "mrr@10": mrr_at_k(ranking, judged, 10),
    }


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else 0.0


# -- the corpus as a knowledge base ----------------------------------------------------------------
class TimedEmbedder:
    """Wraps the configured embedder to measure passage-embedding time; everything else passes through."""

    def __init__(self, inner: embedding.Embedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.passages = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        began = time.perf_counter()
        vectors = self.inner.embed_passages(texts)
        self.seconds += time.perf_counter() - began
        self.passages += len(texts)
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


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
    embedder = TimedEmbedder(embedding.load_embedder(settings.embedding))
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


def _ingest(kb: KnowledgeBase, dataset: BeirDataset, embedder: TimedEmbedder,
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


# -- retrieval evaluation ------------------------------------------------------------------------
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


def evaluate_retrieval(
    data_dir: Path,
    settings: Settings,
    *,
    split: str = "test",
    modes: Sequence[str] = MODES,
    limit_queries: int | None = None,
    workdir: Path | None = None,
    search: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest (or reuse) the corpus, run every judged query in each mode and average the metrics."""
    dataset = BeirDataset(Path(data_dir))
    dataset.check(split)
    queries, qrels = judged_queries(dataset, split, limit_queries)
    with open_corpus(dataset, settings, workdir=workdir, search=search, progress=progress) as corpus:
        kb = corpus.kb
        kb.indexes()  # loaded (or rebuilt) before any query is timed
        results: dict[str, dict[str, float]] = {}
        query_ms: dict[str, dict[str, float]] = {}
        for mode in modes:
            kb.search(queries[0][1], k=SEARCH_K, mode=mode)  # warm-up: first-call costs are not query time
            totals: Counter[str] = Counter()
            times: list[float] = []
            for qid, text in queries:
                began = time.perf_counter()
                response = kb.search(text, k=SEARCH_K, mode=mode)
                times.append((time.perf_counter() - began) * 1000)
                totals.update(query_metrics(corpus.ranked_docs(response), qrels[qid]))
            results[mode] = {name: round(totals[name] / len(queries), 4)
                             for name in ("ndcg@10", "recall@10", "recall@100", "mrr@10")}
            query_ms[mode] = {"mean": round(float(np.mean(times)), 2), "p50": round(percentile(times, 50), 2),
                              "p95": round(percentile(times, 95), 2)}
            if progress:
                progress(f"{mode}: nDCG@10 {results[mode]['ndcg@10']:.4f}")
        embedder = kb.embedder
        return {
            "dataset": dataset.name,
            "split": split,
            "queries": len(queries),
            "documents": corpus.documents,
            "passages": corpus.passages,
            "ingested": corpus.ingested,
            "modes": results,
            "timing": {
                "ingested": corpus.ingested,
                **{name: round(value, 2) for name, value in corpus.timing.items()},
                "query_ms": query_ms,
            },
            "settings": {
                **search_settings(kb.settings),
                "k": SEARCH_K,
                "model": embedder.model_name,
                "backend": type(getattr(embedder, "inner", embedder)).__name__,
                "max_words": kb.settings.chunking.max_words,
                "overlap_words": kb.settings.chunking.overlap_words,
            },
            "store_outcomes": corpus.outcomes,
        }


# -- confidence calibration ----------------------------------------------------------------------
class _Restricted:
    """An index seen through an allow-list of passage ids: how a gap query is run with its answers absent."""

    def __init__(self, index: Any, allowed: np.ndarray) -> None:
        self.index, self.allowed = index, allowed

    def search(self, query: Any, k: int, *, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        keep = self.allowed if allowed is None else np.intersect1d(allowed, self.allowed)
        return self.index.search(query, k, allowed=keep)


def search_without(kb: KnowledgeBase, query: str, excluded_passages: Sequence[int], *, k: int = 10) -> SearchResponse:
    """A hybrid search as ``kb.search`` runs it, as if the passages ``excluded_passages`` did not exist."""
    dense, keyword = kb.indexes()
    allowed = np.setdiff1d(dense.ids(), np.asarray(excluded_passages, dtype=np.int64))
    retrievers = Retrievers(kb.embedder, _Restricted(dense, allowed), _Restricted(keyword, allowed),  # type: ignore[arg-type]
                            kb.confidence_model, kb.settings.search)
    with kb.sessions() as session:
        return run_search(session, retrievers, clean_query(query, kb.settings.web.max_query_chars),
                          k=k, mode="hybrid")


@dataclass
class Labelled:
    rows: list[dict[str, float]]
    labels: list[int]
    answerable: int = 0
    answerable_top1_relevant: int = 0
    gaps: int = 0


def label_queries(corpus: Corpus, queries: Sequence[tuple[str, str]], qrels: Qrels, seed: int) -> Labelled:
    """Half the queries (seeded) as asked: label 1 when the top hit is relevant; the other half with
    their relevant documents removed (gaps): label 0. Features are the search's own."""
    order = [qid for qid, _ in queries]
    random.Random(seed).shuffle(order)
    gaps = set(order[len(order) - len(order) // 2:])
    content_of = corpus.content_of()
    out = Labelled([], [])
    for qid, text in queries:
        judged = qrels[qid]
        if qid in gaps:
            contents = {content_of[doc] for doc, score in judged.items() if score > 0 and doc in content_of}
            excluded = [pid for cid in contents for pid in corpus.passages_of.get(cid, ())]
            response = search_without(corpus.kb, text, excluded)
            label = 0
            out.gaps += 1
        else:
            response = corpus.kb.search(text, k=10, mode="hybrid")
            top = corpus.docs_of.get(response.hits[0].content_id, []) if response.hits else []
            label = int(any(judged.get(doc, 0) > 0 for doc in top))
            out.answerable += 1
            out.answerable_top1_relevant += label
        out.rows.append({name: float(response.features.get(name, 0.0)) for name in FEATURES})
        out.labels.append(label)
    return out


def binary_metrics(probs: Sequence[float], labels: Sequence[int], threshold: float, bins: int = 10) -> dict[str, float]:
    """Log-loss, Brier, ECE (equal-width bins) and the answered/gap decision at ``threshold``
    (answered when confidence >= threshold)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, dtype=np.float64)
    if len(p) == 0:
        return {}
    which = np.minimum((p * bins).astype(int), bins - 1)
    ece = sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).sum() for b in range(bins)
              if (which == b).any()) / len(p)
    answered = p >= threshold
    return {
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(ece),
        "accuracy": float(np.mean(answered == (y == 1))),
        "f1_answered": _f1(answered, y == 1),
        "f1_gap": _f1(~answered, y == 0),
        "positive_rate": float(y.mean()),
        "count": float(len(p)),
    }


def _f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    tp = float(np.sum(predicted & actual))
    denominator = float(np.sum(predicted) + np.sum(actual))
    return 2 * tp / denominator if denominator else 0.0


def best_threshold(probs: Sequence[float], labels: Sequence[int]) -> float:
    """The threshold (a midpoint between observed confidences) with the best F1 of "answered"
    (confidence >= threshold) on the fitting data; ties go to the higher threshold."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels) == 1
    values = np.unique(p)
    if len(values) == 0:
        return 0.5
    candidates = np.concatenate([[values[0] / 2], (values[:-1] + values[1:]) / 2, [(values[-1] + 1) / 2]])
    scores = [_f1(p >= t, y) for t in candidates]
    best = max(scores)
    return float(max(t for t, s in zip(candidates, scores, strict=True) if s == best))


def _round(metrics: Mapping[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}


def calibrate(
    data_dir: Path,
    settings: Settings,
    *,
    split: str = "train",
    workdir: Path | None = None,
    seed: int = 13,
    limit_queries: int | None = None,
    command: str = "kb eval calibrate",
    progress: Progress | None = None,
) -> tuple[ConfidenceModel, dict[str, Any]]:
    """Fit the confidence model on ``split`` (or half of test when the dataset has no such split)
    and measure it on held-out queries."""
    dataset = BeirDataset(Path(data_dir))
    dataset.check()
    fit_split = split if dataset.has_split(split) else "test"
    dataset.check(fit_split)
    fit_queries, fit_qrels = judged_queries(dataset, fit_split, limit_queries)
    if fit_split != "test" and dataset.has_split("test"):
        eval_queries, eval_qrels = judged_queries(dataset, "test", limit_queries)
        protocol = f"fitted on the {fit_split} queries, evaluated on the test queries"
    else:
        shuffled = list(fit_queries)
        random.Random(seed).shuffle(shuffled)
        half = len(shuffled) // 2
        fit_queries, eval_queries, eval_qrels = shuffled[:half], shuffled[half:], fit_qrels
        reason = "" if fit_split == split else f" (no {split} split)"
        protocol = (f"seeded 50/50 split (seed {seed}) of the {fit_split} queries{reason}: "
                    "fitted on one half, evaluated on the other")
    with open_corpus(dataset, settings, workdir=workdir, progress=progress) as corpus:
        if progress:
            progress(f"labelling {len(fit_queries)} fitting and {len(eval_queries)} held-out queries")
        fit = label_queries(corpus, fit_queries, fit_qrels, seed)
        held = label_queries(corpus, eval_queries, eval_qrels, seed + 1)
        search_cfg = search_settings(corpus.kb.settings)
        ingested = corpus.ingested
    weights, bias = fit_logistic(fit.rows, fit.labels)
    fitted = ConfidenceModel(weights=weights, bias=bias)
    fit_probs = [fitted.predict(row) for row in fit.rows]
    threshold = best_threshold(fit_probs, fit.labels)
    held_metrics = binary_metrics([fitted.predict(row) for row in held.rows], held.labels, threshold)
    shipped = ConfidenceModel.load(None)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    model = ConfidenceModel(
        weights={name: round(value, 6) for name, value in weights.items()},
        bias=round(bias, 6),
        source=(f"`{command}` on BEIR {dataset.name} ({protocol}; {len(fit.labels)} fitting / "
                f"{len(held.labels)} held-out queries, half of each as gaps, seed {seed}; "
                f"search {search_cfg['fusion']} rrf_k={search_cfg['rrf_k']} "
                f"dense_weight={search_cfg['dense_weight']}), "
                f"{date}"),
        threshold=round(threshold, 6),
        metrics=_round(held_metrics),
    )

    def part(labelled: Labelled) -> dict[str, int]:
        return {"queries": len(labelled.labels), "answerable": labelled.answerable,
                "answerable_top1_relevant": labelled.answerable_top1_relevant, "gaps": labelled.gaps}

    report = {
        "dataset": dataset.name,
        "fit_split": fit_split,
        "protocol": protocol,
        "seed": seed,
        "ingested": ingested,
        "fit": {**part(fit), "metrics": _round(binary_metrics(fit_probs, fit.labels, threshold))},
        "held_out": {**part(held), "metrics": _round(held_metrics)},
        "shipped_model_held_out": {
            "source": shipped.source,
            "metrics": _round(binary_metrics([shipped.predict(r) for r in held.rows], held.labels, shipped.threshold)),
        },
        "model": asdict(model),
    }
    return model, report
