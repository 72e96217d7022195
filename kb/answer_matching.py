"""Searching for a topic's answer: which wordings of a topic are searched, the confident first hit among them,
whether given content still answers, and which topics a crawl's new passages come near.

Separate from the loop itself (:mod:`kb.answer_loop`, which decides what to change and writes it) because
this part only reads: it runs the public search and the stored vectors, outside any write transaction.

What is searched for a topic (decision): its title and its :data:`RECENT_QUESTIONS` most recent distinct
question wordings. The title is the canonical wording (a marketer may have edited it); recent questions
are how reps phrase it today; three searches bound the cost per topic. The most confident match over
the wordings wins.

Confidence belongs to the *first* hit of a search. When that content was rejected for the topic, the
search leaves it out (the same public search, with ``SearchFilters.exclude_contents``), so the next
content gets a confidence of its own rather than a borrowed one.

After a crawl only topics near the new or changed content are searched (:func:`near_content`): a topic
is skipped when every passage of that content is far from all its wordings in meaning (cosine below
:data:`NEAR_COSINE`, one matrix product on the stored question vectors), since such content is no
wording's confident first hit.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Content, Passage, Question, Topic
from kb.search_filters import SearchFilters

SEARCH_K = 5  # hits looked at per wording: the answer content must be among them to still count
RECENT_QUESTIONS = 2  # distinct question wordings searched besides the title
# After a crawl, a topic is searched again only when a new or changed passage is at least this close to one
# of its wordings. Measured on the demo site: every confident first hit of the 50 demo questions (23 of them
# even at a threshold of 0.2) had a cosine of 0.46 or more to its content; 0.3 keeps a wide margin and
# leaves about a third of the topics to search per changed page.
NEAR_COSINE = 0.3


@dataclass(frozen=True)
class Match:
    """The first hit of a search and the confidence that it answers the wording searched."""

    content_id: int
    passage_id: int
    confidence: float
    query: str


def topic_wordings(session: Session, topic: Topic) -> list[str]:
    """The title, then the most recent distinct question texts (see the module docstring)."""
    wordings: dict[str, str] = {}
    _add_wording(wordings, topic.title)
    recent = session.scalars(
        select(Question.text).where(Question.topic_id == topic.id)
        .order_by(Question.asked_at.desc(), Question.id.desc()).limit(50)
    )
    for text in recent:
        if len(wordings) > RECENT_QUESTIONS:
            break
        _add_wording(wordings, text)
    return list(wordings.values())


def _add_wording(wordings: dict[str, str], text: str | None) -> None:
    cleaned = " ".join((text or "").split())
    if cleaned:
        wordings.setdefault(cleaned.casefold(), cleaned)


def top_match(kb, query: str, *, exclude: Collection[int] = ()) -> Match | None:  # type: ignore[no-untyped-def]
    """The first hit for ``query`` among live content not in ``exclude``, with its own confidence."""
    filters = SearchFilters(exclude_contents=tuple(sorted(exclude))) if exclude else None
    response = kb.search(query, k=SEARCH_K, filters=filters)
    if not response.hits:
        return None
    first = response.hits[0]
    return Match(first.content_id, first.passage_id, response.confidence, response.query)


def best_match(kb, wordings: list[str], threshold: float,  # type: ignore[no-untyped-def]
               rejected: Collection[int] = ()) -> Match | None:
    """The most confident match over the wordings that clears ``threshold``, skipping rejected content."""
    best: Match | None = None
    for wording in wordings:
        match = top_match(kb, wording, exclude=rejected)
        if match is not None and match.confidence >= threshold and (best is None or match.confidence > best.confidence):
            best = match
    return best


def still_answers(kb, wordings: list[str], content_id: int, threshold: float) -> Match | None:  # type: ignore[no-untyped-def]
    """Whether ``content_id`` is still a confident answer to one of the wordings (the match, or None).

    It is when it is the first hit with a confidence over the threshold, or when it is among the hits and,
    with the content ranked above it left out, it is first with such a confidence of its own.
    """
    for wording in wordings:
        response = kb.search(wording, k=SEARCH_K)
        ranked = [hit.content_id for hit in response.hits]
        if content_id not in ranked:
            continue
        position = ranked.index(content_id)
        if position == 0:
            match = Match(content_id, response.hits[0].passage_id, response.confidence, response.query)
        else:
            match = top_match(kb, wording, exclude=ranked[:position])
        if match is not None and match.content_id == content_id and match.confidence >= threshold:
            return match
    return None


def near_content(kb, wordings: dict[int, list[str]], content_ids: Collection[int]) -> set[int]:  # type: ignore[no-untyped-def]
    """Topics with a wording close in meaning (cosine >= :data:`NEAR_COSINE`) to a passage of ``content_ids``."""
    if not wordings:
        return set()
    with kb.sessions() as session:
        rows = session.execute(
            select(Passage.embedding).join(Content, Content.id == Passage.content_id)
            .where(Content.id.in_(list(content_ids)), Content.status == "live", Passage.embedding.is_not(None))
        ).scalars().all()
        if not rows:
            return set()
        stored = _question_vectors(session, list(wordings), kb.embedder.model_name)
    passages = np.vstack([np.frombuffer(blob, dtype=np.float32) for blob in rows])
    owners = [topic_id for topic_id, texts in wordings.items() for _ in texts]
    texts = [text for texts in wordings.values() for text in texts]
    missing = sorted({text.casefold() for text in texts} - set(stored))
    if missing:  # titles a marketer edited, questions stored without a vector: embed them in one batch
        stored.update(zip(missing, kb.embedder.embed_passages(missing), strict=True))
    vectors = np.vstack([stored[text.casefold()] for text in texts])
    if vectors.shape[1] != passages.shape[1]:  # vectors of another model: no shortcut, search everything
        return set(wordings)
    best = (vectors @ passages.T).max(axis=1)
    return {topic_id for topic_id, score in zip(owners, best, strict=True) if score >= NEAR_COSINE}


def _question_vectors(session: Session, topic_ids: list[int], model: str) -> dict[str, np.ndarray]:
    """Stored vectors of the topics' questions (made by this model at intake), by case-folded wording."""
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(topic_ids), 500):
        rows = session.execute(
            select(Question.text, Question.embedding).where(
                Question.topic_id.in_(topic_ids[start:start + 500]), Question.embedding.is_not(None),
                Question.embedding_model == model)
        )
        for text, blob in rows:
            found.setdefault(" ".join(text.split()).casefold(), np.frombuffer(blob, dtype=np.float32))
    return found

