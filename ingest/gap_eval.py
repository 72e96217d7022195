"""``kb eval gaps``: how well the answered-or-gap decision finds the questions nothing answers.

Protocol (the issue's): a seeded random half of the scored queries become gaps, their relevant documents
held out of the knowledge base; every query is searched in what is left (:mod:`ingest.gap_labels`). Truth:
a query is a gap when none of its relevant documents is left. The decision is the product's
(:func:`kb.thresholds.decide`): gap when the search's confidence is below the threshold. Gap is the
positive class of precision, recall and F1.

Reported, each as precision / recall / F1 (with a bootstrap 95% interval of F1):

- the model at its shipped threshold (``questions.answer_threshold`` when set, else the one in
  ``calibration.json``, chosen on SciFact train): on another dataset this is the honest transfer figure;
- the model at the threshold chosen on the fitting split (when the dataset has one besides the scored
  split, e.g. SciFact train) the way ``kb eval calibrate`` chooses it (the best mean of the gap and
  answered F1s, :func:`ingest.decision_metrics.balanced_threshold`), and at the threshold that maximises
  the gap F1 on the scored queries themselves (optimistic: chosen on the data it is scored on, for the
  very figure reported; the ceiling of any threshold);
- the baselines: "always gap", and a single threshold on the best passage's cosine (``dense_top``) chosen
  the same three ways (the shipped one is the cosine threshold fitted with the model on SciFact train).

An answerable query whose first hit is not relevant counts as answerable (the knowledge base does hold
its answer, further down the list); how many of the answerable queries decided "answered" had a relevant
first hit is reported as ``answered_top1_relevant``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.beir import BeirDataset
from ingest.beir_corpus import Progress, judged_queries, open_corpus, search_settings
from ingest.calibration import BASELINE_THRESHOLD
from ingest.decision_metrics import (
    always_gap,
    balanced_threshold,
    best_gap_threshold,
    f1_interval,
    gap_decision,
    rounded,
)
from ingest.gap_labels import Labelled, gap_half, label_both_halves, label_queries
from kb.settings import Settings
from kb.thresholds import answer_threshold


def decision(scores: Sequence[float], gaps: Sequence[bool], threshold: float, chosen_on: str) -> dict[str, Any]:
    """The gap decision at ``threshold`` with its F1 interval and where the threshold came from."""
    low, high = f1_interval(scores, gaps, threshold)
    return {**rounded(gap_decision(scores, gaps, threshold)), "f1_ci95": [round(low, 4), round(high, 4)],
            "chosen_on": chosen_on}


def score_decisions(scored: Labelled, fit: Labelled | None, *, model_threshold: float, model_threshold_source: str,
                    cosine_threshold: float | None) -> dict[str, Any]:
    """Every decision of the report on one labelled split (``fit`` chooses thresholds when given)."""
    gaps = scored.gaps
    confidence = [o.confidence for o in scored.observations]
    cosine = [o.dense_top for o in scored.observations]
    model: dict[str, Any] = {"shipped": decision(confidence, gaps, model_threshold, model_threshold_source)}
    baseline: dict[str, Any] = {}
    if cosine_threshold is not None:
        baseline["shipped"] = decision(cosine, gaps, cosine_threshold, "calibration.json (with the model)")
    if fit is not None:
        model["fit_split"] = decision(confidence, gaps, balanced_threshold([o.confidence for o in fit.observations],
                                                                           fit.gaps), "fitting split")
        baseline["fit_split"] = decision(cosine, gaps, balanced_threshold([o.dense_top for o in fit.observations],
                                                                          fit.gaps), "fitting split")
    model["best"] = decision(confidence, gaps, best_gap_threshold(confidence, gaps), "scored queries (optimistic)")
    baseline["best"] = decision(cosine, gaps, best_gap_threshold(cosine, gaps), "scored queries (optimistic)")
    answered = [o for o in scored.observations if not o.gap and o.confidence >= model_threshold]
    return {
        "model": model,
        "baselines": {"always_gap": {**rounded(always_gap(gaps)), "chosen_on": "-"}, "dense_top": baseline},
        "answered_top1_relevant": {"answered": len(answered), "top1_relevant": sum(o.top1_relevant for o in answered)},
    }


def evaluate_gaps(
    data_dir: Path,
    settings: Settings,
    *,
    split: str = "test",
    fit_split: str | None = "train",
    seed: int = 13,
    workdir: Path | None = None,
    limit_queries: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Label the scored split (half gaps, seeded), choose thresholds on the fitting split when there is one,
    and score the gap decision of the model and the baselines."""
    dataset = BeirDataset(Path(data_dir))
    dataset.check(split)
    queries, qrels = judged_queries(dataset, split, limit_queries)
    has_fit = bool(fit_split) and fit_split != split and dataset.has_split(fit_split or "")
    with open_corpus(dataset, settings, workdir=workdir, progress=progress) as corpus:
        kb = corpus.kb
        if progress:
            progress(f"labelling {len(queries)} {split} queries (half of them gaps, seed {seed})")
        scored = label_queries(corpus, queries, qrels, gap_half([qid for qid, _ in queries], seed))
        fit = None
        if has_fit:
            fit_queries, fit_qrels = judged_queries(dataset, fit_split or "", limit_queries)
            if progress:
                progress(f"labelling {len(fit_queries)} {fit_split} queries (twice) to choose thresholds on")
            fit = label_both_halves(corpus, fit_queries, fit_qrels, seed)
        model = kb.confidence_model
        threshold = answer_threshold(kb.settings.questions, model)
        configured = kb.settings.questions.answer_threshold >= 0
        cosine_threshold = model.metrics.get(BASELINE_THRESHOLD)
        result = score_decisions(
            scored, fit, model_threshold=threshold, cosine_threshold=cosine_threshold,
            model_threshold_source="config questions.answer_threshold" if configured else "calibration.json",
        )
        search_cfg = search_settings(kb.settings)
        ingested = corpus.ingested
    return {
        "dataset": dataset.name,
        "split": split,
        "fit_split": fit_split if has_fit else None,
        "seed": seed,
        "ingested": ingested,
        "protocol": (f"a seeded half (seed {seed}) of the {split} queries made gaps: their relevant documents held "
                     "out, every query searched in what is left; truth gap = no relevant document left; "
                     "decision gap = confidence < threshold; gap is the positive class"),
        "thresholds_chosen_on": (f"the {fit_split} split: each query searched twice, each half of the queries made "
                                 f"gaps in turn (seed {seed}), as `kb eval calibrate` does" if has_fit else
                                 f"no fitting split: 'best' is chosen on the scored {split} queries (optimistic); "
                                 "'shipped' is the SciFact-train threshold (the transfer figure)"),
        "labels": {split: scored.summary(), **({str(fit_split): fit.summary()} if fit is not None else {})},
        "model_source": model.source,
        **result,
        "settings": search_cfg,
    }
