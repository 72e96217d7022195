"""Retrieval quality on a BEIR benchmark: nDCG@10, Recall@10/100 and MRR@10 of the product's search.

The corpus is ingested (or reused) by :mod:`ingest.beir_corpus` exactly like crawled content. Metrics
are the ones BEIR reports through pytrec_eval: nDCG@10 with the qrels score as a linear gain and a log2
discount, the ideal ranking taken from the qrels; Recall@k and MRR@10 count a document as relevant when
its score is above 0. Queries without a positive judgement are not scored.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.beir import BeirDataset
from ingest.beir_corpus import SEARCH_K, Progress, judged_queries, open_corpus, search_settings
from kb.settings import Settings

MODES = ("dense", "bm25", "hybrid")


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
