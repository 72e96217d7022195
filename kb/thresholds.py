"""The answer threshold: the confidence at which a question counts as answered rather than a gap.

``questions.answer_threshold`` in ``config.toml`` wins when set (>= 0); otherwise the threshold shipped with
the calibrated confidence model (chosen by ``kb eval gaps`` to maximise the gap decision's F1) applies.
"""

from __future__ import annotations

from kb.confidence import ConfidenceModel
from kb.settings import QuestionSettings


def answer_threshold(settings: QuestionSettings, model: ConfidenceModel) -> float:
    return settings.answer_threshold if settings.answer_threshold >= 0 else model.threshold


def decide(confidence: float, threshold: float) -> str:
    """"answered" when the best match's confidence reaches the threshold, else "gap"."""
    return "answered" if confidence >= threshold else "gap"
