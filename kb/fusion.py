"""Fusing the dense and keyword rankings of passages into one.

Two methods, chosen by ``search.fusion`` and compared by ``kb eval retrieval``:
- reciprocal rank fusion (RRF): sum of ``weight / (rrf_k + rank)``; needs no score calibration, which
  matters because BM25 scores are unbounded and vary with query length;
- weighted: min-max normalised scores combined as ``w * dense + (1 - w) * keyword``.
"""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[int, float]]  # (passage_id, score), best first


def reciprocal_rank_fusion(
    dense: Ranking, keyword: Ranking, *, rrf_k: int = 60, dense_weight: float = 0.5
) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking, weight in ((dense, dense_weight), (keyword, 1.0 - dense_weight)):
        for rank, (pid, _) in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def weighted_fusion(dense: Ranking, keyword: Ranking, *, dense_weight: float = 0.5) -> list[tuple[int, float]]:
    """Min-max normalise each ranking to [0, 1] and mix; a passage missing from one ranking gets 0 there."""
    scores: dict[int, float] = {}
    for ranking, weight in ((dense, dense_weight), (keyword, 1.0 - dense_weight)):
        for pid, value in _min_max(ranking):
            scores[pid] = scores.get(pid, 0.0) + weight * value
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _min_max(ranking: Ranking) -> list[tuple[int, float]]:
    if not ranking:
        return []
    values = [score for _, score in ranking]
    low, high = min(values), max(values)
    span = high - low
    return [(pid, 1.0 if span == 0 else (score - low) / span) for pid, score in ranking]


def fuse(
    dense: Ranking, keyword: Ranking, *, method: str, rrf_k: int, dense_weight: float
) -> list[tuple[int, float]]:
    if method == "rrf":
        return reciprocal_rank_fusion(dense, keyword, rrf_k=rrf_k, dense_weight=dense_weight)
    if method == "weighted":
        return weighted_fusion(dense, keyword, dense_weight=dense_weight)
    raise ValueError(f"unknown fusion method {method!r}")
