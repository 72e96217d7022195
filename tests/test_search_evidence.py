"""Searches that find nothing good count as (weaker) demand on the matching topic, never as noise.

A few pages are stored and indexed with the real model; topics come from the intake function. Failure is real too: another connection holds SQLite's
write lock, as a crawl does, and the search must still answer quickly.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ValidationError
from kb.models import SearchEvidence, Topic, TopicEvent
from kb.question_input import QuestionInput
from kb.questions import submit_question
from kb.search_evidence import REPEAT_WINDOW, search_with_evidence
from kb.search_filters import parse_filters
from kb.settings import SiteSettings
from kb.sites import add_site

BASE = "https://www.acme.test"
PAGES = [
    ("/blog/sso-with-okta/", "Single sign-on with Okta",
     "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace. Administrators connect "
     "their identity provider in the security settings and users sign in with their corporate account."),
    ("/pricing/", "Pricing plans",
     "The Growth plan costs 49 dollars per user per month billed annually. The Enterprise plan adds "
     "audit logs, a dedicated success manager and a 99.9 percent uptime commitment."),
    ("/blog/three-way-matching/", "Three-way matching explained",
     "Three-way matching compares the purchase order, the goods receipt and the supplier invoice before "
     "a payment is released, so nobody pays for goods that never arrived."),
]
GAP = "Do you offer a discount for nonprofit organisations?"
GAP_SEARCH = "discount for nonprofit organisations"  # three keywords, nothing answers it
CONFIDENT_SEARCH = "single sign-on with Okta"


@pytest.fixture
def kb(make_kb):
    kb = make_kb({"questions": {"answer_threshold": 0.5, "evidence_min_terms": 3}})
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url=BASE + "/"))
        for i, (path, title, text) in enumerate(PAGES):
            store_page(session, site.id, PageRecord(canonical_url=BASE + path, content_hash=f"h{i}", title=title,
                                                    kind="blog", passages=[PassageInput(text=text)]))
    kb.refresh_index()
    return kb


def gap_topic(kb, text: str = GAP, asker: str = "ana@example.com") -> int:  # type: ignore[no-untyped-def]
    """A backlog topic for ``text``, made by intake (the question nothing answers)."""
    result = submit_question(kb, QuestionInput(text, asked_by=asker))
    assert result.decision == "gap", result.to_dict()
    return result.topic["id"]


def evidence(kb) -> list[tuple[int | None, str, int | None]]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return [(e.topic_id, e.query, e.user_id) for e in session.scalars(select(SearchEvidence).order_by(SearchEvidence.id))]


def topic(kb, topic_id: int) -> Topic:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return session.get(Topic, topic_id)


def topic_count(kb) -> int:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return session.scalar(select(func.count(Topic.id)))


def test_a_low_confidence_search_counts_on_the_matching_topic(kb):
    topic_id = gap_topic(kb)
    asks_before = topic(kb, topic_id).ask_count
    response = search_with_evidence(kb, GAP_SEARCH, user_email="bo@example.com")
    assert response.confidence < 0.5 and response.hits  # the search itself still answers
    ((counted_on, query, user_id),) = evidence(kb)
    assert counted_on == topic_id and query == GAP_SEARCH and user_id is not None
    after = topic(kb, topic_id)
    assert after.search_count == 1 and after.ask_count == asks_before  # searched vs asked, counted apart
    with kb.sessions() as session:
        assert session.scalar(select(TopicEvent.action).where(TopicEvent.topic_id == topic_id)
                              .order_by(TopicEvent.id.desc())) == "searched"


def test_one_word_short_filtered_and_confident_searches_are_not_evidence(kb):
    gap_topic(kb)
    search_with_evidence(kb, "nonprofit")  # one word
    search_with_evidence(kb, "nonprofits discount")  # two keywords: below evidence_min_terms
    search_with_evidence(kb, "do you have it for them?")  # stopwords only
    search_with_evidence(kb, GAP_SEARCH, filters=parse_filters(kinds=["blog"]))  # narrowed by the rep
    search_with_evidence(kb, GAP_SEARCH, mode="bm25")
    confident = search_with_evidence(kb, CONFIDENT_SEARCH)
    assert confident.confidence >= 0.5
    assert evidence(kb) == []


def test_evidence_never_creates_a_topic(kb):
    before = topic_count(kb)
    search_with_evidence(kb, "carbon footprint reporting for scope three emissions")
    ((topic_id, _, _),) = evidence(kb)
    assert topic_id is None and topic_count(kb) == before


def test_the_same_search_by_the_same_user_counts_once_within_the_window(kb):
    topic_id = gap_topic(kb)
    for _ in range(3):
        search_with_evidence(kb, GAP_SEARCH, user_email="bo@example.com")
    search_with_evidence(kb, GAP_SEARCH, user_email="cy@example.com")  # someone else: counts
    assert len(evidence(kb)) == 2 and topic(kb, topic_id).search_count == 2
    with kb.transaction() as session:  # the window has passed
        for row in session.scalars(select(SearchEvidence)):
            row.at = row.at - REPEAT_WINDOW - timedelta(minutes=1)
    search_with_evidence(kb, GAP_SEARCH, user_email="bo@example.com")
    assert len(evidence(kb)) == 3 and topic(kb, topic_id).search_count == 3


def test_a_bad_user_is_the_callers_error(kb):
    with pytest.raises(ValidationError, match="e-mail"):
        search_with_evidence(kb, GAP_SEARCH, user_email="not-an-address")


def test_search_still_works_quickly_when_evidence_cannot_be_written(kb):
    gap_topic(kb)
    search_with_evidence(kb, CONFIDENT_SEARCH)  # warm everything up
    blocker = sqlite3.connect(kb.settings.instance_dir / "kb.sqlite", timeout=0.1)
    blocker.execute("BEGIN IMMEDIATE")  # another writer (a crawl, an import) holds the write lock
    try:
        began = time.perf_counter()
        response = search_with_evidence(kb, GAP_SEARCH, user_email="bo@example.com")
        took = time.perf_counter() - began
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.hits and response.query == GAP_SEARCH
    assert took < 2.0  # not the 5 s busy timeout of ordinary writes
    assert evidence(kb) == []
    search_with_evidence(kb, GAP_SEARCH, user_email="bo@example.com")
    assert len(evidence(kb)) == 1


def test_the_search_api_records_evidence(kb):
    from tests.support.web_client import logged_in
    from web import create_app

    topic_id = gap_topic(kb)
    client = logged_in(create_app(kb), kb, "bo@example.com", "rep")
    assert client.get("/api/v1/search", query_string={"q": GAP_SEARCH}).status_code == 200
    assert client.get("/", query_string={"q": GAP_SEARCH}).status_code == 200  # same rep, same search: once
    assert [row[0] for row in evidence(kb)] == [topic_id]
