"""``kb bench search``: query latency, throughput, index build time and memory at a given corpus size.

A temporary knowledge base is filled with ``passages`` passages (:mod:`ingest.bench_search_corpus`: ``real`` of them
BEIR text stored and embedded the normal way, which gives passages embedded per second; the rest synthetic,
reported as such). Then ``refresh_index(rebuild=True)`` is timed (the keyword part separately, around the
knowledge base's own keyword rebuild; dense is the rest: reading the vectors, adding them, saving), and
every query is timed around ``KnowledgeBase.search(q, k=10)``: query embedding, dense and BM25 retrieval,
fusion, grouping, snippets and confidence, in process, model warm. A sample of queries is also timed part by
part. For an HNSW index, recall@10 (and @candidates) of the dense ranking against exact search on the
same vectors is measured after the memory figures are taken. How each figure is taken is
:mod:`ingest.bench_search_timing`; this module runs the steps in order and writes the report.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.bench_search_corpus import (
    BASE_URL,
    DEFAULT_BEIR_DIR,
    SIGMA,
    insert_synthetic,
    make_pages,
    read_corpus,
    read_queries,
    real_vectors,
    store_real,
)
from ingest.bench_search_timing import (
    BenchKnowledgeBase,
    current_rss_mib,
    hnsw_recall,
    load_average,
    ms_figures,
    peak_rss_mib,
    time_parts,
)
from kb import embedding as embedding_module
from kb import indexing
from kb.embedding import TimedEmbedder
from kb.errors import ValidationError
from kb.models import Site
from kb.settings import Settings

DEFAULT_REAL = 3000
# The targets at 100k passages, recorded beside the figures, never enforced.
TARGETS = {"p50_ms": 25.0, "p99_ms": 100.0, "peak_rss_mib": 1536.0}
ProgressFn = Callable[[str], None]


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
    load_before = load_average()
    rss = {"start": peak_rss_mib()}

    began = time.perf_counter()
    inner = embedding_module.load_embedder(settings.embedding, settings.instance_dir / "models")
    embedder_load_s = time.perf_counter() - began
    timed = TimedEmbedder(inner)
    rss["after_embedder_load"] = peak_rss_mib()

    with tempfile.TemporaryDirectory(prefix="kb-bench-search-") as tmp:
        search_settings = settings.search
        if hnsw_threshold is not None:
            search_settings = replace(search_settings, hnsw_threshold=hnsw_threshold)
        bench_settings = replace(settings, instance_path=tmp, database=replace(settings.database, url=""),
                                 search=search_settings, sites=[])
        kb = BenchKnowledgeBase(bench_settings, embedder=timed)
        try:
            with kb.transaction() as session:
                site = Site(name="bench", base_url=BASE_URL)
                session.add(site)
                session.flush()
                site_id = site.id

            say(f"storing {real_count} real passages in {len(pages)} content items and embedding them "
                f"({inner.model_name})")
            began = time.perf_counter()
            content_ids = store_real(kb, site_id, pages)
            store_s = time.perf_counter() - began
            began = time.perf_counter()
            embedded = indexing.embed_pending(kb.sessions, timed)
            embed_s = time.perf_counter() - began
            vectors = real_vectors(kb, content_ids, pages, timed.dimension)

            synthetic = passages - real_count
            synthetic_items = 0
            began = time.perf_counter()
            if synthetic > 0:
                say(f"inserting {synthetic} synthetic passages")
                synthetic_items = insert_synthetic(kb, site_id, pages, vectors, synthetic, timed.model_name,
                                                    rng, sigma)
            insert_s = time.perf_counter() - began
            del vectors
            rss["before_build"] = peak_rss_mib()
            rss_now = {"before_build": current_rss_mib()}

            say("building both indexes (refresh_index(rebuild=True))")
            kb.keyword_seconds = 0.0
            began = time.perf_counter()
            report = kb.refresh_index(rebuild=True)
            refresh_s = time.perf_counter() - began
            keyword_s = kb.keyword_seconds
            dense, keyword = kb.indexes()
            rss["after_build"] = peak_rss_mib()
            rss_now["after_build"] = current_rss_mib()
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

            breakdown, query_vectors = time_parts(kb, dense, keyword, timed_queries[:breakdown_queries], latencies, k)
            rss["after_queries"] = peak_rss_mib()
            rss_now["after_queries"] = current_rss_mib()

            recall = None
            if dense.kind == "hnsw":
                say(f"recall of the HNSW ranking against exact search on {min(recall_queries, len(query_texts))} "
                    "queries")
                recall = hnsw_recall(kb, dense, query_texts[:recall_queries], k, query_vectors)
        finally:
            kb.close()

    latency = ms_figures(latencies)
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
        "stages_ms": {stage: {key: ms_figures(values)[key] for key in ("p50", "p99", "mean")}
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
        "load_average_after": load_average(),
    }
    if recall is not None:
        result.update(recall)
    return result

