"""``kb bench search``: query latency, throughput, index build time and memory at a given corpus size.

A temporary knowledge base is filled with passages of real text (a BEIR ``corpus.jsonl``: title and text,
split into ~170-word passages, three documents to a content item so items hold a few passages like real
pages, whose sections carry the document titles as headings). ``real`` of them are stored through
:func:`kb.content.store_page` and embedded by the knowledge base's own embedder (the normal
``embed_pending`` path), which gives passages embedded per second. Embedding 100k passages would take
over an hour on this machine, so the rest are **synthetic** and reported as such: copies of the real
content items whose passage vectors are the real vectors plus Gaussian noise (sigma 0.02 per component,
re-normalised; cosine ~0.93 to the original) and whose texts are the real texts with ~10% of the words
dropped, ~5% replaced by words of another passage and ~10% of neighbouring words swapped (a pure shuffle
would leave BM25's bags of words identical). They are bulk-inserted with their vectors and the embedder's
model name, so the index takes them as they are.

Then ``refresh_index(rebuild=True)`` is timed (the keyword part separately, around the knowledge base's
own keyword rebuild; dense is the rest: reading the vectors, adding them, saving), and every query is
timed around ``KnowledgeBase.search(q, k=10)``: query embedding, dense and BM25 retrieval, fusion,
grouping, snippets and confidence, in process, model warm. A sample of queries is also timed part by
part. For an HNSW index, recall@10 (and @candidates) of the dense ranking against exact search on the
same vectors is measured after the memory figures are taken.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from kb import embedding as embedding_module
from kb import indexing
from kb.content import PageRecord, PassageInput, store_page
from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.index import DenseIndex
from kb.keyword_index import KeywordIndex
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Passage, Site, utcnow
from kb.search import clean_query
from kb.settings import Settings

DEFAULT_BEIR_DIR = Path("/work/shared/data/beir/scifact")
PASSAGE_WORDS = 170
DOCS_PER_CONTENT = 3
DEFAULT_REAL = 3000
SIGMA = 0.02
INSERT_BATCH = 5000
KINDS = ("blog", "page", "case_study")
BASE_URL = "https://bench.invalid/"
# The targets at 100k passages, recorded beside the figures, never enforced.
TARGETS = {"p50_ms": 25.0, "p99_ms": 100.0, "peak_rss_mib": 1536.0}
ProgressFn = Callable[[str], None]


@dataclass
class BenchPage:
    """One content item: a title and its passages as ``(heading_path, text)``."""

    title: str
    sections: list[tuple[tuple[str, ...], str]]


# -- inputs ----------------------------------------------------------------------------------------------
def read_corpus(path: Path) -> list[tuple[str, str]]:
    """``(title, text)`` of every document of a BEIR ``corpus.jsonl`` (empty documents skipped)."""
    docs = []
    for row in _jsonl(path):
        title, text = " ".join(str(row.get("title") or "").split()), " ".join(str(row.get("text") or "").split())
        if title or text:
            docs.append((title, text))
    if not docs:
        raise ValidationError(f"{path}: no documents")
    return docs


def read_queries(path: Path) -> list[str]:
    """The ``text`` of every line of a BEIR ``queries.jsonl``; a plain text file gives one query a line."""
    queries = []
    if path.suffix == ".jsonl":
        queries = [" ".join(str(row.get("text") or "").split()) for row in _jsonl(path)]
    else:
        queries = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    queries = [q for q in queries if q]
    if not queries:
        raise ValidationError(f"{path}: no queries")
    return queries


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValidationError(f"{path}:{number}: not JSON ({exc})") from None
            if isinstance(row, dict):
                yield row


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


# -- measuring ----------------------------------------------------------------------------------------------
class TimedEmbedder:
    """Wraps an embedder and adds up the time spent embedding passages (queries pass straight through)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.texts = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        began = time.perf_counter()
        vectors = self.inner.embed_passages(texts)
        self.seconds += time.perf_counter() - began
        self.texts += len(texts)
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


