"""Fitting the answer-confidence model (``kb eval calibrate``) on a BEIR set with held-out answers.

Fitting data: the queries of the fitting split searched twice, once with a seeded half of them made gaps
(their relevant documents held out, :mod:`ingest.gap_labels`) and once with the other half made gaps, so
every query is seen both with and without its answers and the model learns what a missing answer does to
the same query's signals (measured on SciFact: slightly better than one half alone, and the threshold is
chosen on twice the data). The label is the decision's truth, "the knowledge base holds an answer" (not
"the first hit is relevant"): measured, both give the same gap F1 within noise, and this one is what the
threshold decides.

Only :data:`kb.confidence.MODEL_FEATURES` are fitted (the other signals a search records are written with
weight 0; why these, in :mod:`kb.confidence`). The threshold is the one that maximises the mean of the gap
and answered F1s on the fitting data (:func:`ingest.decision_metrics.balanced_threshold`, which says why
not the gap F1 alone); the same is done for the single-cosine baseline (``dense_top``) so that
``kb eval gaps`` can apply both, chosen on SciFact, to other sets. Held-out figures come from the test
split (or, without a separate fitting split, from the other half of a seeded 50/50 split of the queries).
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.beir import BeirDataset
from ingest.beir_corpus import Progress, judged_queries, open_corpus, search_settings
from ingest.decision_metrics import balanced_threshold, binary_metrics, gap_decision, rounded
from ingest.gap_labels import Observation, gap_half, label_both_halves, label_queries
from kb.confidence import FEATURES, MODEL_FEATURES, ConfidenceModel, fit_logistic
from kb.settings import Settings

BASELINE_THRESHOLD = "dense_top_threshold"  # key in the model's metrics: the cosine baseline's fitted threshold


def fit_confidence(observations: list[Observation]) -> tuple[dict[str, float], float]:
    """Logistic weights and bias of "the knowledge base holds an answer" from the searches' features: every
    signal in :data:`~kb.confidence.FEATURES`, those outside :data:`~kb.confidence.MODEL_FEATURES` at 0."""
    weights, bias = fit_logistic([o.features for o in observations], [int(not o.gap) for o in observations],
                                 features=MODEL_FEATURES)
    return {name: weights.get(name, 0.0) for name in FEATURES}, bias


def decision_quality(probs: list[float], observations: list[Observation], threshold: float) -> dict[str, float]:
    """Probability quality (log-loss, Brier, ECE) and the gap decision (precision, recall, F1) at ``threshold``."""
    gaps = [o.gap for o in observations]
    decision = gap_decision(probs, gaps, threshold)
    return {**binary_metrics(probs, [int(not g) for g in gaps], threshold),
            "precision_gap": decision["precision"], "recall_gap": decision["recall"]}


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
            progress(f"labelling {len(fit_queries)} fitting queries (twice) and {len(eval_queries)} held-out queries")
        fitting = label_both_halves(corpus, fit_queries, fit_qrels, seed)
        held = label_queries(corpus, eval_queries, eval_qrels, gap_half([qid for qid, _ in eval_queries], seed))
        search_cfg = search_settings(corpus.kb.settings)
        ingested = corpus.ingested
    fit = fitting.observations
    weights, bias = fit_confidence(fit)
    fitted = ConfidenceModel(weights=weights, bias=bias)
    fit_probs = [fitted.predict(o.features) for o in fit]
    threshold = balanced_threshold(fit_probs, [o.gap for o in fit])
    cosine_threshold = balanced_threshold([o.dense_top for o in fit], [o.gap for o in fit])
    held_probs = [fitted.predict(o.features) for o in held.observations]
    held_metrics = decision_quality(held_probs, held.observations, threshold)
    shipped = ConfidenceModel.load(None)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    model = ConfidenceModel(
        weights={name: round(value, 6) for name, value in weights.items()},
        bias=round(bias, 6),
        source=(f"`{command}` on BEIR {dataset.name} ({protocol}; {len(fit_queries)} fitting queries searched "
                f"twice, each half of them made gaps in turn, {len(held.observations)} held-out queries, half "
                f"made gaps; seed {seed}; features {', '.join(MODEL_FEATURES)}; threshold maximises the mean of the "
                f"gap and answered F1s on the fitting searches; search "
                f"{search_cfg['fusion']} rrf_k={search_cfg['rrf_k']} dense_weight={search_cfg['dense_weight']}), "
                f"{date}"),
        threshold=round(threshold, 6),
        metrics={**rounded(held_metrics), BASELINE_THRESHOLD: round(cosine_threshold, 6)},
    )
    shipped_probs = [shipped.predict(o.features) for o in held.observations]
    report = {
        "dataset": dataset.name,
        "fit_split": fit_split,
        "protocol": protocol,
        "seed": seed,
        "ingested": ingested,
        "fit": {**fitting.summary(), "queries": len(fit_queries), "searches": len(fit),
                "metrics": rounded(decision_quality(fit_probs, fit, threshold))},
        "held_out": {**held.summary(), "metrics": rounded(held_metrics)},
        "shipped_model_held_out": {
            "source": shipped.source,
            "metrics": rounded(decision_quality(shipped_probs, held.observations, shipped.threshold)),
        },
        "dense_top_threshold": round(cosine_threshold, 6),
        "model": asdict(model),
    }
    return model, report

