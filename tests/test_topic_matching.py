"""Topic matching: paraphrases join, look-alikes stay apart, word rarity comes from the knowledge base's own
passages, the content breaks ties, and the warm cache follows the database (new questions, moves, merges,
other processes, rolled-back transactions) and stays fast at 10,000 stored questions."""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from kb import topic_matching
from kb.content import PageRecord, PassageInput, store_page
from kb.demo.session import DEMO_QUESTIONS
from kb.duplicates import Idf
from kb.duplicates_eval import demo_grouping
from kb.indexing import embedding_texts
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Question, Topic, utcnow
from kb.question_input import QuestionInput, prepare_question
from kb.questions import store_question, submit_question
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.text_terms import tokenize
from kb.topic_matching import CACHE_KEY, IDF_KEY, content_stopwords, deployment_idf, find_topic
from kb.topic_merge import merge_topics, move_question
from tests.support.demo_copy import writable_demo

KEY = json.loads((DEMO_QUESTIONS.parent / "questions_key.json").read_text(encoding="utf-8"))
TEXTS = {item["index"]: item["question"] for item in KEY["questions"]}
SITE = json.loads((Path(__file__).parent / "fixtures" / "duplicates" / "company_site.json").read_text(encoding="utf-8"))


@pytest.fixture
def mkb(demo_kb, tmp_path, embedder):
    kb = writable_demo(demo_kb, tmp_path / "kb", embedder)
    yield kb
    kb.close()


def store_pages(kb, pages, site_name: str = "fernbrook") -> None:  # type: ignore[no-untyped-def]
    """Store ``pages`` (``{"url", "title", "passages"}``) as crawled content and index them."""
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name=site_name, base_url="https://fernbrook.test/"))
        for number, page in enumerate(pages):
            store_page(session, site.id, PageRecord(
                canonical_url=page["url"], content_hash=f"{site_name}-{number}", title=page["title"],
                passages=[PassageInput(text=text, ordinal=i) for i, text in enumerate(page["passages"])]))
    kb.refresh_index()


@pytest.fixture
def company_kb(make_kb):
    """A knowledge base that crawled the small company site of the fixtures (21 passages)."""
    kb = make_kb()
    store_pages(kb, SITE["pages"])
    return kb


def ask(kb, text: str, email: str = "a@fernbrook.example") -> dict:  # type: ignore[type-arg]
    return submit_question(kb, QuestionInput(text, asked_by=email)).to_dict()


def match(kb, text: str, best_content_id: int | None = None):  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return find_topic(kb, session, text, kb.embedder.embed_query(text), best_content_id=best_content_id)


def test_the_demo_lookalikes_stay_apart(mkb):
    """The labelled look-alike pairs of the demo questions: the second never joins the first's topic."""
    for first, second in KEY["lookalike_pairs"]:
        a = ask(mkb, TEXTS[first])
        found = match(mkb, TEXTS[second])
        assert found is None or found.topic_id != a["topic"]["id"], (TEXTS[first], TEXTS[second], found)


def test_paraphrases_and_rewordings_join(mkb):
    topic = ask(mkb, "Is there an iOS or Android app?")["topic"]["id"]
    for text in ("Do you have a mobile app for iPhone and Android?", "Hi team, is there an iOS or Android app?",
                 "is there an IOS or android app"):
        found = match(mkb, text)
        assert found is not None and found.topic_id == topic, (text, found)
        assert found.probability >= topic_matching.duplicate_threshold(mkb)


def test_the_duplicate_threshold_setting_overrides_the_model(demo_kb, tmp_path, embedder):
    strict = writable_demo(demo_kb, tmp_path / "strict", embedder)
    strict.settings = replace(strict.settings, questions=replace(strict.settings.questions, duplicate_threshold=0.999))
    ask(strict, "Is there an iOS or Android app?")
    assert match(strict, "Do you have a mobile app for iPhone and Android?") is None
    loose = writable_demo(demo_kb, tmp_path / "loose", embedder)
    loose.settings = replace(loose.settings, questions=replace(loose.settings.questions, duplicate_threshold=0.0))
    first = ask(loose, "Is there an iOS or Android app?")
    assert match(loose, "What does the Growth plan cost per year?").topic_id == first["topic"]["id"]


def test_the_best_matching_content_breaks_a_tie(mkb):
    """Two topics asked in the same words (a marketer split them): the one whose questions matched the same
    content as the new question wins."""
    text = "Do you offer volume discounts for multi-year contracts?"
    first = ask(mkb, text)
    second = ask(mkb, text, "b@fernbrook.example")
    assert second["topic"]["id"] == first["topic"]["id"]
    with mkb.transaction() as session:
        moved = move_question(mkb, session, second["question_id"])  # to a topic of its own
        used = {cid for cid in session.scalars(select(Question.best_content_id)) if cid is not None}
        alternative = session.scalar(select(Content.id).where(Content.id.not_in(used)).limit(1))
        # as if it had been asked when other content matched it best
        session.get(Question, second["question_id"]).best_content_id = alternative
    topic_matching.invalidate(mkb)
    assert match(mkb, text, best_content_id=alternative).topic_id == moved.id
    assert match(mkb, text, best_content_id=first["matches"][0]["content_id"]).topic_id == first["topic"]["id"]