class _BenchKnowledgeBase(KnowledgeBase):
    """The knowledge base, timing its keyword rebuild (read texts, analyse, BM25 matrix, save)."""

    keyword_seconds = 0.0

    def _rebuild_keyword(self, dense: DenseIndex) -> KeywordIndex:
        began = time.perf_counter()
        try:
            return super()._rebuild_keyword(dense)
        finally:
            self.keyword_seconds += time.perf_counter() - began


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def _current_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _ms(values: Sequence[float]) -> dict[str, float]:
    data = np.asarray(values, dtype=np.float64) * 1000
    return {
        "p50": round(float(np.percentile(data, 50)), 2),
        "p95": round(float(np.percentile(data, 95)), 2),
        "p99": round(float(np.percentile(data, 99)), 2),
        "mean": round(float(data.mean()), 2),
        "max": round(float(data.max()), 2),
    }


# -- filling the knowledge base ----------------------------------------------------------------------------
def _store_real(kb: KnowledgeBase, site_id: int, pages: list[BenchPage]) -> list[int]:
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


def _real_vectors(kb: KnowledgeBase, content_ids: list[int], pages: list[BenchPage], dimension: int) -> np.ndarray:
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


def _insert_synthetic(kb: KnowledgeBase, site_id: int, pages: list[BenchPage], vectors: np.ndarray, count: int,
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


# -- the benchmark ------------------------------------------------------------------------------------------
def bench_search(
    settings: Settings,
    *,
    passages: int = 100_000,
    corpus: Path | None = None,
    queries: Path | None = None,
    real: int | None = None,
    hnsw_threshold: int | None = None,
    query_count: int = 300,
    warmup: int = 20,
    breakdown_queries: int = 100,
    recall_queries: int = 200,
    k: int = 10,
    sigma: float = SIGMA,
    seed: int = 0,
    sqlite_analyze: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Build a temporary knowledge base of ``passages`` passages and measure search on it (module docstring).

    ``sqlite_analyze`` runs SQLite's ``ANALYZE`` after the build: without statistics SQLite drives the
    grouping query (passages by id, joined to live contents) from the ``contents.status`` index, i.e.
    through every content item, which dominates search time at 10k passages and above."""
    say = progress or (lambda _message: None)
    if passages < 1 or query_count < 1 or warmup < 0 or k < 1:
        raise ValidationError("passages, query count and k must be positive, warm-up not negative")
    corpus = corpus or DEFAULT_BEIR_DIR / "corpus.jsonl"
    if queries is None:  # the corpus's own BEIR queries when it has them
        queries = corpus.parent / "queries.jsonl"
        if not queries.is_file():
            queries = DEFAULT_BEIR_DIR / "queries.jsonl"
    query_texts = read_queries(queries)
    rng = np.random.default_rng(seed)
    docs = read_corpus(corpus)
    order = rng.permutation(len(docs))  # the real sample spans the corpus, not its first documents
    docs = [docs[int(i)] for i in order]
    wanted_real = min(passages, DEFAULT_REAL if real is None else real)
    if wanted_real < 1:
        raise ValidationError("--real must be at least 1")
    pages = make_pages(docs, wanted_real)
    real_count = sum(len(p.sections) for p in pages)  # fewer than wanted when the corpus is smaller
    load_before = _load_average()
    rss = {"start": _peak_rss_mib()}

    began = time.perf_counter()
    inner = embedding_module.load_embedder(settings.embedding, settings.instance_dir / "models")
    embedder_load_s = time.perf_counter() - began
    timed = TimedEmbedder(inner)
    rss["after_embedder_load"] = _peak_rss_mib()

    with tempfile.TemporaryDirectory(prefix="kb-bench-search-") as tmp:
        search_settings = settings.search
        if hnsw_threshold is not None:
            search_settings = replace(search_settings, hnsw_threshold=hnsw_threshold)
        bench_settings = replace(settings, instance_path=tmp, database=replace(settings.database, url=""),
                                 search=search_settings, sites=[])
        kb = _BenchKnowledgeBase(bench_settings, embedder=timed)
        try:
            with kb.transaction() as session:
                site = Site(name="bench", base_url=BASE_URL)
                session.add(site)
                session.flush()
                site_id = site.id

            say(f"storing {real_count} real passages in {len(pages)} content items and embedding them "
                f"({inner.model_name})")
            began = time.perf_counter()
            content_ids = _store_real(kb, site_id, pages)
            store_s = time.perf_counter() - began
            began = time.perf_counter()
            embedded = indexing.embed_pending(kb.sessions, timed)
            embed_s = time.perf_counter() - began
            vectors = _real_vectors(kb, content_ids, pages, timed.dimension)

            synthetic = passages - real_count
            synthetic_items = 0
            began = time.perf_counter()
            if synthetic > 0:
                say(f"inserting {synthetic} synthetic passages")
                synthetic_items = _insert_synthetic(kb, site_id, pages, vectors, synthetic, timed.model_name,
                                                    rng, sigma)
            insert_s = time.perf_counter() - began
            del vectors
            rss["before_build"] = _peak_rss_mib()
            rss_now = {"before_build": _current_rss_mib()}

            say("building both indexes (refresh_index(rebuild=True))")
            kb.keyword_seconds = 0.0
            began = time.perf_counter()
            report = kb.refresh_index(rebuild=True)
            refresh_s = time.perf_counter() - began
            keyword_s = kb.keyword_seconds
            dense, keyword = kb.indexes()
            rss["after_build"] = _peak_rss_mib()
            rss_now["after_build"] = _current_rss_mib()
            analyze_s = None
            if sqlite_analyze:
                began = time.perf_counter()
                with kb.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
                analyze_s = round(time.perf_counter() - began, 2)

            say(f"{dense.kind} index of {dense.count} passages; timing {min(query_count, len(query_texts))} "
                f"queries after {warmup} warm-up queries")
            for i in range(warmup):
                kb.search(query_texts[i % len(query_texts)], k=k)
            timed_queries = query_texts[:query_count]
            latencies = []
            stage_times: dict[str, list[float]] = {}
            loop_began = time.perf_counter()
            for query in timed_queries:
                began = time.perf_counter()
                response = kb.search(query, k=k)
                latencies.append(time.perf_counter() - began)
                for stage, ms in response.timings_ms.items():
                    stage_times.setdefault(stage, []).append(ms / 1000)
            loop_s = time.perf_counter() - loop_began

            breakdown, query_vectors = _breakdown(kb, dense, keyword, timed_queries[:breakdown_queries], latencies, k)
            rss["after_queries"] = _peak_rss_mib()
            rss_now["after_queries"] = _current_rss_mib()

            recall = None
            if dense.kind == "hnsw":
                say(f"recall of the HNSW ranking against exact search on {min(recall_queries, len(query_texts))} "
                    "queries")
                recall = _hnsw_recall(kb, dense, query_texts[:recall_queries], k, query_vectors)
        finally:
            kb.close()

    latency = _ms(latencies)
    result: dict[str, Any] = {
        "passages": dense.count,
        "real_embedded": embedded,
        "synthetic": max(synthetic, 0),
        "contents": len(pages) + synthetic_items,
        "passages_per_content": round(dense.count / (len(pages) + synthetic_items), 2),
        "embedder": timed.model_name,
        "embedder_backend": settings.embedding.backend,
        "embedder_class": type(inner).__name__,
        "embedder_threads": getattr(inner, "threads", settings.embedding.threads) or None,
        "embedder_load_s": round(embedder_load_s, 2),
        "index_kind": dense.kind,
        "hnsw_threshold": bench_settings.search.hnsw_threshold,
        "hnsw_ef_search": bench_settings.search.hnsw_ef_search if dense.kind == "hnsw" else None,
        "corpus": str(corpus),
        "queries_file": str(queries),
        "synthetic_method": (f"real vectors + N(0, {sigma}^2) re-normalised; real texts with ~10% words dropped, "
                             "~5% replaced, ~10% neighbours swapped") if synthetic > 0 else None,
        "build": {
            "store_real_s": round(store_s, 2),
            "embed_real_s": round(embed_s, 2),
            "passages_embedded_per_second": round(embedded / embed_s, 1) if embed_s else None,
            "model_passages_per_second": round(timed.texts / timed.seconds, 1) if timed.seconds else None,
            "insert_synthetic_s": round(insert_s, 2),
            "insert_synthetic_passages_per_second": round(synthetic / insert_s) if synthetic > 0 and insert_s else None,
            "refresh_index_s": round(refresh_s, 2),
            "dense_s": round(refresh_s - keyword_s, 2),
            "keyword_s": round(keyword_s, 2),
            "index_rebuilt": report.rebuilt,
            "sqlite_analyze_s": analyze_s,
        },
        "sqlite_analyze": sqlite_analyze,
        "queries": len(latencies),
        "warmup_queries": warmup,
        "k": k,
        "latency_ms": {key: latency[key] for key in ("p50", "p95", "p99", "mean", "max")},
        "qps": round(len(latencies) / loop_s, 1),
        "breakdown_ms": breakdown,
        # Measured inside the timed searches themselves (kb.search's own stage clock), so these add up to
        # each query's latency minus the knowledge base's own overhead (index check, session).
        "stages_ms": {stage: {key: _ms(values)[key] for key in ("p50", "p99", "mean")}
                      for stage, values in stage_times.items()},
        "peak_rss_mib": rss,
        "rss_mib": rss_now,
        "targets": {
            **TARGETS,
            "met": {
                "p50_ms": latency["p50"] <= TARGETS["p50_ms"],
                "p99_ms": latency["p99"] <= TARGETS["p99_ms"],
                "peak_rss_mib": rss["after_queries"] <= TARGETS["peak_rss_mib"],
            },
            "note": "the targets are for 100k passages",
        },
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    if recall is not None:
        result.update(recall)
    return result


def _breakdown(kb: KnowledgeBase, dense: DenseIndex, keyword: KeywordIndex, sample: list[str],
               latencies: list[float], k: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Each part of the first queries timed on its own: the query embedding, the dense and the keyword
    retrieval at the search's depth; ``rest`` (fusion, grouping, snippets, confidence, database) is each
    query's timed search minus its parts. Also returns the query vectors."""
    depth = max(kb.settings.search.candidates, k * 3)
    embedder = kb.embedder
    parts: dict[str, list[float]] = {"embed_query": [], "dense": [], "keyword": [], "rest": []}
    vectors = []
    for query, total in zip(sample, latencies, strict=False):
        query = clean_query(query, kb.settings.web.max_query_chars)
        t0 = time.perf_counter()
        vector = embedder.embed_query(query)
        t1 = time.perf_counter()
        vectors.append(vector)
        dense.search(vector, depth)
        t2 = time.perf_counter()
        keyword.search(query, depth)
        t3 = time.perf_counter()
        parts["embed_query"].append(t1 - t0)
        parts["dense"].append(t2 - t1)
        parts["keyword"].append(t3 - t2)
        parts["rest"].append(max(total - (t3 - t0), 0.0))
    out: dict[str, Any] = {"queries": len(parts["dense"]), "depth": depth}
    for name, values in parts.items():
        if values:
            figures = _ms(values)
            out[name] = {"p50": figures["p50"], "p99": figures["p99"], "mean": figures["mean"]}
    return out, vectors


def _hnsw_recall(kb: KnowledgeBase, dense: DenseIndex, queries: list[str], k: int,
                 known: Sequence[np.ndarray] = ()) -> dict[str, Any]:
    """Recall@k and @candidates of the HNSW ranking against exact inner-product search on the same vectors
    (``known``: the vectors of the first queries, already embedded)."""
    import faiss

    ids = np.sort(dense.ids())
    with kb.sessions() as session:
        vectors = indexing.load_vectors(session, ids, dense.dimension)
    exact = faiss.IndexFlatIP(dense.dimension)
    exact.add(vectors)
    del vectors
    depth = max(kb.settings.search.candidates, k)
    rest = [kb.embedder.embed_query(clean_query(q, kb.settings.web.max_query_chars)) for q in queries[len(known):]]
    query_vectors = np.stack([*known[: len(queries)], *rest]).astype(np.float32)
    _, truth = exact.search(query_vectors, depth)
    at_k, at_depth = [], []
    for vector, row in zip(query_vectors, truth, strict=True):
        found = [pid for pid, _ in dense.search(vector, depth)]
        true_ids = ids[row[row >= 0]]
        at_k.append(len(set(found[:k]) & set(true_ids[:k].tolist())) / min(k, len(true_ids)))
        at_depth.append(len(set(found) & set(true_ids.tolist())) / len(true_ids))
    return {
        f"hnsw_recall@{k}": round(float(np.mean(at_k)), 4),
        f"hnsw_recall@{depth}": round(float(np.mean(at_depth)), 4),
        "hnsw_recall_queries": len(queries),
    }
