"""The clocks and gauges of ``kb bench search``: a knowledge base that times its keyword rebuild,
memory and load figures, latency percentiles, each part of a query timed on its own, and HNSW recall.

Separate from the corpus (:mod:`ingest.bench_search_corpus`) and the run (:mod:`ingest.bench_search`): how a
figure is measured is read here in one place, next to what it includes and leaves out. The embedder that times
itself is :class:`kb.embedding.TimedEmbedder`.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb import indexing
from kb.index import DenseIndex
from kb.keyword_index import KeywordIndex
from kb.knowledge_base import KnowledgeBase
from kb.search import clean_query


class BenchKnowledgeBase(KnowledgeBase):
    """The knowledge base, timing its keyword rebuild (read texts, analyse, BM25 matrix, save)."""

    keyword_seconds = 0.0

    def _rebuild_keyword(self, dense: DenseIndex) -> KeywordIndex:
        began = time.perf_counter()
        try:
            return super()._rebuild_keyword(dense)
        finally:
            self.keyword_seconds += time.perf_counter() - began


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def current_rss_mib() -> float | None:
    """The process's resident memory now, in MiB (None when /proc/self/status cannot tell)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """The machine's 1/5/15-minute load, recorded beside the figures (other work skews them)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def ms_figures(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99, mean and max of ``values`` (seconds), in milliseconds."""
    data = np.asarray(values, dtype=np.float64) * 1000
    return {
        "p50": round(float(np.percentile(data, 50)), 2),
        "p95": round(float(np.percentile(data, 95)), 2),
        "p99": round(float(np.percentile(data, 99)), 2),
        "mean": round(float(data.mean()), 2),
        "max": round(float(data.max()), 2),
    }



def time_parts(kb: KnowledgeBase, dense: DenseIndex, keyword: KeywordIndex, sample: list[str],
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
            figures = ms_figures(values)
            out[name] = {"p50": figures["p50"], "p99": figures["p99"], "mean": figures["mean"]}
    return out, vectors


def hnsw_recall(kb: KnowledgeBase, dense: DenseIndex, queries: list[str], k: int,
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
