"""Merging topics and moving questions: everything moves, the counts follow, history is kept on both sides."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kb.backlog import BacklogFilters, list_topics
from kb.errors import ConflictError, NotFoundError
from kb.models import (
    Notification,
    Question,
    SearchEvidence,
    Topic,
    TopicEvent,
    TopicNote,
    TopicRejection,
)
from kb.topic_merge import merge_topics, move_question
from kb.topic_view import show_topic
from tests.test_backlog import Seed, add_people, events


@pytest.fixture
def seed(make_kb):
    kbase = make_kb()
    with kbase.transaction() as session:
        yield Seed(kbase, session)


@pytest.fixture
def people(seed):
    return add_people(seed)


def listed_ids(seed) -> list[int]:
    filters = BacklogFilters.parse(seed.kb.settings, status=["all"])
    return [t.id for t in list_topics(seed.session, seed.kb.settings, filters)]


@pytest.fixture
def pair(seed, people):
    """Two topics that mean the same: SSO asked by bo twice and cy; Okta asked by cy and di, searched twice."""
    bo, cy, di = people["bo"], people["cy"], people["di"]
    sso = seed.topic("Do you support SSO?", [(bo, 0, {"deal_value": 1000.0}), (bo, 2), (cy, 5)],
                     persona="it-security", persona_source="marketer")
    okta = seed.topic("Okta single sign-on?", [(cy, 1), (di, 3, {"deal_value": 500.0})], searches=2,
                      stage="engage", stage_source="suggested", stage_confidence=0.7)
    return sso, okta


def test_merge_moves_everything_and_the_counts_follow(seed, people, pair):
    sso, okta = pair
    post = seed.content("/blog/okta/", "Okta guide")
    seed.session.add_all([
        TopicNote(topic_id=okta.id, text="Seen in three deals", user_id=people["ana"].id),
        TopicRejection(topic_id=okta.id, content_id=post.id),
        TopicRejection(topic_id=sso.id, content_id=post.id),  # rejected on both: kept once
        Notification(user_id=people["cy"].id, topic_id=okta.id, kind="reopened", message="m"),
    ])
    seed.session.flush()
    assert (sso.ask_count, sso.rep_count, sso.search_count) == (3, 2, 0)
    assert (okta.ask_count, okta.rep_count, okta.search_count) == (2, 2, 2)
    before = sso.priority

    target = merge_topics(seed.kb, seed.session, okta.id, sso.id, user=people["ana"])
    assert target.id == sso.id
    assert (target.ask_count, target.rep_count, target.search_count) == (5, 3, 2)  # bo, cy, di
    assert target.deal_value == 1500.0 and target.priority > before
    okta = seed.session.get(Topic, okta.id)
    assert okta.merged_into_id == sso.id
    assert (okta.ask_count, okta.rep_count, okta.search_count, okta.deal_value) == (0, 0, 0, 0.0)
    for model in (Question, SearchEvidence, TopicNote, Notification):
        assert not seed.session.scalars(select(model).where(model.topic_id == okta.id)).all(), model
    rejected = seed.session.scalars(select(TopicRejection.content_id).where(TopicRejection.topic_id == sso.id))
    assert list(rejected) == [post.id]
    # Tags: the target keeps its own (a marketer's persona) and fills only the one it lacked.
    assert (target.persona, target.persona_source) == ("it-security", "marketer")
    assert (target.stage, target.stage_source, target.stage_confidence) == ("engage", "suggested", 0.7)
    # History on both sides, with who did it.
    (merged,) = events(seed.session, okta, "merged")
    (merged_from,) = events(seed.session, target, "merged_from")
    assert (merged.new, merged.user_id, merged.detail["questions"]) == (str(sso.id), people["ana"].id, 2)
    assert (merged_from.new, merged_from.detail["searches"], merged_from.detail["notes"]) == (str(okta.id), 2, 1)
    # The merged topic leaves the backlog; the target shows where it came from.
    assert okta.id not in listed_ids(seed) and sso.id in listed_ids(seed)
    data = show_topic(seed.session, seed.kb.settings, sso.id)
    assert data["merged_from"] == [okta.id] and len(data["questions"]) == 5
    assert data["notes"][0]["text"] == "Seen in three deals"


def test_merge_refuses_itself_merged_topics_and_unknown_ids(seed, people, pair):
    sso, okta = pair
    other = seed.topic("Pricing?", [(people["bo"], 0)])
    with pytest.raises(ConflictError, match="into itself"):
        merge_topics(seed.kb, seed.session, sso.id, sso.id)
    merge_topics(seed.kb, seed.session, okta.id, sso.id)
    with pytest.raises(ConflictError, match="already merged"):
        merge_topics(seed.kb, seed.session, other.id, okta.id)  # into a merged topic
    with pytest.raises(ConflictError, match="already merged"):
        merge_topics(seed.kb, seed.session, okta.id, other.id)  # a merged topic again
    with pytest.raises(NotFoundError):
        merge_topics(seed.kb, seed.session, 999, sso.id)
    assert seed.session.get(Topic, other.id).ask_count == 1  # nothing changed by the refusals


def test_merging_a_merge_target_repoints_earlier_merges(seed, people, pair):
    sso, okta = pair
    third = seed.topic("SAML login?", [(people["di"], 0)])
    merge_topics(seed.kb, seed.session, okta.id, sso.id)
    merge_topics(seed.kb, seed.session, sso.id, third.id)
    assert seed.session.get(Topic, okta.id).merged_into_id == third.id  # no chain to follow
    third = seed.session.get(Topic, third.id)
    assert (third.ask_count, third.rep_count, third.search_count) == (6, 3, 2)


def test_merging_into_an_answered_topic_tells_the_new_askers(seed, people, pair):
    sso, okta = pair
    post = seed.content("/blog/sso/", "SSO guide")
    sso.status, sso.answer_content_id = "answered_existing", post.id
    seed.session.flush()
    merge_topics(seed.kb, seed.session, okta.id, sso.id)
    told = seed.session.scalars(select(Notification).where(Notification.topic_id == sso.id))
    # cy already asked the answered topic; only di is new to it.
    assert [(n.user_id, n.kind) for n in told] == [(people["di"].id, "answered")]


def test_move_a_question_to_another_topic_and_the_counts_follow(seed, people, pair):
    sso, okta = pair
    question = seed.session.scalars(select(Question).where(Question.topic_id == okta.id,
                                                           Question.asked_by_id == people["di"].id)).one()
    target = move_question(seed.kb, seed.session, question.id, to_topic_id=sso.id, user=people["ana"])
    assert target.id == sso.id and question.topic_id == sso.id
    assert (sso.ask_count, sso.rep_count, sso.deal_value) == (4, 3, 1500.0)
    assert (okta.ask_count, okta.rep_count, okta.deal_value, okta.search_count) == (1, 1, 0.0, 2)  # searches stay
    (out,) = events(seed.session, okta, "question_moved_out")
    (into,) = events(seed.session, sso, "question_moved_in")
    assert out.detail == {"question_id": question.id, "to_topic": sso.id} and out.user_id == people["ana"].id
    assert into.detail["from_topic"] == okta.id and into.new == question.text
    with pytest.raises(ConflictError, match="already in topic"):
        move_question(seed.kb, seed.session, question.id, to_topic_id=sso.id)
    with pytest.raises(NotFoundError, match="no question"):
        move_question(seed.kb, seed.session, 999, to_topic_id=sso.id)
    with pytest.raises(NotFoundError, match="no topic"):
        move_question(seed.kb, seed.session, question.id, to_topic_id=999)


def test_move_a_question_to_a_topic_of_its_own(seed, people, pair):
    sso, _ = pair
    question = seed.ask(sso, people["di"], 0, {"text": "Is there an on-premise version?", "persona": "it-security",
                                                 "stage": "engage"})
    seed.refresh(sso)
    assert sso.ask_count == 4
    new = move_question(seed.kb, seed.session, question.id, user=people["ana"])
    assert new.id != sso.id and new.title == "Is there an on-premise version?" and new.status == "new"
    assert (new.ask_count, new.rep_count) == (1, 1) and (sso.ask_count, sso.rep_count) == (3, 2)
    assert (new.persona, new.persona_source, new.stage, new.stage_source) == (
        "it-security", "rep", "engage", "rep")
    assert [e.action for e in events(seed.session, new)] == ["created", "question_moved_in"]
    assert new.id in listed_ids(seed) and new.due_at is not None


def test_moving_into_a_merged_topic_is_refused(seed, people, pair):
    sso, okta = pair
    merge_topics(seed.kb, seed.session, okta.id, sso.id)
    question = seed.session.scalars(select(Question).where(Question.topic_id == sso.id)).first()
    with pytest.raises(ConflictError, match="already merged"):
        move_question(seed.kb, seed.session, question.id, to_topic_id=okta.id)
    assert seed.session.scalar(select(TopicEvent.id).where(TopicEvent.action == "question_moved_in")) is None


def test_merge_and_move_invalidate_the_topic_matchers_cache(seed, people, pair):
    from kb import topic_matching

    sso, okta = pair
    seed.kb.caches[topic_matching.CACHE_KEY] = object()
    merge_topics(seed.kb, seed.session, okta.id, sso.id)
    assert topic_matching.CACHE_KEY not in seed.kb.caches
    seed.kb.caches[topic_matching.CACHE_KEY] = object()
    question = seed.session.scalars(select(Question).where(Question.topic_id == sso.id)).first()
    move_question(seed.kb, seed.session, question.id)
    assert topic_matching.CACHE_KEY not in seed.kb.caches