def test_the_cache_stays_warm_across_asks_and_follows_moves_and_merges(mkb):
    first = ask(mkb, "Are you FedRAMP authorized?")
    cache = mkb.caches[CACHE_KEY]
    second = ask(mkb, "Quick question: are you FedRAMP authorized?", "b@fernbrook.example")
    assert mkb.caches[CACHE_KEY] is cache and cache.size == 2  # appended, not reloaded
    assert second["topic"]["id"] == first["topic"]["id"]

    with mkb.transaction() as session:
        own = move_question(mkb, session, second["question_id"])
    assert CACHE_KEY not in mkb.caches  # the move dropped it
    assert match(mkb, "Quick question: are you FedRAMP authorized?").topic_id == own.id
    with mkb.transaction() as session:
        merge_topics(mkb, session, own.id, first["topic"]["id"])
    found = match(mkb, "Quick question: are you FedRAMP authorized?")
    assert found.topic_id == first["topic"]["id"]  # questions of a merged topic count for the target


def test_changes_made_by_another_process_are_seen(mkb, embedder):
    ask(mkb, "Are you FedRAMP authorized?")
    assert match(mkb, "Do you support CFDI electronic invoices for our entity in Mexico?") is None
    other = KnowledgeBase(mkb.settings, embedder=embedder)  # another process on the same database
    theirs = ask(other, "Do you support CFDI electronic invoices for our entity in Mexico?")
    found = match(mkb, "Do you support CFDI electronic invoices for our entity in Mexico?")
    assert found is not None and found.topic_id == theirs["topic"]["id"]
    with other.transaction() as session:  # a move elsewhere: seen through the topic history
        moved = move_question(other, session, theirs["question_id"])
    assert match(mkb, "Do you support CFDI electronic invoices for our entity in Mexico?").topic_id == moved.id
    other.close()


def test_a_rolled_back_question_is_never_matched(mkb):
    text = "Can we get invoices in Japanese yen?"
    prepared = prepare_question(mkb.settings, QuestionInput(text, asked_by="a@fernbrook.example"))
    vector = mkb.embedder.embed_query(text)
    response = mkb.search(text, k=3, query_vector=vector)
    with pytest.raises(RuntimeError), mkb.transaction() as session:
        store_question(mkb, session, prepared, vector, response, batch=True)
        assert find_topic(mkb, session, text, vector) is not None  # seen inside its own transaction
        raise RuntimeError("rolled back")
    assert match(mkb, text) is None


def test_ten_thousand_stored_questions_take_a_few_milliseconds(make_kb, embedder):
    kb = make_kb()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(10_000, embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = utcnow()
    with kb.transaction() as session:
        session.execute(insert(Topic), [{"id": i + 1, "title": f"topic {i}", "status": "new", "created_at": now,
                                         "updated_at": now} for i in range(2_000)])
        session.execute(insert(Question), [{
            "topic_id": i % 2_000 + 1, "text": f"Synthetic question {i} about feature {i % 97} and plan {i % 13}?",
            "asked_at": now, "decision": "gap", "confidence": 0.0, "matches": [], "embedding": vectors[i].tobytes(),
            "embedding_model": embedder.model_name, "dedup_key": f"k{i}", "created_at": now,
        } for i in range(10_000)])
    text = "Does Fernbrook support SSO with Okta?"
    vector = embedder.embed_query(text)
    with kb.sessions() as session:
        began = time.perf_counter()
        assert find_topic(kb, session, text, vector) is None  # loads the 10,000 vectors
        load_ms = (time.perf_counter() - began) * 1000
        timings = []
        for _ in range(7):
            began = time.perf_counter()
            find_topic(kb, session, text, vector)
            timings.append((time.perf_counter() - began) * 1000)
    assert kb.caches[CACHE_KEY].size == 10_000
    print(f"load {load_ms:.0f} ms, warm median {statistics.median(timings):.1f} ms")
    assert statistics.median(timings) < 25, timings  # a few ms on an idle machine; slack for a shared one
    assert load_ms < 3_000, load_ms


# -- word rarity from the knowledge base -------------------------------------------------------------
def test_the_knowledge_base_names_its_stopwords(company_kb):
    content = content_stopwords(company_kb)
    dense, keyword = company_kb.indexes()
    with company_kb.sessions() as session:  # what the index holds: title, headings and passage
        indexed = [set(tokenize(text)) for text in embedding_texts(session, np.sort(dense.ids()))]
    assert content.documents == len(indexed) == 21
    counted = {term: sum(term in terms for terms in indexed) for term in ("fernbrook", "okta", "scim")}
    assert keyword.document_frequencies([*counted, "fedramp"]) == counted | {"fedramp": 0}
    assert counted["fernbrook"] > 21 / 2 > counted["okta"] > 0
    assert content.common(["fernbrook", "okta", "scim", "fedramp"]) == {"fernbrook"}  # the company's name
    assert content_stopwords(company_kb) is content  # kept warm

    store_pages(company_kb, [{"url": "https://fernbrook.test/compliance/", "title": "Compliance",
                              "passages": ["Fernbrook is working towards FedRAMP Moderate authorization."]}],
                site_name="compliance")
    fresher = content_stopwords(company_kb)  # the index was rebuilt: so are its statistics
    assert fresher is not content and fresher.documents == 22
    topic_matching.invalidate(company_kb)
    assert IDF_KEY not in company_kb.caches and content_stopwords(company_kb).documents == 22


def test_stored_questions_grade_the_words(company_kb, embedder):
    def idf() -> Idf:
        with company_kb.sessions() as session:
            return deployment_idf(company_kb, session)

    before = idf()
    assert before.is_uniform and before.common(["fernbrook", "okta"]) == {"fernbrook"}  # no questions yet
    # 60 stored questions (distinct wordings): "integrate" in half, "NetSuite" in one, "Okta" in none
    texts = [f"Do you integrate with connector {i}?" if i % 2 else f"Question {i} about budgets?" for i in range(59)]
    texts.append("Do you integrate with NetSuite?")
    vectors = embedder.embed_passages(texts)
    now = utcnow()
    with company_kb.transaction() as session:
        # No explicit id: on PostgreSQL that would leave the id sequence behind for the `ask` below.
        topic_id = session.scalar(insert(Topic).values(title="t", status="new", created_at=now, updated_at=now)
                                  .returning(Topic.id))
        session.execute(insert(Question), [{
            "topic_id": topic_id, "text": text, "asked_at": now, "decision": "gap", "confidence": 0.0, "matches": [],
            "embedding": vector.tobytes(), "embedding_model": embedder.model_name, "dedup_key": f"k{i}",
            "created_at": now} for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))])
    after = idf()
    assert not after.is_uniform and after.documents == 60 and after.stopwords is content_stopwords(company_kb)
    assert after("integr") == pytest.approx(math.log(10))  # in half of them: as light as any word gets
    assert after("netsuit") == after("okta") == after.default == pytest.approx(math.log(61 / 3))  # rare, unseen
    assert after.common(["integr", "fernbrook"]) == {"fernbrook"}  # only the content names stopwords
    assert idf() is after  # kept warm until a question is added
    ask(company_kb, "Do you integrate with QuickBooks?")
    assert idf().documents == 61


