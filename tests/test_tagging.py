"""Persona and stage suggestions: obvious questions, tag names, precedence of tags, learning from marketers.

Everything runs on the real all-MiniLM-L6-v2 (the session ``embedder``) and real SQLite files; the
corrections test writes marketer-tagged topics into the database and checks the next suggestion changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.errors import ValidationError
from kb.models import Question, Topic
from kb.settings import load_settings
from kb.tagging import (
    Prototypes,
    TaggedEvidence,
    TagSuggestion,
    apply_tags,
    check_tag,
    score_labels,
    suggest_tags,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tagging"


def suggest(kb, text: str) -> TagSuggestion:
    with kb.sessions() as session:
        return suggest_tags(kb, session, text, kb.embedder.embed_query(text))


# -- suggestions from descriptions and examples ------------------------------------------------------
def test_obvious_questions_get_the_expected_persona_and_stage(make_kb):
    kb = make_kb()
    sso = suggest(kb, "Do you support SAML SSO with Okta?")
    assert (sso.persona, sso.stage) == ("it-security", "engage")
    assert sso.persona_confidence >= 0.8 and sso.stage_confidence >= 0.4
    how_to = suggest(kb, "How do I add a new approver to my existing flow?")
    assert how_to.stage == "delight" and how_to.stage_confidence >= 0.5
    pricing = suggest(kb, "What does the Growth plan cost per user per year?")
    assert pricing.persona == "finance"
    data = sso.to_dict()
    assert data["persona"] == "it-security" and 0.8 <= data["persona_confidence"] <= 1.0


def test_nothing_convincing_suggests_none():
    """Two labels equally close: below the floor the suggestion is None, with the best label's confidence."""
    vectors = np.eye(2, dtype=np.float32)
    prototypes = Prototypes(("a", "b"), vectors, np.array([0, 1]))
    # Three labels equally close and a fourth without any prototype: 1/3 each is below the 0.4 floor.
    three = Prototypes(("a", "b", "c", "d"), np.eye(3, dtype=np.float32), np.array([0, 1, 2]))
    tied = score_labels(np.ones(3, dtype=np.float32) / np.sqrt(3), three)
    assert tied.label is None and tied.best in ("a", "b", "c") and tied.confidence == pytest.approx(1 / 3)
    assert tied.probabilities["d"] == 0.0
    clear = score_labels(np.array([1.0, 0.0], dtype=np.float32), prototypes)
    assert clear.label == "a" and clear.confidence > 0.99
    # A tagged topic right on the question outvotes the config; leaving it out (leave-one-out) undoes that.
    evidence = TaggedEvidence.from_groups([(np.array([[0.6, 0.8]], dtype=np.float32), 1)], 2)
    near_b = np.array([0.6, 0.8], dtype=np.float32)
    assert score_labels(near_b, prototypes).label == "b"
    toward_a = np.array([0.8, 0.6], dtype=np.float32)
    assert score_labels(toward_a, prototypes).label == "a"
    assert score_labels(toward_a, prototypes, TaggedEvidence.from_groups(
        [(np.array([[0.8, 0.6]], dtype=np.float32), 1)] * 3, 2)).label == "b"
    assert score_labels(near_b, prototypes, evidence, exclude_topic=0).probabilities == \
        score_labels(near_b, prototypes).probabilities


# -- tag names -----------------------------------------------------------------------------------
def test_check_tag_normalises_and_refuses_unknown_names():
    settings = load_settings(None, env={}, overrides={})
    assert check_tag(settings, "persona", "  IT-Security ") == "it-security"
    assert check_tag(settings, "persona", "IT Security") == "it-security"
    assert check_tag(settings, "stage", "Delight") == "delight"
    assert check_tag(settings, "stage", None) is None
    assert check_tag(settings, "persona", "   ") is None
    with pytest.raises(ValidationError) as error:
        check_tag(settings, "persona", "Legal")
    message = error.value.message
    assert "'Legal'" in message
    for name in ("it-security", "finance", "procurement", "operations"):
        assert name in message
    with pytest.raises(ValidationError, match="attract, engage, delight"):
        check_tag(settings, "stage", "awareness")
    with pytest.raises(ValidationError, match="tag kind"):
        check_tag(settings, "colour", "red")  # type: ignore[arg-type]


# -- precedence ----------------------------------------------------------------------------------
SUGGESTION = TagSuggestion("finance", 0.72, "engage", 0.65)


def tags(topic: Topic) -> tuple:
    return (topic.persona, topic.persona_confidence, topic.persona_source,
            topic.stage, topic.stage_confidence, topic.stage_source)


def test_suggestion_fills_empty_tags_and_replaces_only_suggestions():
    topic = Topic(title="t")
    apply_tags(topic, SUGGESTION)
    assert tags(topic) == ("finance", 0.72, "suggested", "engage", 0.65, "suggested")
    apply_tags(topic, TagSuggestion("operations", 0.5, None, 0.3))
    # A newer suggestion replaces a suggestion; "nothing convincing" does not clear the earlier one.
    assert tags(topic) == ("operations", 0.5, "suggested", "engage", 0.65, "suggested")


