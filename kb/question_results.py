"""What a rep is told about a question: :class:`AskResult` (decision, confidence, matches, topic, tags,
confirmed answer), right after asking or read back later, and the list of questions asked.

Separate from intake (:mod:`kb.questions`), which stores a question and then renders it here: reading a
question back (:func:`get_question`) renders it the same way without storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.answer_moment import passage_moment
from kb.demand import as_utc
from kb.errors import NotFoundError, ValidationError
from kb.models import CLOSED_STATUSES, Content, Passage, Question, Topic, User
from kb.thresholds import answer_threshold
from kb.timed_links import content_moment_link
from kb.users import normalise_email


def match_dict(hit: Any) -> dict[str, Any]:
    """One search hit as a question stores and shows it (``Question.matches``)."""
    return {
        "content_id": hit.content_id,
        "passage_id": hit.passage_id,
        "url": hit.url,
        "link": hit.link,  # at the passage's second for videos and podcasts
        "title": hit.title,
        "kind": hit.kind,
        "passage": hit.snippet,
        "heading_path": list(hit.heading_path),
        "start_seconds": hit.start_seconds,
        "moment": hit.moment,
        "score": round(float(hit.score), 6),
    }


def _tag_dict(name: str | None, confidence: float | None, source: str | None) -> dict[str, Any]:
    return {"name": name, "confidence": None if confidence is None else round(confidence, 4), "source": source}


@dataclass
class AskResult:
    """What a rep is told after submitting a question (``to_dict`` is the CLI's and the API's JSON)."""

    question_id: int
    question: str
    asked_by: str | None
    asked_at: datetime
    source: str
    decision: str  # answered / gap
    confidence: float
    threshold: float
    matches: list[dict[str, Any]]
    topic: dict[str, Any]  # id, title, status, ask_count, rep_count, other_reps, new
    persona: dict[str, Any]  # the topic's persona: name, confidence, source (suggested / rep / marketer)
    stage: dict[str, Any]
    suggested: dict[str, Any] | None = None  # the suggestion made for this question's own text
    confirmed_answer: dict[str, Any] | None = None  # the joined topic's answer, confirmed by the team
    already_present: bool = False
    took_ms: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "question": self.question,
            "asked_by": self.asked_by,
            "asked_at": as_utc(self.asked_at).isoformat(),
            "source": self.source,
            "context": self.context,
            "decision": self.decision,
            "confidence": round(self.confidence, 4),
            "threshold": round(self.threshold, 4),
            "matches": self.matches,
            "topic": self.topic,
            "confirmed_answer": self.confirmed_answer,
            "persona": self.persona,
            "stage": self.stage,
            "suggested": self.suggested,
            "took_ms": round(self.took_ms, 1),
        }


def _other_reps(session: Session, topic_id: int, asker_id: int | None) -> int:
    """Distinct reps other than this asker who asked a question of the topic."""
    stmt = select(func.count(func.distinct(Question.asked_by_id))).where(
        Question.topic_id == topic_id, Question.asked_by_id.is_not(None)
    )
    if asker_id is not None:
        stmt = stmt.where(Question.asked_by_id != asker_id)
    return int(session.scalar(stmt) or 0)


def _confirmed_answer(session: Session, topic: Topic) -> dict[str, Any] | None:
    """A closed topic's confirmed answer (existing content or content published for it), if any."""
    if topic.answer_content_id is None or topic.status not in CLOSED_STATUSES:
        return None
    content = session.get(Content, topic.answer_content_id)
    if content is None:
        return None
    passage = session.get(Passage, topic.answer_passage_id) if topic.answer_passage_id else None
    link = content_moment_link(content, passage_moment(passage, topic.title))
    return {"content_id": content.id, "url": content.canonical_url, "link": link, "title": content.title,
            "kind": content.kind, "status": topic.status,
            "confidence": None if topic.answer_confidence is None else round(topic.answer_confidence, 4)}


