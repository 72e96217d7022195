"""The answer threshold: the confidence at which a question counts as answered rather than a gap.

``questions.answer_threshold`` in ``config.toml`` wins when set (>= 0); otherwise the threshold shipped with
the calibrated confidence model applies: chosen by ``kb eval calibrate`` on SciFact train as the best mean
of the gap F1 and the answered F1 (gap F1 alone drifts towards "everything is a gap", which already
scores 0.73 when half the questions are gaps).
"""

from __future__ import annotations

from kb.confidence import ConfidenceModel
from kb.settings import QuestionSettings


def answer_threshold(settings: QuestionSettings, model: ConfidenceModel) -> float:
    return settings.answer_threshold if settings.answer_threshold >= 0 else model.threshold


def decide(confidence: float, threshold: float) -> str:
    """"answered" when the best match's confidence reaches the threshold, else "gap"."""
    return "answered" if confidence >= threshold else "gap"