def test_rep_tag_wins_over_suggestion_and_suggestion_never_overwrites_it():
    topic = Topic(title="t")
    apply_tags(topic, SUGGESTION, persona="operations", source="rep")
    assert tags(topic) == ("operations", 1.0, "rep", "engage", 0.65, "suggested")
    apply_tags(topic, TagSuggestion("finance", 0.99, "delight", 0.99))
    assert tags(topic) == ("operations", 1.0, "rep", "delight", 0.99, "suggested")
    apply_tags(topic, None, stage="attract", source="rep")
    assert (topic.stage, topic.stage_source) == ("attract", "rep")
    apply_tags(topic, SUGGESTION)
    assert (topic.persona, topic.stage) == ("operations", "attract")


def test_marketer_tag_is_never_overwritten_by_rep_or_suggestion():
    topic = Topic(title="t")
    apply_tags(topic, SUGGESTION, persona="operations", stage="attract", source="rep")
    apply_tags(topic, None, persona="procurement", source="marketer")
    assert (topic.persona, topic.persona_confidence, topic.persona_source) == ("procurement", 1.0, "marketer")
    apply_tags(topic, SUGGESTION, persona="finance", stage="engage", source="rep")
    assert (topic.persona, topic.persona_source) == ("procurement", "marketer")
    assert (topic.stage, topic.stage_source) == ("engage", "rep")  # the stage was a rep's: the later rep wins
    apply_tags(topic, None, persona="finance", source="marketer")  # a marketer may change a marketer's tag
    assert topic.persona == "finance"
    with pytest.raises(ValidationError):
        apply_tags(topic, None, persona="finance", source="suggested")


# -- marketers' corrections teach ----------------------------------------------------------------
LEGAL_TOPICS = [
    "Will you sign our mutual NDA before we share requirements?",
    "Can our lawyers redline your master services agreement?",
    "Which country's law governs your terms of service?",
    "Do you accept unlimited liability for data breaches in the contract?",
]
NEW_QUESTION = "Can you sign an NDA with us before the security review?"


def add_topic(kb, session, text: str, *, persona: str | None = None, source: str | None = None) -> Topic:
    topic = Topic(title=text, persona=persona, persona_source=source, persona_confidence=1.0 if persona else None)
    session.add(topic)
    session.flush()
    session.add(Question(
        topic_id=topic.id, text=text, dedup_key=hashlib.sha256(text.encode()).hexdigest(),
        embedding=kb.embedder.embed_query(text).astype(np.float32).tobytes(), embedding_model=kb.embedder.model_name,
    ))
    return topic


def test_marketer_corrections_teach_similar_questions(make_kb):
    personas = [asdict(p) for p in load_settings(None, env={}, overrides={}).personas]
    personas.append({"name": "legal", "description": "Other questions.", "examples": []})
    kb = make_kb({"personas": personas})

    before = suggest(kb, NEW_QUESTION)  # also warms the caches, which must notice the tags below
    assert before.persona != "legal"

    with kb.transaction() as session:
        ids = [add_topic(kb, session, text, persona="legal", source="rep").id for text in LEGAL_TOPICS]
        add_topic(kb, session, "Is there a REST API for purchase orders?", persona="it-security", source="marketer")
    assert suggest(kb, NEW_QUESTION).persona != "legal", "a rep's tags are not corrections"

    with kb.transaction() as session:
        for topic_id in ids:
            session.get(Topic, topic_id).persona_source = "marketer"
    after = suggest(kb, NEW_QUESTION)
    assert after.persona == "legal" and after.persona_confidence >= 0.5
    # Unrelated questions keep their persona: a few tagged topics do not take over everything.
    assert suggest(kb, "Do you support SAML SSO with Okta?").persona == "it-security"

    with kb.transaction() as session:  # the marketer changes their mind: the evidence follows
        for topic_id in ids:
            session.get(Topic, topic_id).persona = "procurement"
    assert suggest(kb, NEW_QUESTION).persona == "procurement"


def test_tags_no_longer_configured_are_ignored(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        for text in LEGAL_TOPICS:
            add_topic(kb, session, text, persona="legal", source="marketer")
    suggestion = suggest(kb, NEW_QUESTION)
    assert suggestion.persona != "legal"


# -- the eval command ------------------------------------------------------------------------------
@pytest.fixture
def run_cli(tmp_path, monkeypatch, embedder, cli_model):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('instance_path = "instance"\n', encoding="utf-8")

    def run(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=True)

    return run


def test_eval_tagging_command(run_cli, tmp_path):
    result = run_cli("eval", "tagging", str(FIXTURES / "tiny.csv"), "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.stdout)
    assert report["questions"] == 8
    assert any(p.startswith("line 9:") and "'legal'" in p for p in report["problems"])
    assert any(p.startswith("line 10:") and "empty question" in p for p in report["problems"])
    persona, stage = report["persona"], report["stage"]
    assert persona["rows"] == 5 and stage["rows"] == 6
    assert persona["label_counts"] == {"it-security": 2, "finance": 2, "operations": 1}
    for method in ("config", "corrections"):
        for kind in (persona, stage):
            assert 0.0 <= kind[method]["accuracy"] <= 1.0 and 0.0 <= kind[method]["coverage"] <= 1.0
    assert persona["config"]["accuracy"] >= 0.8  # the easy fixture questions are close to the config examples

    text = run_cli("eval", "tagging", str(FIXTURES / "tiny.csv"))
    assert text.exit_code == 0, text.output
    assert "+ marketer corrections" in text.output and "skipped line 9" in text.output

    bad = tmp_path / "bad.csv"
    bad.write_text("text,persona\nhello,finance\n", encoding="utf-8")
    result = run_cli("eval", "tagging", str(bad))
    assert result.exit_code == 2 and "no 'question' column" in result.stderr
    assert "Traceback" not in result.output
