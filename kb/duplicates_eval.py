"""Duplicate-question detection measured on labelled pairs, and the fitting of :class:`DuplicateModel`.

The data is a folder with ``dev.tsv`` and ``test.tsv`` (``label<TAB>question1<TAB>question2<TAB>pair_id``,
label 1 = duplicate), such as the Quora question pairs in Wang et al.'s 2017 split. Everything is
chosen on dev only and then measured once on test:

- **baseline**: one cosine threshold on the sentence embeddings, the threshold with the best F1 on dev;
- **model**: the logistic model of :mod:`kb.duplicates`, its weights fitted on all of dev, its threshold
  the best-F1 one on dev probabilities from 5-fold cross-validation (out-of-fold, so the threshold is not
  tuned on probabilities the model was fitted on), plus the cosine-only fallback fitted on dev.

Word rarity (:class:`kb.duplicates.Idf`) comes from the text of the deployment being scored; here the
"deployment" is the data set, so the IDF is computed from the dev questions (each a document) when the
evaluation runs, for dev and test alike. It is *not* written into the model file: the file holds weights
and thresholds only, and the product takes word rarity from its own stored questions and content
(:func:`kb.topic_matching.deployment_idf`). That also keeps statistics of a data set licensed for
evaluation only (Quora's) out of what ships.

Every distinct question is embedded once with the knowledge base's configured embedder, through
``embed_passages`` (no instruction prefix with this model, and it batches; ``embed_query`` is one text
per call). Malformed lines are reported with their line numbers and skipped instead of stopping the run.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kb.confidence import fit_logistic
from kb.duplicates import (
    FALLBACK_FEATURES,
    FEATURES,
    DuplicateModel,
    Idf,
    QuestionTerms,
    analyse_question,
    pair_features,
)
from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.settings import Settings

SPLITS = ("dev", "test")
FOLDS = 5
SEED = 13
MAX_REPORTED_PROBLEMS = 50

Progress = Callable[[str], None]


# -- reading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledPair:
    label: int
    question1: str
    question2: str
    pair_id: str


@dataclass
class PairFile:
    """The well-formed pairs of one file and a line-numbered note for each malformed line."""

    pairs: list[LabelledPair] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# The split authors tokenized the questions with CoreNLP ("device ?", "do n't", "States ' laws",
# ``quotes''); undo the common cases so the text reads like what a rep types.
_DETOKENIZE = (
    (re.compile(r"``|''"), '"'),
    (re.compile(r" +([?!.,;:%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) +"), r"\1"),
    (re.compile(r" +(n't|'s|'re|'ve|'m|'ll|'d)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"(?<=s) +'(?= |$)"), "'"),
)


def detokenize(text: str) -> str:
    """``text`` with whitespace collapsed and CoreNLP's token spacing undone."""
    text = " ".join(text.split())
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text


