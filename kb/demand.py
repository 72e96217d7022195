"""Demand on a topic: its counts, its priority score (with the formula's parts shown) and its SLA due date.

Every path that changes who asked what (intake, import, merge, moving a question out, a search counted
as evidence) calls :func:`refresh_demand`, so the counts on a topic always follow its questions.

The score is deliberately simple and explainable, every part visible to marketers::

    asks_weight * log2(1 + asks)            many asks matter, with diminishing returns
  + reps_weight * distinct reps             five reps asking once beat one rep asking five times
  + recency_weight * sum(0.5 ** (age / half_life))  what was asked this week outranks last quarter
  + searches_weight * log2(1 + searches)    searches that found nothing: weaker evidence than an ask
  + deal_weight * log10(1 + deal value)     money on the table, when reps give it
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import Question, SearchEvidence, Topic, utcnow
from kb.settings import BacklogSettings


@dataclass(frozen=True)
class Priority:
    score: float
    level: str  # high / medium / low
    parts: dict[str, float]  # each term of the formula, so the score is never a mystery
    formula: str

    def to_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 3), "level": self.level,
                "parts": {name: round(value, 3) for name, value in self.parts.items()}, "formula": self.formula}


FORMULA = ("asks_weight*log2(1+asks) + reps_weight*reps + recency_weight*sum(0.5^(age_days/half_life_days)) "
           "+ searches_weight*log2(1+searches) + deal_weight*log10(1+deal_value)")


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; everything stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def priority(
    asks: int, reps: int, asked_at: Sequence[datetime], searches: int, deal_value: float,
    cfg: BacklogSettings, now: datetime,
) -> Priority:
    recency = sum(0.5 ** (max(0.0, (now - as_utc(t)).total_seconds() / 86400) / cfg.half_life_days)
                  for t in asked_at)
    parts = {
        "asks": cfg.asks_weight * math.log2(1 + asks),
        "reps": cfg.reps_weight * reps,
        "recency": cfg.recency_weight * recency,
        "searches": cfg.searches_weight * math.log2(1 + searches),
        "deal_value": cfg.deal_weight * math.log10(1 + max(0.0, deal_value)),
    }
    score = sum(parts.values())
    level = "high" if score >= cfg.high_priority else "medium" if score >= cfg.medium_priority else "low"
    return Priority(score, level, parts, FORMULA)


def topic_priority(session: Session, topic: Topic, cfg: BacklogSettings, now: datetime | None = None) -> Priority:
    """The priority of ``topic`` from its stored counts and its questions' times."""
    now = now or utcnow()
    times = list(session.scalars(select(Question.asked_at).where(Question.topic_id == topic.id)))
    return priority(topic.ask_count, topic.rep_count, times, topic.search_count, topic.deal_value, cfg, now)


def refresh_demand(session: Session, topic: Topic, cfg: BacklogSettings, now: datetime | None = None) -> Priority:
    """Recount asks, reps, searches and deal value from the database; update priority and SLA due date."""
    now = now or utcnow()
    session.flush()
    asks, reps, deal, first, last = session.execute(
        select(
            func.count(Question.id),
            func.count(func.distinct(Question.asked_by_id)),
            func.coalesce(func.sum(Question.deal_value), 0.0),
            func.min(Question.asked_at),
            func.max(Question.asked_at),
        ).where(Question.topic_id == topic.id)
    ).one()
    topic.ask_count, topic.rep_count, topic.deal_value = int(asks), int(reps), float(deal or 0.0)
    topic.first_asked_at = first
    topic.last_asked_at = last
    topic.search_count = int(session.scalar(
        select(func.count(SearchEvidence.id)).where(SearchEvidence.topic_id == topic.id)
    ) or 0)
    result = topic_priority(session, topic, cfg, now)
    topic.priority, topic.priority_level = result.score, result.level
    if topic.due_source != "manual":
        created = as_utc(topic.created_at or now)
        topic.due_at = created + timedelta(days=cfg.sla_days[result.level])
    return result
