"""Users (add, list, roles, the last admin) and demand on a topic (counts, priority formula, SLA due date)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from kb import demand
from kb.cli import cli
from kb.db import make_engine, make_sessionmaker, upgrade
from kb.errors import ConflictError, ValidationError
from kb.models import Question, SearchEvidence, Topic
from kb.settings import BacklogSettings
from kb.users import add_user, list_users, set_role, user_for_asker

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def test_users_are_unique_by_normalised_email_and_roles_are_checked(session):
    user = add_user(session, "  Ana@Example.COM ", name="Ana", role="marketer")
    assert user.email == "ana@example.com"
    with pytest.raises(ConflictError):
        add_user(session, "ana@example.com")
    with pytest.raises(ValidationError, match="not an e-mail"):
        add_user(session, "ana")
    with pytest.raises(ValidationError, match="unknown role"):
        add_user(session, "bo@example.com", role="boss")
    assert user_for_asker(session, "ANA@example.com").id == user.id
    rep = user_for_asker(session, "new.rep@example.com")
    assert rep.role == "rep" and user_for_asker(session, "") is None
    assert [u.email for u in list_users(session, role="rep")] == ["new.rep@example.com"]


def test_the_last_admin_cannot_be_demoted(session):
    add_user(session, "root@example.com", role="admin")
    with pytest.raises(ConflictError, match="last admin"):
        set_role(session, "root@example.com", "rep")
    add_user(session, "second@example.com", role="admin")
    assert set_role(session, "root@example.com", "rep").role == "rep"


def test_users_cli_add_list_set_role(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('instance_path = "instance"\n')
    run = CliRunner()

    def kb(*args, input=None):
        return run.invoke(cli, ["--config", str(config), *args], input=input)

    weak = kb("users", "add", "boss@example.com", "--admin", "--password-stdin", input="password\n")
    assert weak.exit_code == 2 and "most common" in weak.stderr  # nothing stored: the e-mail is still free
    prompted = kb("users", "add", "boss@example.com", "--admin", input="long enough phrase\nlong enough phrase\n")
    assert prompted.exit_code == 0, prompted.output
    invited = kb("users", "add", "rep@example.com", "--name", "Rep One")
    assert invited.exit_code == 0 and "/invitation/" in invited.stdout
    duplicate = kb("users", "add", "rep@example.com")
    assert duplicate.exit_code == 4 and "already exists" in duplicate.stderr
    assert kb("users", "set-role", "rep@example.com", "marketer").exit_code == 0
    rows = json.loads(kb("users", "list", "--json").stdout)
    assert {(r["email"], r["role"], r["has_password"]) for r in rows} == {
        ("boss@example.com", "admin", True), ("rep@example.com", "marketer", False)}
    assert kb("users", "set-role", "nobody@example.com", "rep").exit_code == 3
    assert kb("users", "disable", "boss@example.com").exit_code == 4  # the last admin
    assert kb("users", "disable", "rep@example.com").exit_code == 0
    assert "(disabled)" in kb("users", "list").stdout
    assert kb("users", "enable", "rep@example.com").exit_code == 0
    assert kb("users", "set-password", "rep@example.com", "--password-stdin", input="another fine phrase\n").exit_code == 0
    assert "/invitation/" in kb("users", "invite", "boss@example.com").stdout


def ask(session, topic, who, days_ago, deal=None):
    session.add(Question(topic=topic, text="q", asked_by=who, asked_at=NOW - timedelta(days=days_ago),
                         deal_value=deal, dedup_key=f"{topic.title}-{who.email}-{days_ago}-{deal}"))


def test_demand_counts_priority_parts_and_due_date(session):
    cfg = BacklogSettings()
    ana, bo = add_user(session, "ana@example.com"), add_user(session, "bo@example.com")
    topic = Topic(title="SSO?", created_at=NOW - timedelta(days=1))
    session.add(topic)
    ask(session, topic, ana, 0)
    ask(session, topic, ana, 14)
    ask(session, topic, bo, 0, deal=99_999)
    session.add(SearchEvidence(topic_id=None, query="sso okta saml"))
    session.flush()
    session.add(SearchEvidence(topic_id=topic.id, query="okta sso setup"))
    result = demand.refresh_demand(session, topic, cfg, NOW)
    assert (topic.ask_count, topic.rep_count, topic.search_count) == (3, 2, 1)
    assert topic.deal_value == 99_999
    assert result.parts["asks"] == pytest.approx(2.0)  # log2(1 + 3)
    assert result.parts["reps"] == pytest.approx(2.0)
    assert result.parts["recency"] == pytest.approx(2.5)  # 1 + 1 + 0.5 (one half-life old)
    assert result.parts["searches"] == pytest.approx(0.5)
    assert result.parts["deal_value"] == pytest.approx(2.5)  # 0.5 * log10(100000)
    assert result.score == pytest.approx(9.5) and result.level == "high"
    assert topic.due_at == topic.created_at + timedelta(days=7)
    assert "log2(1+asks)" in result.to_dict()["formula"]

    topic.due_source, fixed = "manual", NOW + timedelta(days=90)
    topic.due_at = fixed
    demand.refresh_demand(session, topic, cfg, NOW)
    assert topic.due_at == fixed  # a due date set by hand is kept


def test_priority_levels_follow_the_thresholds():
    cfg = BacklogSettings()
    low = demand.priority(1, 1, [NOW - timedelta(days=365)], 0, 0.0, cfg, NOW)
    assert low.level == "low" and low.score == pytest.approx(2.0, abs=0.01)
    medium = demand.priority(1, 1, [NOW], 0, 0.0, cfg, NOW)
    assert medium.level == "medium" and medium.score == pytest.approx(3.0)
