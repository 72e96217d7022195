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

The checks (step 1) live in :mod:`kb.question_input` and the rendering of the result in
:mod:`kb.question_results`.
Idempotency (``dedup_key``) is explained in :mod:`kb.question_input`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb import topic_history, topic_matching
from kb.demand import as_utc, refresh_demand
from kb.errors import ConflictError, KBError
from kb.models import Question, Topic, User, utcnow
from kb.question_input import (
    PreparedQuestion,
    QuestionInput,
    prepare_question,
    question_from_json,
)
from kb.question_results import AskResult, ask_result, match_dict
from kb.search import SearchResponse
from kb.thresholds import answer_threshold, decide
from kb.usage_events import record_search
from kb.users import user_for_asker


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
    return ask_result(session, stored.question, stored.topic, new_topic=stored.new_topic,
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
        matches=[match_dict(hit) for hit in response.hits[: settings.questions.match_count]],
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
    # The intake's search, with the matches shown, as a usage event (issue 7); it never fails the question.
    record_search(kb, None, prepared.text, None, [hit.content_id for hit in response.hits],
                  question_id=result.question_id)
    result.took_ms = (time.perf_counter() - began) * 1000
    return result


# -- from a JSON body (the API) -------------------------------------------------------------------------
def submit_json(kb, body: Any, *, source: str = "api") -> AskResult:  # type: ignore[no-untyped-def]
    """:func:`submit_question` for an API request body."""
    return submit_question(kb, question_from_json(body, source=source))


# -- many at once ------------------------------------------------------------------------------------
def submit_lines(kb, lines: Iterable[tuple[int, str]],  # type: ignore[no-untyped-def]
                 template: QuestionInput) -> Iterator[tuple[int, dict[str, Any]]]:
    """Submit each line as a question with ``template``'s context; a line that fails yields its error
    (``{"error": {"code", "message"}}``) and the rest go on."""
    for number, text in lines:
        try:
            yield number, submit_question(kb, replace(template, text=text)).to_dict()
        except KBError as exc:
            yield number, {"error": {"code": exc.code, "message": exc.message}, "question": text.strip()}

