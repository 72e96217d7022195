"""Prospect questions, the topics they are grouped into, and the backlog's memory.

- A :class:`Question` is one submission by one rep (who, when, source, prospect context), with the
  decision made at intake (answered or gap), its confidence and best match, and its own vector so
  later questions can be compared to it.
- A :class:`Topic` groups questions that mean the same thing ("7 reps asked this"). A topic whose
  questions nothing answers is in the backlog; its status, owner, persona, stage, priority and due
  date are what marketers triage. Counts are kept on the topic and recomputed on merge and move.
- :class:`TopicEvent` is the history (who changed what, when), :class:`TopicNote` the discussion,
  :class:`TopicRejection` the content a marketer said does not answer the topic (never suggested
  again), :class:`SearchEvidence` searches that found nothing good (weaker demand than an ask), and
  :class:`Notification` what reps are told when their question gets an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.models.base import Base, utcnow
from kb.models.people import User

DECISIONS = ("answered", "gap")

# The backlog workflow. "answered_existing": content that already existed answers it (set at intake when
# the confidence clears the threshold, or by a marketer confirming a suggested match).
TOPIC_STATUSES = ("new", "triaged", "planned", "in_progress", "published", "answered_existing", "wont_do")
OPEN_STATUSES = ("new", "triaged", "planned", "in_progress")
CLOSED_STATUSES = ("published", "answered_existing", "wont_do")

# Where a topic's persona or stage came from: the model's suggestion, the asking rep, or a marketer.
TAG_SOURCES = ("suggested", "rep", "marketer")


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)  # the first question's wording until a marketer edits it
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    persona: Mapped[str | None] = mapped_column(String(100), index=True)
    persona_confidence: Mapped[float | None] = mapped_column(Float)
    persona_source: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(20), index=True)
    stage_confidence: Mapped[float | None] = mapped_column(Float)
    stage_source: Mapped[str | None] = mapped_column(String(20))
    # Demand, kept in step with the questions and evidence (recomputed on merge and move).
    ask_count: Mapped[int] = mapped_column(Integer, default=0)
    rep_count: Mapped[int] = mapped_column(Integer, default=0)
    search_count: Mapped[int] = mapped_column(Integer, default=0)
    deal_value: Mapped[float] = mapped_column(Float, default=0.0)
    first_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # Priority: the score from demand (formula in kb.backlog), its level, and the SLA due date.
    priority: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    priority_level: Mapped[str] = mapped_column(String(10), default="low")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_source: Mapped[str] = mapped_column(String(10), default="sla")  # "sla" or "manual"
    # The content that answers it (existing or newly published), once confirmed.
    answer_content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"))
    answer_passage_id: Mapped[int | None] = mapped_column(Integer)
    answer_confidence: Mapped[float | None] = mapped_column(Float)
    # "Possibly answered": a confident match found after a crawl, waiting for a marketer to confirm.
    suggested_content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"))
    suggested_passage_id: Mapped[int | None] = mapped_column(Integer)
    suggested_confidence: Mapped[float | None] = mapped_column(Float)
    suggested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    questions: Mapped[list[Question]] = relationship(back_populates="topic", order_by="Question.asked_at")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES and self.merged_into_id is None


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(Text)
    asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(40), default="cli")  # cli, api, web, import, or the CSV's source
    # Prospect context as the rep gave it; the rep's persona and stage win over suggestions.
    persona: Mapped[str | None] = mapped_column(String(100))
    stage: Mapped[str | None] = mapped_column(String(20))
    company: Mapped[str | None] = mapped_column(String(200))
    deal_stage: Mapped[str | None] = mapped_column(String(100))
    deal_value: Mapped[float | None] = mapped_column(Float)
    # The intake decision and what it rested on.
    decision: Mapped[str] = mapped_column(String(10), default="gap", index=True)  # answered / gap
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    best_content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"))
    best_passage_id: Mapped[int | None] = mapped_column(Integer)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # top matches shown at intake
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32, L2-normalised
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    # Idempotency: a hash of (wording, asker, time, company) so importing a file twice adds nothing.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    topic: Mapped[Topic | None] = relationship(back_populates="questions")
    asked_by: Mapped[User | None] = relationship(foreign_keys=[asked_by_id])


class TopicEvent(Base):
    """One change to a topic: who, when, what (field, old value, new value) — the history marketers read."""

    __tablename__ = "topic_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(30))  # created, asked, status, owner, persona, stage, merged, ...
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()


class TopicNote(Base):
    __tablename__ = "topic_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    text: Mapped[str] = mapped_column(Text)

    user: Mapped[User | None] = relationship()


class TopicRejection(Base):
    """A marketer said this content does not answer this topic: never suggest it for the topic again."""

    __tablename__ = "topic_rejections"
    __table_args__ = (UniqueConstraint("topic_id", "content_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SearchEvidence(Base):
    """A search whose best match fell below the answer threshold: weaker demand than an ask."""

    __tablename__ = "search_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), index=True)
    query: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    similarity: Mapped[float | None] = mapped_column(Float)  # to the topic it was counted on
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Notification(Base):
    """An in-app message to a rep (their question got an answer, or lost it); e-mailed when SMTP is set."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))  # answered / reopened
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_error: Mapped[str | None] = mapped_column(Text)
