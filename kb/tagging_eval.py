"""`kb eval tagging`: how often suggested personas and stages match the labels in a CSV of questions.

The CSV has a ``question`` column and ``persona`` and/or ``stage`` columns (the bundled
``kb/demo/questions.csv`` by default); a row with an empty label is skipped for that label, a row with a
label that is not configured is reported with its line number and skipped for that label.

Two methods are measured with the same scoring code as the live suggestions (:func:`kb.tagging.score_labels`):

- ``config``: descriptions and examples from the settings alone (what a fresh install suggests);
- ``corrections``: plus marketer corrections, leave-one-out: every *other* labelled row acts as a topic a
  marketer tagged, so a question is never its own evidence.

For each: ``accuracy`` (correct share of the rows where a tag was suggested), ``coverage`` (share of the
rows where a tag was suggested, i.e. the best label cleared the floor), ``correct`` (correct share of all
rows) and ``top1`` (accuracy of the best label with no floor). The most common label's share is the
baseline to beat: a rep's question set is dominated by one stage.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import ValidationError
from kb.settings import Settings
from kb.tagging import (
    KINDS,
    PARAMS,
    Kind,
    Prototypes,
    ScoringParams,
    TaggedEvidence,
    build_prototypes,
    check_tag,
    score_labels,
    tag_definitions,
)

DEFAULT_CSV = Path(__file__).resolve().parent / "demo" / "questions.csv"


@dataclass(frozen=True)
class LabelledQuestion:
    line: int
    question: str
    labels: dict[str, str | None]  # kind -> configured name, or None when the row has no (valid) label


def read_labelled(path: Path, settings: Settings) -> tuple[list[LabelledQuestion], list[str]]:
    """The rows of ``path`` and the problems found (with line numbers); good rows are kept either way."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if "question" not in columns:
                raise ValidationError(f"{path}: no 'question' column (found: {', '.join(columns) or 'nothing'})")
            if not any(kind in columns for kind in KINDS):
                raise ValidationError(f"{path}: needs a 'persona' or a 'stage' column")
            rows, problems = [], []
            for raw in reader:
                line = reader.line_num
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
                if not row.get("question"):
                    problems.append(f"line {line}: empty question")
                    continue
                labels: dict[str, str | None] = {}
                for kind in KINDS:
                    try:
                        labels[kind] = check_tag(settings, kind, row.get(kind))
                    except ValidationError as exc:
                        problems.append(f"line {line}: {exc.message}")
                        labels[kind] = None
                rows.append(LabelledQuestion(line, row["question"], labels))
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ValidationError(f"{path}: not a readable CSV file ({exc})") from None
    return rows, problems


def _metrics(predicted: Sequence[str | None], best: Sequence[str | None], gold: Sequence[str]) -> dict[str, Any]:
    rows = len(gold)
    suggested = sum(p is not None for p in predicted)
    correct = sum(p == g for p, g in zip(predicted, gold, strict=True))
    top1 = sum(b == g for b, g in zip(best, gold, strict=True))
    return {
        "suggested": suggested,
        "correct_count": correct,
        "accuracy": correct / suggested if suggested else 0.0,
        "coverage": suggested / rows if rows else 0.0,
        "correct": correct / rows if rows else 0.0,
        "top1": top1 / rows if rows else 0.0,
    }


def evaluate_kind(vectors: np.ndarray, gold: Sequence[str], prototypes: Prototypes,
                  params: ScoringParams = PARAMS) -> dict[str, Any]:
    """Config-only and leave-one-out-with-corrections scores of labelled ``vectors`` (row i has label gold[i])."""
    index = {name: i for i, name in enumerate(prototypes.names)}
    evidence = TaggedEvidence.from_groups([(vectors[i:i + 1], index[g]) for i, g in enumerate(gold)],
                                          prototypes.dimension)
    config = [score_labels(v, prototypes, params=params) for v in vectors]
    started = time.perf_counter()
    corrected = [score_labels(v, prototypes, evidence, params=params, exclude_topic=i) for i, v in enumerate(vectors)]
    per_question_ms = (time.perf_counter() - started) * 1000 / max(len(vectors), 1)
    counts = Counter(gold)
    majority, majority_count = counts.most_common(1)[0] if counts else (None, 0)
    return {
        "rows": len(gold),
        "label_counts": dict(counts.most_common()),
        "majority": {"label": majority, "share": majority_count / len(gold) if gold else 0.0},
        "config": _metrics([s.label for s in config], [s.best for s in config], gold),
        "corrections": _metrics([s.label for s in corrected], [s.best for s in corrected], gold),
        "ms_per_question": per_question_ms,
    }


def evaluate_tagging(
    path: Path | None,
    settings: Settings,
    *,
    embedder: Any = None,
    params: ScoringParams = PARAMS,
) -> dict[str, Any]:
    """Read the CSV, embed its questions once, and evaluate personas and stages (module docstring)."""
    started = time.perf_counter()
    path = path or DEFAULT_CSV
    rows, problems = read_labelled(path, settings)
    if not rows:
        raise ValidationError(f"{path}: no questions to evaluate" + (f" ({problems[0]})" if problems else ""))
    if embedder is None:
        from kb.embedding import load_embedder

        embedder = load_embedder(settings.embedding, settings.instance_dir / "models")
    vectors = np.asarray(embedder.embed_passages([row.question for row in rows]), dtype=np.float32)
    result: dict[str, Any] = {
        "csv": str(path),
        "questions": len(rows),
        "embedding_model": embedder.model_name,
        "params": params.to_dict(),
        "problems": problems,
    }
    for kind in KINDS:
        result[kind] = _evaluate_one(kind, rows, vectors, settings, embedder, params)
    result["seconds"] = time.perf_counter() - started
    return result


def _evaluate_one(kind: Kind, rows: Sequence[LabelledQuestion], vectors: np.ndarray, settings: Settings,
                  embedder: Any, params: ScoringParams) -> dict[str, Any]:
    labelled = [i for i, row in enumerate(rows) if row.labels[kind]]
    if not labelled:
        return {"rows": 0}
    prototypes = build_prototypes(tag_definitions(settings, kind), embedder)
    gold = [rows[i].labels[kind] or "" for i in labelled]
    return evaluate_kind(vectors[labelled], gold, prototypes, params)
