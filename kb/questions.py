"""Question intake: a rep submits what a prospect asked; the answer is shown at once, or the gap is filed.

One submission goes through :func:`submit_question` (the CLI, the API) or, many at a time, through
:mod:`kb.question_import`; both end in :func:`record_question`, so a question is treated the same
whichever way it came in:

1. **Check** the text (whitespace and control characters normalised; empty or longer than
   ``questions.max_chars`` refused) and the context (asker e-mail, persona and stage names, company,
   deal stage and value) -> :class:`PreparedQuestion`. Mistakes are :class:`kb.errors.ValidationError`.
2. **Embed once** and reuse the vector for the hybrid search and the topic matching.
3. **Answered or gap**: the search's calibrated confidence against the answer threshold
   (:mod:`kb.thresholds`); the top ``questions.match_count`` matches are shown and kept.
4. **Topic**: join the topic it means the same as (:func:`kb.topic_matching.find_topic`), else open one
   (its title is the question; "answered_existing" with the answer when answered, else "new").
5. **Tags**: the suggested persona and stage, the rep's own winning (:func:`kb.tagging.apply_tags`).
6. **History and demand**: "created"/"asked" (and tag) events, then the topic's counts and priority.

Idempotency: every question carries ``dedup_key``, a hash of (wording, asker, time, company). A file
imported twice adds nothing; a CLI or API question without a time is stamped now, so asking the same
thing again later is a new ask (demand), never swallowed.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb import topic_history, topic_matching
from kb.demand import as_utc, refresh_demand
from kb.errors import ConflictError, KBError, NotFoundError, ValidationError
from kb.models import CLOSED_STATUSES, Content, Passage, Question, Topic, User, utcnow
from kb.search import SearchResponse
from kb.settings import Settings
from kb.thresholds import answer_threshold, decide
from kb.users import normalise_email, user_for_asker

# Longest values of the free-text context fields (their column sizes).
MAX_COMPANY = 200
MAX_DEAL_STAGE = 100
MAX_SOURCE = 40


@dataclass(frozen=True)
class QuestionInput:
    """One submission as a rep (or a CSV row) gives it; checked by :func:`prepare_question`."""

    text: str
    asked_by: str | None = None  # e-mail; the asker is created as a rep on first sight
    asked_at: datetime | None = None  # None: now; naive datetimes are UTC
    persona: str | None = None
    stage: str | None = None
    company: str | None = None
    deal_stage: str | None = None
    deal_value: float | None = None
    source: str = "cli"


@dataclass(frozen=True)
class PreparedQuestion:
    """A checked submission: clean text, normalised e-mail and tags, UTC time, and its idempotency key."""

    text: str
    email: str | None
    asked_at: datetime
    persona: str | None
    stage: str | None
    company: str | None
    deal_stage: str | None
    deal_value: float | None
    source: str
    dedup_key: str


def clean_text(text: str | None, max_chars: int) -> str:
    """Whitespace collapsed, control characters dropped; empty or overlong text is refused."""
    text = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    text = " ".join(text.split())
    if not text:
        raise ValidationError("the question is empty")
    if len(text) > max_chars:
        raise ValidationError(f"the question is too long ({len(text)} characters; at most {max_chars})")
    return text


def _optional_text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text")
    value = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(value) > limit:
        raise ValidationError(f"{name} is too long ({len(value)} characters; at most {limit})")
    return value or None


def _deal_value(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("deal_value must be a number")
    try:
        number = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"deal_value must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValidationError(f"deal_value must be a number of zero or more, got {value!r}")
    return number


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return utcnow()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def dedup_key(text: str, email: str | None, asked_at: datetime | None, company: str | None) -> str:
    """sha256 of (wording case- and space-folded, asker, time in UTC, company case-folded); ``asked_at``
    None leaves the time out (imported rows without a time)."""
    moment = _utc(asked_at).isoformat() if asked_at is not None else ""
    parts = (" ".join(text.casefold().split()), email or "", moment, (company or "").casefold())
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def prepare_question(settings: Settings, question: QuestionInput) -> PreparedQuestion:
    """Check one submission; every problem is a ValidationError naming the field."""
    from kb.tagging import check_tag  # the tagging module: names normalised, unknown ones refused with the list

    if question.text is not None and not isinstance(question.text, str):
        raise ValidationError("the question must be text")
    text = clean_text(question.text, settings.questions.max_chars)
    email = None
    if question.asked_by is not None and str(question.asked_by).strip():
        try:
            email = normalise_email(str(question.asked_by))
        except ValidationError:
            raise ValidationError(f"asked_by is not an e-mail address: {question.asked_by!r}") from None
    asked_at = _utc(question.asked_at)
    company = _optional_text(question.company, "company", MAX_COMPANY)
    source = _optional_text(question.source, "source", MAX_SOURCE) or "cli"
    return PreparedQuestion(
        text=text,
        email=email,
        asked_at=asked_at,
        persona=check_tag(settings, "persona", question.persona),
        stage=check_tag(settings, "stage", question.stage),
        company=company,
        deal_stage=_optional_text(question.deal_stage, "deal_stage", MAX_DEAL_STAGE),
        deal_value=_deal_value(question.deal_value),
        source=source,
        dedup_key=dedup_key(text, email, asked_at, company),
    )


# -- the result --------------------------------------------------------------------------------------
def _match_dict(hit: Any) -> dict[str, Any]:
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
    link = content.canonical_url
    if passage is not None and passage.start_seconds is not None:
        link = f"{link}#t={int(passage.start_seconds)}"
    return {"content_id": content.id, "url": content.canonical_url, "link": link, "title": content.title,
            "kind": content.kind, "status": topic.status,
            "confidence": None if topic.answer_confidence is None else round(topic.answer_confidence, 4)}


def _result(session: Session, question: Question, topic: Topic, *, new_topic: bool, threshold: float,
            suggested: dict[str, Any] | None, asker: User | None) -> AskResult:
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


# -- recording ---------------------------------------------------------------------------------------
def _asker(session: Session, email: str | None) -> User | None:
    """The asking user (created as a rep on first sight), remembered for the rest of the session's
    transaction: an import names the same few dozen reps thousands of times."""
    if email is None:
        return None
    known: dict[str, User] = session.info.setdefault("kb.questions.askers", {})
    user = known.get(email)
    if user is None or user not in session:
        user = known[email] = user_for_asker(session, email)
    return user


def existing_question_id(session: Session, key: str) -> int | None:
    return session.scalar(select(Question.id).where(Question.dedup_key == key))


@dataclass(frozen=True)
class StoredQuestion:
    """What :func:`store_question` did: the question, its topic (new or joined) and the tags suggested."""

    question: Question
    topic: Topic
    new_topic: bool
    suggestion: Any  # kb.tagging.TagSuggestion; None when a batch skipped it (it could not change the topic)
    asker: User | None
    threshold: float


def record_question(
    kb,  # type: ignore[no-untyped-def]
    session: Session,
    prepared: PreparedQuestion,
    vector: np.ndarray,
    response: SearchResponse,
) -> AskResult:
    """Store one checked question (:func:`store_question`) and say what became of it."""
    stored = store_question(kb, session, prepared, vector, response)
    return _result(session, stored.question, stored.topic, new_topic=stored.new_topic,
                   threshold=stored.threshold, suggested=stored.suggestion.to_dict(), asker=stored.asker)


def store_question(
    kb,  # type: ignore[no-untyped-def]
    session: Session,
    prepared: PreparedQuestion,
    vector: np.ndarray,
    response: SearchResponse,
    *,
    batch: bool = False,
) -> StoredQuestion:
    """Store one checked question with its decision, topic, tags, history and demand (steps 3-6 above).

    ``vector`` is the question's embedding and ``response`` the hybrid search made with it. A question
    already stored (same ``dedup_key``) is a ConflictError; callers that import check first.
    ``batch=True`` (an import) leaves work to the end of the caller's batch: :func:`kb.demand.refresh_demand`
    once per touched topic instead of once per row (a topic asked 300 times re-reads 300 ask times) and
    :func:`kb.topic_matching.sync`; and it skips the tag suggestion when it cannot change the topic (both
    tags given by this rep, or already set by people), so ``suggestion`` may be None.
    """
    from kb.tagging import apply_tags, suggest_tags

    settings = kb.settings
    # An import looked every key up before (one query per 500 rows); the unique index guards races.
    if not batch and existing_question_id(session, prepared.dedup_key) is not None:
        raise ConflictError("this question was already submitted (same wording, asker, time and company)")
    asker = _asker(session, prepared.email)
    threshold = answer_threshold(settings.questions, kb.confidence_model)
    decision = decide(response.confidence, threshold)
    best = response.hits[0] if response.hits else None
    now = utcnow()

    match = topic_matching.find_topic(kb, session, prepared.text, vector,
                                      best_content_id=best.content_id if best is not None else None)
    topic = session.get(Topic, match.topic_id) if match is not None else None
    new_topic = topic is None
    if topic is None:
        answered = decision == "answered" and best is not None
        topic = Topic(
            title=prepared.text,
            status="answered_existing" if answered else "new",
            answer_content_id=best.content_id if answered else None,
            answer_passage_id=best.passage_id if answered else None,
            answer_confidence=response.confidence if answered else None,
            closed_at=now if answered else None,
            created_at=now,
            updated_at=now,
        )
        session.add(topic)
        session.flush()

    question = Question(
        topic_id=topic.id,
        text=prepared.text,
        asked_by_id=asker.id if asker is not None else None,
        asked_at=prepared.asked_at,
        source=prepared.source,
        persona=prepared.persona,
        stage=prepared.stage,
        company=prepared.company,
        deal_stage=prepared.deal_stage,
        deal_value=prepared.deal_value,
        decision=decision,
        confidence=float(response.confidence),
        best_content_id=best.content_id if best is not None else None,
        best_passage_id=best.passage_id if best is not None else None,
        matches=[_match_dict(hit) for hit in response.hits[: settings.questions.match_count]],
        embedding=np.asarray(vector, dtype=np.float32).tobytes(),
        embedding_model=kb.embedder.model_name,
        dedup_key=prepared.dedup_key,
        created_at=now,
    )
    session.add(question)
    session.flush()

    if new_topic:
        topic_history.record(session, topic, "created", user=asker, new=topic.title, question_id=question.id,
                             status=topic.status)
    topic_history.record(session, topic, "asked", user=asker, new=question.text, question_id=question.id,
                         decision=decision, confidence=round(question.confidence, 4), source=question.source,
                         asked_at=as_utc(question.asked_at).isoformat(),
                         probability=None if match is None else round(match.probability, 4))

    given = {"persona": prepared.persona, "stage": prepared.stage}
    # A suggestion only fills a tag that is empty or itself a suggestion, and only where the rep gave none.
    useful = any(given[kind] is None and getattr(topic, f"{kind}_source") in (None, "suggested")
                 for kind in ("persona", "stage"))
    suggestion = suggest_tags(kb, session, prepared.text, vector) if useful or not batch else None
    before = {"persona": topic.persona, "stage": topic.stage}
    apply_tags(topic, suggestion, persona=prepared.persona, stage=prepared.stage, source="rep")
    for kind in ("persona", "stage"):
        after = getattr(topic, kind)
        if after != before[kind]:
            topic_history.record(session, topic, kind, user=asker, old=before[kind], new=after,
                                 source=getattr(topic, f"{kind}_source"), question_id=question.id)

    if not batch:
        refresh_demand(session, topic, settings.backlog, now)
    topic_matching.note_question(kb, session, question, vector, sync=not batch)
    return StoredQuestion(question, topic, new_topic, suggestion, asker, threshold)


def submit_question(kb, question: QuestionInput) -> AskResult:  # type: ignore[no-untyped-def]
    """Check, embed once, search, and record one question (see the module docstring)."""
    began = time.perf_counter()
    prepared = prepare_question(kb.settings, question)
    vector = kb.embedder.embed_query(prepared.text)
    response = kb.search(prepared.text, k=kb.settings.questions.match_count, query_vector=vector)
    try:
        with kb.transaction() as session:
            result = record_question(kb, session, prepared, vector, response)
    except IntegrityError:  # a racing twin with the same dedup_key won
        topic_matching.invalidate(kb)
        raise ConflictError("this question was already submitted (same wording, asker, time and company)") from None
    except BaseException:
        topic_matching.invalidate(kb)  # the cache may hold rows that were rolled back
        raise
    result.took_ms = (time.perf_counter() - began) * 1000
    return result


# -- from a JSON body (the API) -------------------------------------------------------------------------
JSON_FIELDS = ("question", "as", "persona", "stage", "company", "deal_stage", "deal_value")


def question_from_json(body: Any, *, source: str = "api") -> QuestionInput:
    """A :class:`QuestionInput` from an API request body; a wrong shape or type is a ValidationError."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - set(JSON_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(JSON_FIELDS)}")
    if "question" not in body:
        raise ValidationError("'question' is required")
    for name in ("question", "as", "persona", "stage", "company", "deal_stage"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ValidationError(f"'{name}' must be a string")
    value = body.get("deal_value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationError("'deal_value' must be a number")
    return QuestionInput(text=body["question"], asked_by=body.get("as"), persona=body.get("persona"),
                         stage=body.get("stage"), company=body.get("company"), deal_stage=body.get("deal_stage"),
                         deal_value=value, source=source)


def submit_json(kb, body: Any, *, source: str = "api") -> AskResult:  # type: ignore[no-untyped-def]
    """:func:`submit_question` for an API request body."""
    return submit_question(kb, question_from_json(body, source=source))


# -- many at once ------------------------------------------------------------------------------------
def read_question_lines(source: str | Path | bytes) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line of a file (or of bytes already read), UTF-8 with or
    without a byte-order mark."""
    if isinstance(source, bytes):
        data, name = source, "standard input"
    else:
        path = Path(source)
        name = path.name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ValidationError(f"no such file: {path}") from None
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(f"{name} is not UTF-8 text (line {line}): save it as UTF-8") from None
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def submit_lines(kb, lines: Iterable[tuple[int, str]],  # type: ignore[no-untyped-def]
                 template: QuestionInput) -> Iterator[tuple[int, dict[str, Any]]]:
    """Submit each line as a question with ``template``'s context; a line that fails yields its error
    (``{"error": {"code", "message"}}``) and the rest go on."""
    for number, text in lines:
        try:
            yield number, submit_question(kb, replace(template, text=text)).to_dict()
        except KBError as exc:
            yield number, {"error": {"code": exc.code, "message": exc.message}, "question": text.strip()}


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
        return _result(session, question, topic, new_topic=created,
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
