"""Question intake on the demo site: answered or gap, matches, topics, tags, history; `kb ask` and the API.

Every test writes into its own copy of the session's crawled demo knowledge base (the SQLite file copied
with SQLite's backup API, the index folder copied as is), so the read-only ``demo_kb`` is never touched
and tests do not see each other's questions. The real session model embeds.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kb.cli import cli
from kb.content import PageRecord, PassageInput, store_page
from kb.demo.session import DEMO_QUESTIONS
from kb.errors import ConflictError, ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Question, Topic, TopicEvent
from kb.question_input import QuestionInput
from kb.question_results import get_question, list_questions
from kb.questions import submit_question
from kb.settings import SiteSettings
from kb.sites import add_site
from tests.support.demo_copy import copy_demo
from tests.support.web_client import logged_in
from web import create_app

KEY = json.loads((DEMO_QUESTIONS.parent / "questions_key.json").read_text(encoding="utf-8"))
QUESTIONS = {item["index"]: item for item in KEY["questions"]}


@pytest.fixture(scope="module")
def demo_template(demo_kb, tmp_path_factory) -> Path:
    return copy_demo(demo_kb, tmp_path_factory.mktemp("questions-demo") / "kb")


@pytest.fixture
def qkb(demo_kb, demo_template, tmp_path, embedder):
    """A fresh writable demo knowledge base for one test."""
    folder = tmp_path / "kb"
    shutil.copytree(demo_template, folder)
    kb = KnowledgeBase(replace(demo_kb.settings, instance_path=str(folder)), embedder=embedder)
    yield kb
    kb.close()


def ask(kb, text: str, **context):  # type: ignore[no-untyped-def]
    return submit_question(kb, QuestionInput(text, **context)).to_dict()


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3].split("#")[0]


# -- answered or gap -----------------------------------------------------------------------------------
# Labelled demo questions (kb/demo/questions_key.json) with a clear answer on the site, and gaps whose only
# mention is the robots-disallowed /internal/ page or nowhere at all.
ANSWERED = (19, 14, 26, 0)  # Growth plan price, Entra ID SSO, SAP S/4HANA, REST API with webhooks
GAPS = (1, 4, 16, 45)  # HIPAA BAA, Dynamics 365, multi-currency for LATAM, FedRAMP


def test_known_answered_and_gap_questions_on_the_demo_site(qkb):
    for index in ANSWERED:
        item = QUESTIONS[index]
        result = ask(qkb, item["question"], asked_by="sarah.kim@fernbrook.example")
        assert result["decision"] == "answered", (item["question"], result["confidence"], result["threshold"])
        assert result["confidence"] >= result["threshold"]
        assert item["path"] in [path_of(m["url"]) for m in result["matches"]], (item, result["matches"])
        assert result["topic"]["status"] == "answered_existing"
    for index in GAPS:
        item = QUESTIONS[index]
        result = ask(qkb, item["question"], asked_by="sarah.kim@fernbrook.example")
        assert result["decision"] == "gap", (item["question"], result["confidence"], result["threshold"])
        assert result["confidence"] < result["threshold"]
        assert result["topic"]["status"] == "new" and result["topic"]["new"]
        assert all("/internal/" not in m["url"] for m in result["matches"])


def add_video(kb) -> None:
    """A recording whose captions answer a question at 1:35 (the demo crawl has no caption passages yet)."""
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="videos", base_url="https://videos.fernbrook.test/"))
        store_page(session, site.id, PageRecord(
            canonical_url="https://videos.fernbrook.test/videos/out-of-office-delegation/", content_hash="v1",
            title="Out-of-office delegation in Fernbrook", kind="video", passages=[
                PassageInput(text="Welcome to this walkthrough of approval settings.", start_seconds=0.0),
                PassageInput(text="When a manager goes on vacation, their pending approvals move to the backup "
                                  "approver they chose in the out-of-office settings, so nothing waits.",
                             start_seconds=95.0, ordinal=1)]))
    kb.refresh_index()


def test_result_shows_matches_with_passages_links_and_timed_video_links(qkb):
    add_video(qkb)
    result = ask(qkb, "What happens to pending approvals when a manager goes on vacation?")
    video = next(m for m in result["matches"] if m["kind"] == "video")
    assert video["start_seconds"] == 95.0 and video["moment"] == "1:35"
    assert video["link"] == "https://videos.fernbrook.test/videos/out-of-office-delegation/#t=95"
    assert "backup approver" in video["passage"]
    assert set(result) >= {"question_id", "question", "decision", "confidence", "threshold", "matches", "topic",
                           "persona", "stage", "took_ms"}
    assert 1 <= len(result["matches"]) <= qkb.settings.questions.match_count
    for match in result["matches"]:
        assert set(match) >= {"content_id", "url", "link", "title", "kind", "passage", "heading_path",
                              "start_seconds", "moment", "score"}
        assert match["passage"] and match["url"].startswith("http")
    # stored with the question: what it was matched to and its vector
    with qkb.sessions() as session:
        question = session.get(Question, result["question_id"])
        assert question.matches == result["matches"] and question.decision == result["decision"]
        assert len(question.embedding) == 4 * 384 and question.embedding_model == qkb.embedder.model_name
        assert question.best_content_id == result["matches"][0]["content_id"]


# -- topics ------------------------------------------------------------------------------------------
def test_paraphrases_join_one_topic_and_lookalikes_stay_apart(qkb):
    first = ask(qkb, "What's the API rate limit?", asked_by="a@fernbrook.example")
    again = ask(qkb, "How many API calls per minute can our integration make before it gets throttled?",
                asked_by="b@fernbrook.example")
    reworded = ask(qkb, "Quick question: what's the API rate limit? Thanks!", asked_by="c@fernbrook.example")
    assert first["topic"]["new"] and not again["topic"]["new"] and not reworded["topic"]["new"]
    assert first["topic"]["id"] == again["topic"]["id"] == reworded["topic"]["id"]
    assert reworded["topic"]["ask_count"] == 3 and reworded["topic"]["rep_count"] == 3

    sso = ask(qkb, "Does Fernbrook support SSO with Okta?", asked_by="a@fernbrook.example")
    scim = ask(qkb, "Do you support SCIM provisioning with Okta, so leavers are deprovisioned automatically?",
               asked_by="a@fernbrook.example")
    growth = ask(qkb, "What does the Growth plan cost per year?", asked_by="a@fernbrook.example")
    enterprise = ask(qkb, "What does the Enterprise plan cost per year?", asked_by="a@fernbrook.example")
    ids = {r["topic"]["id"] for r in (first, sso, scim, growth, enterprise)}
    assert len(ids) == 5, [r["topic"] for r in (sso, scim, growth, enterprise)]


def test_other_reps_and_counts(qkb):
    text = "Is there an iOS or Android app?"
    one = ask(qkb, text, asked_by="maria.lopez@fernbrook.example")
    two = ask(qkb, text, asked_by="tom.becker@fernbrook.example")
    three = ask(qkb, "Is there an iOS or Android app?", asked_by="maria.lopez@fernbrook.example")
    assert one["topic"]["other_reps"] == 0 and two["topic"]["other_reps"] == 1
    assert three["topic"]["other_reps"] == 1  # Maria again: Tom is the only other rep
    assert three["topic"]["ask_count"] == 3 and three["topic"]["rep_count"] == 2
    anonymous = ask(qkb, text)
    assert anonymous["asked_by"] is None and anonymous["topic"]["other_reps"] == 2


def test_history_demand_and_question_list(qkb):
    first = ask(qkb, "Are you FedRAMP authorized?", asked_by="olivia.brooks@fernbrook.example", company="Ironbark",
                deal_stage="security review", deal_value=120000)
    ask(qkb, "Are you FedRAMP authorized?", asked_by="tom.becker@fernbrook.example")
    topic_id = first["topic"]["id"]
    with qkb.sessions() as session:
        actions = [e.action for e in session.scalars(select(TopicEvent).where(TopicEvent.topic_id == topic_id)
                                                     .order_by(TopicEvent.id))]
        topic = session.get(Topic, topic_id)
        assert actions[:2] == ["created", "asked"] and actions.count("asked") == 2
        assert topic.ask_count == 2 and topic.rep_count == 2 and topic.deal_value == 120000
        assert topic.priority > 0 and topic.due_at is not None and topic.last_asked_at is not None
    rows = list_questions(qkb, asked_by="olivia.brooks@fernbrook.example")
    assert [r["question"] for r in rows] == ["Are you FedRAMP authorized?"]
    assert rows[0]["status"] == "new" and rows[0]["topic"]["id"] == topic_id
    shown = get_question(qkb, first["question_id"]).to_dict()
    assert shown["topic"]["ask_count"] == 2 and shown["context"]["company"] == "Ironbark"


def test_the_reps_persona_and_stage_win_over_the_suggestion(qkb):
    result = ask(qkb, "Can you sign a HIPAA business associate agreement?", asked_by="a@fernbrook.example",
                 persona=" Finance ", stage="ENGAGE")
    assert result["persona"] == {"name": "finance", "confidence": 1.0, "source": "rep"}
    assert result["stage"]["name"] == "engage" and result["stage"]["source"] == "rep"
    assert result["suggested"]["persona"] == "it-security"  # what the model thought, shown but not applied
    later = ask(qkb, "Can you sign a HIPAA business associate agreement?", asked_by="b@fernbrook.example")
    assert later["topic"]["id"] == result["topic"]["id"]
    assert later["persona"]["name"] == "finance" and later["persona"]["source"] == "rep"  # not re-suggested


def test_joining_a_closed_topic_reports_its_answer(qkb):
    first = ask(qkb, "What does the Growth plan cost per year?", asked_by="a@fernbrook.example")
    assert first["topic"]["status"] == "answered_existing" and first["confirmed_answer"] is None
    later = ask(qkb, "What does the Growth plan cost per year?", asked_by="b@fernbrook.example")
    assert later["topic"]["id"] == first["topic"]["id"]
    assert later["confirmed_answer"]["content_id"] == first["matches"][0]["content_id"]


@pytest.mark.parametrize("fields, needle", [
    ({"text": "   \x00 "}, "empty"),
    ({"text": "x" * 1001}, "too long"),
    ({"text": "Hi?", "persona": "cfo"}, "unknown persona 'cfo'; valid personas: it-security, finance"),
    ({"text": "Hi?", "stage": "close"}, "unknown stage"),
    ({"text": "Hi?", "asked_by": "bob"}, "asked_by is not an e-mail address"),
    ({"text": "Hi?", "deal_value": -5}, "deal_value"),
    ({"text": "Hi?", "company": "c" * 201}, "company is too long"),
])
def test_bad_submissions_are_validation_errors(qkb, fields, needle):
    with pytest.raises(ValidationError, match=needle.replace("?", r"\?")):
        submit_question(qkb, QuestionInput(**fields))
    with qkb.sessions() as session:
        assert session.scalar(select(func.count(Question.id))) == 0


def test_the_same_submission_is_stored_once(qkb):
    when = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    submit_question(qkb, QuestionInput("Do you offer SAML SSO?", asked_by="a@fernbrook.example", asked_at=when))
    with pytest.raises(ConflictError):
        submit_question(qkb, QuestionInput("do you offer  SAML SSO?", asked_by="A@fernbrook.example", asked_at=when))
    # without a time it is stamped now: asking again later is a new ask
    ask(qkb, "Do you offer SAML SSO?", asked_by="a@fernbrook.example")
    with qkb.sessions() as session:
        assert session.scalar(select(func.count(Question.id))) == 2


# -- kb ask --------------------------------------------------------------------------------------------
@pytest.fixture
def kb_ask(qkb, tmp_path, monkeypatch, embedder, cli_model):
    """Run ``kb --config <config naming the copy> ...`` in process with the session model."""
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{qkb.settings.instance_dir}"\n', encoding="utf-8")
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(cli, ["--config", str(config), *args], catch_exceptions=True, **kw)


def test_kb_ask_prints_decision_matches_and_other_reps(kb_ask):
    first = kb_ask("ask", "What does the Growth plan cost per year?", "--as", "sarah.kim@fernbrook.example")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("ANSWERED: ")
    assert "1. " in first.stdout and "/pricing/" in first.stdout and "a new topic" in first.stdout
    second = kb_ask("ask", "What does the Growth plan cost per year?", "--as", "tom.becker@fernbrook.example",
                    "--persona", "finance", "--company", "Bluefin Freight", "--json")
    assert second.exit_code == 0, second.output
    data = json.loads(second.stdout)
    assert data["decision"] == "answered" and data["topic"]["other_reps"] == 1
    assert data["persona"]["name"] == "finance" and data["context"]["company"] == "Bluefin Freight"
    third = kb_ask("ask", "What does the Growth plan cost per year?", "--as", "olivia.brooks@fernbrook.example")
    assert "2 other reps asked this" in third.stdout
    gap = kb_ask("ask", "Are you FedRAMP authorized?")
    assert gap.stdout.startswith("GAP: ") and "content backlog" in gap.stdout
    listed = kb_ask("questions", "list", "--as", "tom.becker@fernbrook.example", "--json")
    assert [row["question"] for row in json.loads(listed.stdout)] == ["What does the Growth plan cost per year?"]


def test_kb_ask_file_gives_one_json_object_per_line_and_goes_on_after_a_bad_line(kb_ask, tmp_path):
    lines = tmp_path / "questions.txt"
    lines.write_text("What does the Growth plan cost per year?\n\n" + "x" * 1001 + "\nAre you FedRAMP authorized?\n",
                     encoding="utf-8")
    result = kb_ask("ask", "--file", str(lines), "--json", "--as", "sarah.kim@fernbrook.example")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 3, 4]
    assert records[0]["decision"] == "answered" and records[2]["decision"] == "gap"
    assert records[1]["error"]["code"] == "invalid" and "too long" in records[1]["error"]["message"]
    text = kb_ask("ask", "--file", str(lines))
    assert "line 3: error: the question is too long" in text.stdout and "line 4: GAP" in text.stdout


@pytest.mark.parametrize("args, needle", [
    ((), "give either a QUESTION or --file FILE"),
    (("Hi?", "--persona", "cfo"), "unknown persona"),
    (("--file", "/nonexistent/questions.txt"), "no such file"),
])
def test_kb_ask_mistakes_are_one_line_errors(kb_ask, args, needle):
    result = kb_ask("ask", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().startswith("error: ") and needle in result.stderr


def test_kb_ask_file_that_is_not_utf8_is_one_error(kb_ask, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Pouvez-vous signer un accord de confidentialité?\n".encode("latin-1"))
    result = kb_ask("ask", "--file", str(bad))
    assert result.exit_code == 2 and "not UTF-8" in result.stderr


# -- the API -------------------------------------------------------------------------------------------
@pytest.fixture
def client(qkb):
    return logged_in(create_app(qkb, {"TESTING": True}), qkb, "sarah.kim@fernbrook.example", "rep")


def test_api_post_question_is_201_with_the_result(client):
    response = client.api("post", "/api/v1/questions", json={
        "question": "What does the Growth plan cost per year?", "persona": "finance",
        "stage": "engage", "company": "Bluefin Freight", "deal_stage": "evaluation", "deal_value": 50000})
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    assert data["decision"] == "answered" and data["asked_by"] == "sarah.kim@fernbrook.example"
    assert data["source"] == "api" and data["context"]["deal_value"] == 50000
    assert response.headers["Location"].endswith(f"/api/v1/questions/{data['question_id']}")
    shown = client.get(f"/api/v1/questions/{data['question_id']}")
    assert shown.status_code == 200 and shown.get_json()["question"] == "What does the Growth plan cost per year?"
    assert client.get("/api/v1/questions/999999").status_code == 404


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "JSON object"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"company": "Acme"}).encode(), "'question' is required"),
    (json.dumps({"question": ""}).encode(), "empty"),
    (json.dumps({"question": 42}).encode(), "must be a string"),
    (json.dumps({"question": "Hi?", "persona": "cfo"}).encode(), "unknown persona"),
    (json.dumps({"question": "Hi?", "deal_value": "lots"}).encode(), "deal_value"),
    (json.dumps({"question": "Hi?", "as": "someone@else.example"}).encode(), "unknown field 'as'"),
    (json.dumps({"question": "Hi?", "priority": "high"}).encode(), "unknown field 'priority'"),
])
def test_api_bad_questions_are_400_json_errors(client, body, needle):
    response = client.api("post", "/api/v1/questions", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and needle in error["message"], error
