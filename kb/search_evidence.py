"""Searches that found nothing good count as (weaker) demand on the topic they belong to.

Every search entry point (``kb search``, the search page, ``/api/v1/search``) calls
:func:`search_with_evidence`. When the answer confidence stays below the answer threshold, the search
is written down as :class:`kb.models.SearchEvidence` and, when it means the same as the questions of an
existing topic (:func:`kb.topic_matching.find_topic`), counted on that topic (``Topic.search_count``,
beside ``ask_count`` for questions reps asked) and its demand recomputed.

Rules, and why:

- **Evidence never creates a topic.** Only reps' questions do; a search matching no topic is stored with
  no topic (it can still be attributed later) and changes no backlog item.
- **No one-word noise.** A query needs ``questions.evidence_min_terms`` distinct keywords (the keyword
  index's analysed terms: stopwords gone, stems merged), so "pricing" or "okta" never counts.
- **Only plain hybrid searches.** A filtered search (kind, site, tags, dates...) or a dense-only or
  keyword-only one is weak because the rep narrowed it, not because content is missing, and the
  calibrated confidence is fitted on unfiltered hybrid search.
- **Repeats count once.** The same query text from the same user (or from anonymous users) within
  :data:`REPEAT_WINDOW` is one piece of evidence: refining and re-running a search is not demand.
- **The search always wins.** Evidence is written in its own short transaction after the results exist;
  any failure is logged and swallowed, and on SQLite the write waits at most a quarter second
  (``kb.transaction(brief=True)``) for a lock held by another writer (a crawl) instead of the usual
  busy timeout, so a busy database cannot make a search slow. The query is embedded once and the vector
  serves both the search and the topic match.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import topic_history
from kb.demand import refresh_demand
from kb.models import SearchEvidence, Topic, utcnow
from kb.search import SearchResponse, clean_query
from kb.search_filters import SearchFilters
from kb.text_terms import tokenize
from kb.thresholds import answer_threshold
from kb.topic_matching import find_topic
from kb.usage_events import record_search
from kb.users import find_user, normalise_email, user_for_asker

log = logging.getLogger(__name__)

REPEAT_WINDOW = timedelta(minutes=10)


def search_with_evidence(
    kb,  # type: ignore[no-untyped-def]
    query: str,
    *,
    k: int | None = None,
    mode: str = "hybrid",
    filters: SearchFilters | None = None,
    user_email: str | None = None,
    user_id: int | None = None,
) -> SearchResponse:
    """``kb.search`` as a person makes it: plus the evidence a low-confidence search leaves (see the module
    docstring) and the search's usage event with the content it showed (:func:`kb.usage_events.record_search`).

    Every search path that serves a person calls this (the search page and API, ``kb search``); neither
    bookkeeping write can fail or slow the search. ``user_id`` or ``user_email`` says who searched.
    """
    email = normalise_email(user_email) if user_email else None  # a bad address is the caller's error
    query = clean_query(query, kb.settings.web.max_query_chars)
    # Embedded once, here: the search uses the vector and so does the topic match of the evidence.
    vector = kb.embedder.embed_query(query) if mode == "hybrid" else None
    response = kb.search(query, k=k, mode=mode, filters=filters, query_vector=vector)
    if vector is not None and counts_as_evidence(kb, response):
        try:
            record_evidence(kb, response, vector, user_email=email)
        except Exception:  # never let bookkeeping break a rep's search
            log.warning("search evidence for %r not recorded", response.query, exc_info=True)
    record_search(kb, user_id, response.query, response.filters, [hit.content_id for hit in response.hits],
                  user_email=email)
    return response


def distinct_terms(query: str) -> int:
    return len(set(tokenize(query)))


def counts_as_evidence(kb, response: SearchResponse) -> bool:  # type: ignore[no-untyped-def]
    """Low confidence, a plain hybrid search, and enough keywords to say what is missing."""
    if response.mode != "hybrid" or response.filters.active:
        return False
    if response.confidence >= answer_threshold(kb.settings.questions, kb.confidence_model):
        return False
    return distinct_terms(response.query) >= kb.settings.questions.evidence_min_terms


def record_evidence(kb, response: SearchResponse, vector: np.ndarray,  # type: ignore[no-untyped-def]
                    *, user_email: str | None = None) -> SearchEvidence | None:
    """Store one search (``vector``: its query's embedding) as evidence, on its topic when one matches;
    None when it repeats a recent one."""
    with kb.sessions() as session:  # a repeat costs one indexed read and takes no write lock
        known = find_user(session, user_email) if user_email else None
        if (known is not None or not user_email) and _recent_repeat(session, response.query, known and known.id):
            return None
    best_content = response.hits[0].content_id if response.hits else None
    with kb.transaction(brief=True) as session:
        user = user_for_asker(session, user_email) if user_email else None
        if _recent_repeat(session, response.query, user.id if user else None):  # again: a racing twin
            return None
        match = find_topic(kb, session, response.query, vector, best_content_id=best_content)
        evidence = SearchEvidence(
            topic_id=match.topic_id if match else None,
            query=response.query,
            user_id=user.id if user else None,
            confidence=response.confidence,
            similarity=match.probability if match else None,
        )
        session.add(evidence)
        session.flush()
        if match is not None:
            topic = session.get(Topic, match.topic_id)
            if topic is not None:
                before = topic.search_count
                refresh_demand(session, topic, kb.settings.backlog)
                topic_history.record(session, topic, "searched", user=user, old=before, new=topic.search_count,
                                     query=response.query, confidence=round(response.confidence, 4),
                                     probability=round(match.probability, 4))
        return evidence


def _recent_repeat(session: Session, query: str, user_id: int | None) -> bool:
    who = SearchEvidence.user_id == user_id if user_id is not None else SearchEvidence.user_id.is_(None)
    return session.scalar(
        select(SearchEvidence.id)
        .where(SearchEvidence.query == query, who, SearchEvidence.at >= utcnow() - REPEAT_WINDOW)
        .limit(1)
    ) is not None