def test_an_empty_knowledge_base_weighs_words_uniformly(make_kb):
    kb = make_kb()
    with kb.sessions() as session:
        idf = deployment_idf(kb, session)
    assert idf.is_uniform and content_stopwords(kb).is_uniform and idf.common(["fernbrook"]) == frozenset()
    first = ask(kb, "Is there an iOS or Android app?")
    found = match(kb, "Hi team, is there an iOS or Android app?")
    assert found is not None and found.topic_id == first["topic"]["id"]
    assert match(kb, "Do you integrate with NetSuite?") is None


def test_the_company_name_does_not_split_a_topic(company_kb):
    """"Fernbrook" is in most of the company's passages: a stopword of this deployment, not the rare word it
    would be without the content (then the rewording opens a topic of its own)."""
    first = ask(company_kb, "Do you support SSO with Okta?")
    found = match(company_kb, "Does Fernbrook support SSO with Okta?")
    assert found is not None and found.topic_id == first["topic"]["id"]
    text, embed = "Does Fernbrook support SSO with Okta?", company_kb.embedder.embed_query
    without_content = topic_matching.duplicate_model(company_kb).score(
        text, embed(text), [first["question"]], embed(first["question"])[None, :], idf=Idf.uniform())
    assert without_content[0] < topic_matching.duplicate_threshold(company_kb) <= found.probability


def test_look_alikes_stay_apart_and_paraphrases_join_on_a_small_knowledge_base(company_kb):
    sso = ask(company_kb, "Do you support SSO with Okta?")["topic"]["id"]
    netsuite = ask(company_kb, "Do you integrate with NetSuite?")["topic"]["id"]
    for paraphrase in ("Can we log in through Okta single sign-on?", "Can I use Okta for SSO?",
                       "Do you support single sign-on (SSO) with Okta?"):
        found = match(company_kb, paraphrase)
        assert found is not None and found.topic_id == sso, (paraphrase, found)
    for look_alike, topic in (("Do you support SCIM provisioning with Okta?", sso),
                              ("Do you support SSO with Azure AD?", sso), ("Do you integrate with SAP?", netsuite),
                              ("Do you integrate with Xero?", netsuite)):
        found = match(company_kb, look_alike)
        assert found is None or found.topic_id != topic, (look_alike, found)


@pytest.mark.slow
def test_demo_questions_grouping(mkb):
    """The 50 demo questions against their labels (held out: nothing is fitted on them). The figures are
    printed; the look-alikes must stay apart, and the one pair the model finds must join."""
    result = demo_grouping(mkb)
    print(json.dumps(result))
    assert result["imported"] == result["questions"] == 50
    assert result["lookalikes_merged"] == 0, result["merged_lookalikes"]
    assert result["duplicate_pairs_joined"] >= 1 and result["precision"] >= 0.5