def ask_result(session: Session, question: Question, topic: Topic, *, new_topic: bool, threshold: float,
               suggested: dict[str, Any] | None, asker: User | None) -> AskResult:
    """The result of ``question`` on ``topic`` (``new_topic``: the question opened it)."""
    return AskResult(
        question_id=question.id,
        question=question.text,
        asked_by=asker.email if asker is not None else None,
        asked_at=question.asked_at,
        source=question.source,
        decision=question.decision,
        confidence=question.confidence,
        threshold=threshold,
        matches=list(question.matches or []),
        topic={
            "id": topic.id,
            "title": topic.title,
            "status": topic.status,
            "ask_count": topic.ask_count,
            "rep_count": topic.rep_count,
            "other_reps": _other_reps(session, topic.id, question.asked_by_id),
            "new": new_topic,
        },
        persona=_tag_dict(topic.persona, topic.persona_confidence, topic.persona_source),
        stage=_tag_dict(topic.stage, topic.stage_confidence, topic.stage_source),
        suggested=suggested,
        confirmed_answer=None if new_topic else _confirmed_answer(session, topic),
        context={"persona": question.persona, "stage": question.stage, "company": question.company,
                 "deal_stage": question.deal_stage, "deal_value": question.deal_value},
    )



# -- reading back ------------------------------------------------------------------------------------
def get_question(kb, question_id: int) -> AskResult:  # type: ignore[no-untyped-def]
    """A stored question as it was answered, with its topic as it is now."""
    with kb.sessions() as session:
        question = session.get(Question, question_id)
        if question is None:
            raise NotFoundError(f"no question {question_id}")
        topic = session.get(Topic, question.topic_id) if question.topic_id else None
        while topic is not None and topic.merged_into_id is not None:  # follow merges to the live topic
            topic = session.get(Topic, topic.merged_into_id)
        if topic is None:
            raise NotFoundError(f"question {question_id} has no topic")
        created = session.scalar(select(func.min(Question.id)).where(Question.topic_id == topic.id)) == question.id
        return ask_result(session, question, topic, new_topic=created,
                       threshold=answer_threshold(kb.settings.questions, kb.confidence_model),
                       suggested=None, asker=question.asked_by)


def list_questions(kb, *, asked_by: str | None = None, topic_id: int | None = None,  # type: ignore[no-untyped-def]
                   limit: int = 50) -> list[dict[str, Any]]:
    """Questions, newest first, each with the status of its topic (what became of it)."""
    if not 1 <= limit <= 10_000:
        raise ValidationError("limit must be between 1 and 10000")
    with kb.sessions() as session:
        stmt = select(Question).order_by(Question.asked_at.desc(), Question.id.desc()).limit(limit)
        if asked_by:
            user = session.scalar(select(User).where(User.email == normalise_email(asked_by)))
            if user is None:
                raise NotFoundError(f"no user {asked_by}")
            stmt = stmt.where(Question.asked_by_id == user.id)
        if topic_id is not None:
            if session.get(Topic, topic_id) is None:
                raise NotFoundError(f"no topic {topic_id}")
            stmt = stmt.where(Question.topic_id == topic_id)
        rows = []
        for question in session.scalars(stmt):
            topic = question.topic
            while topic is not None and topic.merged_into_id is not None:
                topic = session.get(Topic, topic.merged_into_id)
            rows.append({
                "id": question.id,
                "question": question.text,
                "asked_by": question.asked_by.email if question.asked_by else None,
                "asked_at": as_utc(question.asked_at).isoformat(),
                "source": question.source,
                "company": question.company,
                "decision": question.decision,
                "confidence": round(question.confidence or 0.0, 4),
                "topic": None if topic is None else {"id": topic.id, "title": topic.title, "status": topic.status,
                                                     "ask_count": topic.ask_count},
                "status": topic.status if topic is not None else None,
            })
        return rows