def read_pairs(path: Path, *, limit: int | None = None) -> PairFile:
    """The labelled pairs of ``path`` (the first ``limit`` well-formed ones if given)."""
    result = PairFile()
    with path.open(encoding="utf-8", errors="replace", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(result.pairs) >= limit:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parsed = _parse_line(line)
            if isinstance(parsed, str):
                result.problems.append(f"{path.name} line {number}: {parsed}")
            else:
                result.pairs.append(parsed)
    return result


def _parse_line(line: str) -> LabelledPair | str:
    """One TSV line as a pair, or what is wrong with it."""
    fields = line.split("\t")
    if len(fields) != 4:
        return f"expected 4 tab-separated fields, got {len(fields)}"
    label, first, second, pair_id = fields
    if label.strip() not in ("0", "1"):
        return f"label must be 0 or 1, got {label.strip()[:20]!r}"
    first, second = detokenize(first), detokenize(second)
    if not first or not second:
        return "empty question"
    return LabelledPair(int(label), first, second, pair_id.strip())


# -- metrics ---------------------------------------------------------------------------------------
def classification_metrics(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of "duplicate", and accuracy."""
    predicted, actual = np.asarray(predicted, dtype=bool), np.asarray(labels) == 1
    tp = float(np.sum(predicted & actual))
    precision = tp / float(predicted.sum()) if predicted.any() else 0.0
    recall = tp / float(actual.sum()) if actual.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float(np.mean(predicted == actual)) if len(actual) else 0.0
    return {name: round(value, 4) for name, value in
            (("precision", precision), ("recall", recall), ("f1", f1), ("accuracy", accuracy))}


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (midway between two observed scores) whose "score >= threshold" has the best F1;
    ties go to the higher threshold. Sorting once makes it O(n log n)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return 0.5
    order = np.argsort(-scores, kind="stable")
    ranked, actual = scores[order], (np.asarray(labels)[order] == 1)
    true_positives = np.cumsum(actual)
    predicted = np.arange(1, len(ranked) + 1)
    f1 = 2 * true_positives / (predicted + actual.sum())
    cut = np.append(ranked[:-1] != ranked[1:], True)  # a threshold can only fall between distinct scores
    best = int(np.flatnonzero(cut)[np.argmax(f1[cut])])  # argmax takes the first: the highest threshold
    if best + 1 < len(ranked):
        return float((ranked[best] + ranked[best + 1]) / 2)
    return float(np.nextafter(ranked[best], -np.inf))


# -- the two methods -------------------------------------------------------------------------------
@dataclass
class SplitData:
    """One split's labels, cosines and feature rows."""

    labels: np.ndarray
    cosines: np.ndarray
    rows: list[dict[str, float]]


def analyse_pairs(pairs: Sequence[LabelledPair]) -> dict[str, QuestionTerms]:
    """Each distinct question of ``pairs`` analysed once."""
    return {text: analyse_question(text) for pair in pairs for text in (pair.question1, pair.question2)}


def split_data(pairs: Sequence[LabelledPair], vectors: dict[str, np.ndarray], idf: Idf) -> SplitData:
    """Labels, pair cosines and :func:`pair_features` rows of ``pairs``, terms weighted by ``idf``."""
    analysed = analyse_pairs(pairs)
    first = np.stack([vectors[p.question1] for p in pairs]) if pairs else np.zeros((0, 1), np.float32)
    second = np.stack([vectors[p.question2] for p in pairs]) if pairs else np.zeros((0, 1), np.float32)
    cosines = np.clip(np.einsum("ij,ij->i", first, second).astype(np.float64), -1.0, 1.0)
    rows = [pair_features(analysed[p.question1], analysed[p.question2], c, idf)
            for p, c in zip(pairs, cosines, strict=True)]
    return SplitData(np.array([p.label for p in pairs], dtype=np.int64), cosines, rows)


def evaluate_baseline(dev: SplitData, test: SplitData) -> dict[str, Any]:
    """One cosine threshold, the best-F1 one on dev."""
    threshold = best_f1_threshold(dev.cosines, dev.labels)
    return {
        "threshold": round(threshold, 4),
        "dev": classification_metrics(dev.cosines >= threshold, dev.labels),
        "test": classification_metrics(test.cosines >= threshold, test.labels),
    }


def out_of_fold_probabilities(rows: Sequence[dict[str, float]], labels: np.ndarray, features: Sequence[str],
                              *, folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """Each row's probability from a model fitted on the other ``folds - 1`` folds (seeded shuffle)."""
    fold_of = np.random.default_rng(seed).permutation(len(rows)) % folds
    probs = np.zeros(len(rows))
    for fold in range(folds):
        train, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        if len(held) == 0 or len(set(labels[train].tolist())) < 2:
            probs[held] = float(labels[train].mean()) if len(train) else 0.5
            continue
        weights, bias = fit_logistic([rows[i] for i in train], labels[train], features=features)
        model = DuplicateModel(features=tuple(features), weights=weights, bias=bias, threshold=0.5)
        probs[held] = model.probabilities([rows[i] for i in held])
    return probs


def fit_model(dev: SplitData, *, source: str = "") -> tuple[DuplicateModel, dict[str, float]]:
    """The model fitted on all of dev with the best-F1 threshold of its out-of-fold dev probabilities, and
    the out-of-fold metrics at that threshold (the IDF the rows were computed with is not part of it)."""
    out_of_fold = out_of_fold_probabilities(dev.rows, dev.labels, FEATURES)
    threshold = best_f1_threshold(out_of_fold, dev.labels)
    weights, bias = fit_logistic(dev.rows, dev.labels, features=FEATURES)
    fallback_weights, fallback_bias = fit_logistic(dev.rows, dev.labels, features=FALLBACK_FEATURES)
    model = DuplicateModel(
        features=FEATURES,
        weights={name: round(value, 6) for name, value in weights.items()},
        bias=round(bias, 6),
        threshold=round(threshold, 6),
        fallback_weights={name: round(value, 6) for name, value in fallback_weights.items()},
        fallback_bias=round(fallback_bias, 6),
        source=source,
    )
    return model, classification_metrics(out_of_fold >= threshold, dev.labels)


def evaluate_model(dev: SplitData, test: SplitData, *, source: str = "") -> tuple[DuplicateModel, dict[str, Any]]:
    """Fit on dev (see :func:`fit_model`), then measure on dev (in-sample and cross-validated) and test."""
    model, dev_cv = fit_model(dev, source=source)
    test_metrics = classification_metrics(model.probabilities(test.rows) >= model.threshold, test.labels)
    report = {
        "threshold": model.threshold,
        "dev": classification_metrics(model.probabilities(dev.rows) >= model.threshold, dev.labels),
        "dev_cross_validated": dev_cv,
        "test": test_metrics,
        "features": list(model.features),
        "weights": model.weights,
        "bias": model.bias,
        "fallback": {"weights": model.fallback_weights, "bias": model.fallback_bias},
    }
    metrics = {f"dev_cv_{name}": value for name, value in dev_cv.items()}
    metrics |= {f"test_{name}": value for name, value in test_metrics.items()}
    return replace(model, metrics=metrics), report


# -- the whole evaluation --------------------------------------------------------------------------
def embed_questions(embedder: Embedder, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Each distinct text's vector, embedded in one call so the embedder batches by length."""
    distinct = list(dict.fromkeys(texts))
    vectors = embedder.embed_passages(distinct)
    return dict(zip(distinct, vectors, strict=True))


def read_splits(data_dir: Path, limit: int | None) -> tuple[dict[str, list[LabelledPair]], list[str]]:
    """The pairs of dev.tsv and test.tsv, and their malformed-line notes."""
    pairs: dict[str, list[LabelledPair]] = {}
    problems: list[str] = []
    for split in SPLITS:
        path = data_dir / f"{split}.tsv"
        if not path.is_file():
            raise ValidationError(f"{data_dir}: no {split}.tsv (expected dev.tsv and test.tsv)")
        read = read_pairs(path, limit=limit)
        if not read.pairs:
            raise ValidationError(f"{path}: no well-formed pairs")
        pairs[split], problems = read.pairs, problems + read.problems
    return pairs, problems


def evaluate_duplicates(
    data_dir: Path,
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    limit: int | None = None,
    out: Path | None = None,
    command: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Baseline and model on ``data_dir``'s dev/test pairs (see the module docstring); writes the fitted
    model to ``out`` if given. ``embedder`` defaults to the one ``settings`` configure."""
    started = time.perf_counter()
    data_dir = Path(data_dir)
    pairs, problems = read_splits(data_dir, limit)
    if embedder is None:
        if settings is None:
            raise ValueError("evaluate_duplicates needs settings or an embedder")
        from kb.embedding import load_embedder

        embedder = load_embedder(settings.embedding, settings.instance_dir / "models")
    texts = [text for split in SPLITS for p in pairs[split] for text in (p.question1, p.question2)]
    if progress:
        progress(f"embedding {len(set(texts))} distinct questions with {embedder.model_name}")
    embed_started = time.perf_counter()
    vectors = embed_questions(embedder, texts)
    embed_seconds = time.perf_counter() - embed_started
    # Word rarity from the dev questions only (this data set's "deployment text"), for dev and test alike.
    idf = Idf.from_questions(analyse_pairs(pairs["dev"]).values())
    dev, test = (split_data(pairs[split], vectors, idf) for split in SPLITS)
    counts = {split: {"pairs": len(pairs[split]), "duplicates": int(sum(p.label for p in pairs[split]))}
              for split in SPLITS}
    source = (f"`{command or 'kb eval duplicates'}` on {data_dir.name} (fitted on its {counts['dev']['pairs']} dev "
              f"pairs, word rarity from its dev questions at fit time (not stored), threshold by {FOLDS}-fold "
              f"cross-validation on dev; embeddings "
              f"{embedder.model_name}), "
              f"{datetime.now(UTC).strftime('%Y-%m-%d')}")
    model, model_report = evaluate_model(dev, test, source=source)
    model_report["idf"] = {"source": "dev questions", "documents": idf.documents, "stored_in_model": False}
    if out is not None:
        model.save(Path(out))
    return {
        "dataset": data_dir.name,
        "counts": {**counts, "distinct_questions": len(vectors), "malformed_lines": len(problems)},
        "malformed": problems[:MAX_REPORTED_PROBLEMS],
        "embedding_model": embedder.model_name,
        "baseline": evaluate_baseline(dev, test),
        "model": model_report,
        "out": str(out) if out is not None else None,
        "seconds": {"embedding": round(embed_seconds, 1), "total": round(time.perf_counter() - started, 1)},
    }


# -- grouping on the demo questions ------------------------------------------------------------------
def grouping_metrics(topic_of: Mapping[int, int], duplicate_groups: Sequence[Sequence[int]],
                     lookalike_pairs: Sequence[Sequence[int]]) -> dict[str, Any]:
    """How well topics group labelled questions: ``topic_of`` maps each question's label index to its
    topic. Pairwise precision, recall and F1 of "same topic" against "same duplicate group" over all pairs
    of labelled questions, and how many look-alike pairs (must stay apart) share a topic."""
    indexes = sorted(topic_of)
    wanted = {frozenset(pair) for group in duplicate_groups for pair in itertools.combinations(group, 2)}
    joined = {frozenset(pair) for pair in itertools.combinations(indexes, 2)
              if topic_of[pair[0]] == topic_of[pair[1]]}
    hits = len(wanted & joined)
    precision = hits / len(joined) if joined else 0.0
    recall = hits / len(wanted) if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    merged = [[int(a), int(b)] for a, b in lookalike_pairs if topic_of.get(a) is not None
              and topic_of.get(a) == topic_of.get(b)]
    return {
        "questions": len(indexes),
        "topics": len(set(topic_of.values())),
        "duplicate_pairs": len(wanted),
        "joined_pairs": len(joined),
        "duplicate_pairs_joined": hits,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "lookalike_pairs": len(lookalike_pairs),
        "lookalikes_merged": len(merged),
        "merged_lookalikes": merged,
    }


def demo_grouping(kb) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Import the bundled demo questions (``kb/demo/questions.csv``) into ``kb`` and measure the topics they
    formed against the labels in ``questions_key.json`` (:func:`grouping_metrics`).

    ``kb`` must be a writable copy of a knowledge base that crawled the demo site (the import writes).
    The labels are the held-out product check: nothing is fitted or tuned on them.
    """
    import json

    from sqlalchemy import select

    from kb.demo.session import DEMO_QUESTIONS, import_demo_questions
    from kb.models import Question, Topic

    key = json.loads((DEMO_QUESTIONS.parent / "questions_key.json").read_text(encoding="utf-8"))
    report = import_demo_questions(kb)
    with kb.sessions() as session:
        merged_into = dict(session.execute(select(Topic.id, Topic.merged_into_id)
                                           .where(Topic.merged_into_id.is_not(None))).all())
        topic_by_text = {" ".join(text.split()): topic_id
                         for text, topic_id in session.execute(select(Question.text, Question.topic_id))}
    topic_of = {}
    for item in key["questions"]:
        topic_id = topic_by_text.get(" ".join(item["question"].split()))
        while topic_id in merged_into:
            topic_id = merged_into[topic_id]
        if topic_id is not None:
            topic_of[int(item["index"])] = topic_id
    return {"imported": report.added, **grouping_metrics(topic_of, key["duplicate_groups"], key["lookalike_pairs"])}
