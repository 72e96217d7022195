"""The backlog: priority ordering and filters, the status workflow, owners, tags, due dates, notes, history,
and the same through ``kb backlog`` (CliRunner) and ``/api/v1/topics`` (Flask test client).

Topics and questions are written straight into a real SQLite database (questions without vectors: the
backlog never compares them); demand is computed by the real :func:`kb.demand.refresh_demand`.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from kb import demand
from kb.backlog import BacklogFilters, list_topics
from kb.backlog_terms import TRANSITIONS
from kb.cli import cli
from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    TOPIC_STATUSES,
    Notification,
    Question,
    SearchEvidence,
    Topic,
    TopicEvent,
    TopicNote,
    User,
    utcnow,
)
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.topic_changes import update_topic
from kb.topic_view import show_topic
from tests.support.web_client import logged_in
from web import create_app


# -- building a backlog directly in the database -------------------------------------------------------------
class Seed:
    """Users, content, topics and questions written straight into a session."""

    def __init__(self, kb, session) -> None:
        self.kb, self.session, self.now = kb, session, utcnow()
        self._n = itertools.count(1)
        self._site = None

    def user(self, email: str, role: str = "rep", *, active: bool = True) -> User:
        user = User(email=email, role=role, active=active)
        self.session.add(user)
        self.session.flush()
        return user

    def content(self, path: str, title: str):  # type: ignore[no-untyped-def]
        if self._site is None:
            self._site = add_site(self.session, SiteSettings(name="acme", base_url="https://www.acme.test/"))
        _, content = store_page(self.session, self._site.id, PageRecord(
            canonical_url=f"https://www.acme.test{path}", content_hash=f"h{next(self._n)}", title=title,
            passages=[PassageInput(text=f"{title}: the answer.")]))
        self.session.flush()
        return content

    def topic(self, title: str, asks=(), *, searches: int = 0, status: str = "new", created_days_ago: float = 0,
              **fields) -> Topic:
        """A topic asked by ``asks``: (user, days ago) or (user, days ago, question fields)."""
        topic = Topic(title=title, status=status, created_at=self.now - timedelta(days=created_days_ago), **fields)
        self.session.add(topic)
        self.session.flush()
        for ask in asks:
            self.ask(topic, *ask)
        for i in range(searches):
            self.session.add(SearchEvidence(topic_id=topic.id, query=f"{title} search {i}"))
        demand.refresh_demand(self.session, topic, self.kb.settings.backlog, self.now)
        self.session.flush()
        return topic

    def ask(self, topic: Topic, user: User | None, days_ago: float = 0, extra: dict | None = None) -> Question:
        n = next(self._n)
        question = Question(topic_id=topic.id, text=(extra or {}).pop("text", f"{topic.title} (ask {n})"),
                            asked_by=user, asked_at=self.now - timedelta(days=days_ago), dedup_key=f"q{n}",
                            embedding=None, **(extra or {}))
        self.session.add(question)
        self.session.flush()
        return question

    def refresh(self, topic: Topic) -> None:
        demand.refresh_demand(self.session, topic, self.kb.settings.backlog, self.now)
        self.session.flush()


@pytest.fixture
def kbase(make_kb):
    return make_kb()


@pytest.fixture
def seed(kbase):
    with kbase.transaction() as session:
        yield Seed(kbase, session)


@pytest.fixture
def people(seed):
    return add_people(seed)


def add_people(seed: Seed) -> dict[str, User]:
    """Two marketers (one deactivated), an admin and three reps."""
    return {
        "ana": seed.user("ana@acme.test", "marketer"),
        "root": seed.user("root@acme.test", "admin"),
        "bo": seed.user("bo@acme.test"),
        "cy": seed.user("cy@acme.test"),
        "di": seed.user("di@acme.test"),
        "ex": seed.user("ex@acme.test", "marketer", active=False),
    }


def listed(seed, **params) -> list[str]:
    filters = BacklogFilters.parse(seed.kb.settings, **params)
    return [t.title for t in list_topics(seed.session, seed.kb.settings, filters)]


def events(session, topic: Topic, action: str | None = None) -> list[TopicEvent]:
    stmt = select(TopicEvent).where(TopicEvent.topic_id == topic.id).order_by(TopicEvent.id)
    if action:
        stmt = stmt.where(TopicEvent.action == action)
    return list(session.scalars(stmt))


# -- priority and listing ------------------------------------------------------------------------------------------
@pytest.fixture
def ranked(seed, people):
    bo, cy, di = people["bo"], people["cy"], people["di"]
    return {
        "many": seed.topic("many reps, many asks", [(bo, 0), (cy, 1), (di, 2), (bo, 3), (cy, 4)]),
        "three_reps": seed.topic("three reps once", [(bo, 0), (cy, 0), (di, 0)]),
        "one_rep": seed.topic("one rep three times", [(bo, 0), (bo, 0), (bo, 0)]),
        "recent": seed.topic("asked once today", [(cy, 0)], created_days_ago=40),
        "old": seed.topic("asked once long ago", [(cy, 90)], created_days_ago=90),
    }


def test_priority_orders_by_asks_then_distinct_reps_then_recency(seed, ranked):
    assert listed(seed) == ["many reps, many asks", "three reps once", "one rep three times",
                            "asked once today", "asked once long ago"]
    scores = [ranked[k].priority for k in ("many", "three_reps", "one_rep", "recent", "old")]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 5
    assert ranked["three_reps"].priority - ranked["one_rep"].priority == pytest.approx(2.0)  # 3 reps vs 1


def test_other_sorts_and_limit(seed, ranked):
    assert listed(seed, sort="asks")[:2] == ["many reps, many asks", "three reps once"]
    assert listed(seed, sort="reps")[0] == "many reps, many asks"
    assert listed(seed, sort="age")[:2] == ["asked once long ago", "asked once today"]  # oldest first
    assert listed(seed, sort="recent")[-1] == "asked once long ago"
    assert listed(seed, sort="priority", limit=2) == ["many reps, many asks", "three reps once"]
    ranked["old"].due_source, ranked["old"].due_at = "manual", seed.now - timedelta(days=60)
    seed.session.flush()
    assert listed(seed, sort="due")[0] == "asked once long ago"
    with pytest.raises(ValidationError, match="unknown sort"):
        listed(seed, sort="loudest")
    with pytest.raises(ValidationError, match="limit"):
        listed(seed, limit=0)


def test_show_explains_the_priority_with_its_formula_and_parts(seed, ranked, people):
    topic = ranked["many"]
    seed.ask(topic, people["di"], 0, {"text": "Can we pay by invoice?", "company": "Globex",
                                       "deal_stage": "negotiation", "deal_value": 99_999.0, "source": "import"})
    seed.refresh(topic)
    data = show_topic(seed.session, seed.kb.settings, topic.id)
    breakdown = data["priority_breakdown"]
    assert "log2(1+asks)" in breakdown["formula"] and "half_life" in breakdown["formula"]
    assert set(breakdown["parts"]) == {"asks", "reps", "recency", "searches", "deal_value"}
    assert breakdown["parts"]["reps"] == pytest.approx(3.0)
    assert breakdown["parts"]["asks"] == pytest.approx(2.807, abs=1e-3)  # log2(1 + 6)
    assert breakdown["parts"]["deal_value"] == pytest.approx(2.5)  # 0.5 * log10(100000)
    assert breakdown["score"] == pytest.approx(sum(breakdown["parts"].values()), abs=0.01)
    assert data["ask_count"] == 6 and data["rep_count"] == 3
    last = data["questions"][-1]
    assert last["text"] == "Can we pay by invoice?" and last["asked_by"] == "di@acme.test"
    assert (last["company"], last["deal_stage"], last["source"], last["decision"]) == (
        "Globex", "negotiation", "import", "gap")
    assert data["allowed_statuses"] == list(TRANSITIONS["new"])
    assert data["overdue"] is False
    with pytest.raises(NotFoundError):
        show_topic(seed.session, seed.kb.settings, 999)


def test_stale_priorities_decay_when_listed(seed, people):
    topic = seed.topic("asked a month ago", [(people["bo"], 30), (people["cy"], 30)], created_days_ago=30)
    fresh = topic.priority
    # Pretend it was last computed when the asks were new: a high stored score, written two hours ago.
    seed.session.execute(update(Topic).where(Topic.id == topic.id).values(
        priority=50.0, priority_level="high", updated_at=seed.now - timedelta(hours=2)))
    assert listed(seed) == ["asked a month ago"]
    seed.session.refresh(topic)
    assert topic.priority == pytest.approx(fresh, abs=1e-6) and topic.priority_level == "medium"
    assert demand.as_utc(topic.due_at) == demand.as_utc(topic.created_at) + timedelta(days=14)  # medium SLA
    # Written within the hour: trusted as it is (no rewrite on every listing).
    seed.session.execute(update(Topic).where(Topic.id == topic.id).values(priority=50.0))
    listed(seed)
    seed.session.refresh(topic)
    assert topic.priority == 50.0


def test_filters_status_persona_stage_owner_overdue(seed, people):
    bo = people["bo"]
    seed.topic("open security", [(bo, 0)], persona="it-security", stage="engage", owner=people["ana"])
    seed.topic("planned finance", [(bo, 0)], status="planned", persona="finance")
    seed.topic("dropped", [(bo, 0)], status="wont_do", closed_at=seed.now)
    late = seed.topic("late one", [(bo, 0)], status="triaged")
    late.due_source, late.due_at = "manual", seed.now - timedelta(days=1)
    seed.session.flush()
    assert set(listed(seed)) == {"open security", "planned finance", "late one"}
    assert listed(seed, status=["wont_do"]) == ["dropped"]
    assert listed(seed, status=["won't do"]) == ["dropped"]  # as people type it
    assert set(listed(seed, status=["all"])) == {"open security", "planned finance", "dropped", "late one"}
    assert set(listed(seed, status=["planned,triaged"])) == {"planned finance", "late one"}
    assert listed(seed, status=["closed"]) == ["dropped"]
    assert listed(seed, persona="IT-Security") == ["open security"]
    assert listed(seed, stage="engage") == ["open security"]
    assert set(listed(seed, persona="none")) == {"late one"}
    assert listed(seed, owner="ana@acme.test") == ["open security"]
    assert set(listed(seed, owner="none")) == {"planned finance", "late one"}
    assert listed(seed, overdue=True) == ["late one"]
    with pytest.raises(ValidationError, match="unknown status"):
        listed(seed, status=["done"])
    with pytest.raises(ValidationError):
        listed(seed, persona="astronaut")
    with pytest.raises(ValidationError, match="no user"):
        listed(seed, owner="nobody@acme.test")


# -- the status workflow -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", TOPIC_STATUSES)
def test_every_status_transition(seed, people, start):
    answer = seed.content("/blog/answer/", "The answer")
    for target in TOPIC_STATUSES:
        if target == start:
            continue
        closed = start in CLOSED_STATUSES
        topic = seed.topic(f"{start} -> {target}", [(people["bo"], 0)], status=start,
                           closed_at=seed.now - timedelta(days=1) if closed else None,
                           answer_content_id=answer.id if start in ("published", "answered_existing") else None)
        changes = {"status": target}
        if target in ("published", "answered_existing") and topic.answer_content_id is None:
            changes["answer"] = answer.canonical_url
        if target not in TRANSITIONS[start]:
            with pytest.raises(ConflictError) as refused:
                update_topic(seed.kb, seed.session, topic.id, changes, user=people["ana"])
            assert f"from {start} to {target}" in str(refused.value)
            assert ", ".join(TRANSITIONS[start]) in str(refused.value)
            assert topic.status == start
            continue
        update_topic(seed.kb, seed.session, topic.id, changes, user=people["ana"])
        assert topic.status == target
        (event,) = events(seed.session, topic, "status")
        assert (event.old, event.new, event.user_id) == (start, target, people["ana"].id)
        if target in CLOSED_STATUSES:  # only open topics can close (a closed one only reopens)
            assert not closed and demand.as_utc(topic.closed_at) >= seed.now
        else:
            assert topic.closed_at is None
            assert topic.answer_content_id is None  # a reopened topic's old answer no longer counts


def test_the_transition_table_covers_every_status_and_reopens_only_to_new_or_triaged():
    assert set(TRANSITIONS) == set(TOPIC_STATUSES)
    for status in CLOSED_STATUSES:
        assert set(TRANSITIONS[status]) == {"new", "triaged"}
    for status in OPEN_STATUSES:
        assert "answered_existing" in TRANSITIONS[status] and "wont_do" in TRANSITIONS[status]


def test_closing_needs_the_answer_and_tells_the_askers(seed, people):
    post = seed.content("/blog/sso/", "SSO with Okta")
    topic = seed.topic("Do you support Okta?", [(people["bo"], 0), (people["cy"], 1), (people["bo"], 2)],
                       status="in_progress")
    with pytest.raises(ValidationError, match="needs the answer"):
        update_topic(seed.kb, seed.session, topic.id, {"status": "published"})
    with pytest.raises(ValidationError, match="no content"):
        update_topic(seed.kb, seed.session, topic.id, {"status": "published",
                                                        "answer": "https://www.acme.test/nope/"})
    with pytest.raises(ValidationError, match="goes with status"):
        update_topic(seed.kb, seed.session, topic.id, {"answer": str(post.id)})
    update_topic(seed.kb, seed.session, topic.id, {"status": "published", "answer": "https://www.acme.test/blog/sso"},
                 user=people["ana"])
    assert (topic.status, topic.answer_content_id) == ("published", post.id)
    answer_event = events(seed.session, topic, "answer")[-1]
    assert answer_event.new == post.canonical_url
    notes = list(seed.session.scalars(select(Notification).where(Notification.topic_id == topic.id)))
    assert sorted(n.user_id for n in notes) == sorted([people["bo"].id, people["cy"].id])  # once per rep
    assert all(n.kind == "answered" and post.canonical_url in n.message for n in notes)
    # Reopening clears the answer and tells them too.
    update_topic(seed.kb, seed.session, topic.id, {"status": "triaged"}, user=people["ana"])
    assert topic.answer_content_id is None and topic.closed_at is None
    kinds = seed.session.scalars(select(Notification.kind).where(Notification.topic_id == topic.id))
    assert sorted(kinds) == ["answered", "answered", "reopened", "reopened"]


def test_a_merged_topic_cannot_be_changed(seed, people):
    target = seed.topic("target", [(people["bo"], 0)])
    merged = seed.topic("merged", [(people["bo"], 0)], merged_into_id=target.id)
    with pytest.raises(ConflictError, match="merged into"):
        update_topic(seed.kb, seed.session, merged.id, {"status": "triaged"})


# -- owner, tags, due date, title, notes, history ---------------------------------------------------------------
def test_owner_must_be_an_active_marketer_or_admin(seed, people):
    topic = seed.topic("who owns it", [(people["bo"], 0)])
    update_topic(seed.kb, seed.session, topic.id, {"owner": "ANA@acme.test"}, user=people["root"])
    assert topic.owner_id == people["ana"].id
    update_topic(seed.kb, seed.session, topic.id, {"owner": "root@acme.test"}, user=people["root"])
    assert topic.owner_id == people["root"].id
    for bad, needle in (("bo@acme.test", "cannot own"), ("ex@acme.test", "cannot own"),
                        ("ghost@acme.test", "no user")):
        with pytest.raises(ValidationError, match=needle):
            update_topic(seed.kb, seed.session, topic.id, {"owner": bad})
    update_topic(seed.kb, seed.session, topic.id, {"owner": "none"}, user=people["ana"])
    assert topic.owner_id is None
    history = [(e.old, e.new, e.user_id) for e in events(seed.session, topic, "owner")]
    assert history == [(None, "ana@acme.test", people["root"].id),
                       ("ana@acme.test", "root@acme.test", people["root"].id),
                       ("root@acme.test", None, people["ana"].id)]


def test_a_marketers_tag_is_recorded_as_theirs_and_never_overwritten_by_suggestions(seed, people):
    from kb.tagging import TagSuggestion, apply_tags

    topic = seed.topic("SOC 2 report?", [(people["bo"], 0)], persona="finance", persona_source="suggested",
                       persona_confidence=0.41)
    update_topic(seed.kb, seed.session, topic.id, {"persona": " IT-Security ", "stage": "engage"},
                 user=people["ana"])
    assert (topic.persona, topic.persona_source, topic.stage, topic.stage_source) == (
        "it-security", "marketer", "engage", "marketer")
    (event,) = events(seed.session, topic, "persona")
    assert (event.old, event.new, event.detail["source"], event.detail["old_source"]) == (
        "finance", "it-security", "marketer", "suggested")
    apply_tags(topic, TagSuggestion("operations", 0.99, "delight", 0.99), persona="finance", stage="attract",
               source="rep")
    assert (topic.persona, topic.stage) == ("it-security", "engage")
    with pytest.raises(ValidationError):
        update_topic(seed.kb, seed.session, topic.id, {"persona": "astronaut"})
    update_topic(seed.kb, seed.session, topic.id, {"stage": "none"})
    assert topic.stage is None and topic.stage_source == "marketer"  # cleared on purpose stays clear


def test_due_date_by_hand_and_back_to_the_sla(seed, people):
    topic = seed.topic("due when", [(people["bo"], 0)])
    sla_due = demand.as_utc(topic.due_at)
    assert topic.priority_level == "medium"  # 1 ask + 1 rep + 1 (today) = 3.0
    assert sla_due == demand.as_utc(topic.created_at) + timedelta(days=14)
    update_topic(seed.kb, seed.session, topic.id, {"due": "2030-01-31"}, user=people["ana"])
    assert topic.due_source == "manual"
    assert demand.as_utc(topic.due_at) == datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC)
    seed.ask(topic, people["cy"], 0)
    seed.ask(topic, people["di"], 0)
    seed.refresh(topic)  # more demand: the level rises but a manual date stays
    assert topic.priority_level == "high" and demand.as_utc(topic.due_at).year == 2030
    update_topic(seed.kb, seed.session, topic.id, {"due": "SLA"}, user=people["ana"])
    assert topic.due_source == "sla"
    assert demand.as_utc(topic.due_at) == demand.as_utc(topic.created_at) + timedelta(days=7)  # high
    assert [(e.old, e.new) for e in events(seed.session, topic, "due")] == [
        (sla_due.date().isoformat(), "2030-01-31"),
        ("2030-01-31", (demand.as_utc(topic.created_at) + timedelta(days=7)).date().isoformat())]
    for bad in ("31/01/2030", "tomorrow", None):
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            update_topic(seed.kb, seed.session, topic.id, {"due": bad})
    update_topic(seed.kb, seed.session, topic.id, {"due": (seed.now - timedelta(days=2)).date().isoformat()})
    assert show_topic(seed.session, seed.kb.settings, topic.id)["overdue"] is True


def test_notes_title_and_history_say_who_when_what(seed, people):
    topic = seed.topic("sso?", [(people["bo"], 0)])
    before = utcnow()
    update_topic(seed.kb, seed.session, topic.id,
                 {"title": "  Do you support  SSO with Okta? ", "note": "Security asked twice this week.",
                  "status": "triaged"}, user=people["ana"])
    assert topic.title == "Do you support SSO with Okta?"
    (note,) = seed.session.scalars(select(TopicNote).where(TopicNote.topic_id == topic.id))
    assert (note.text, note.user_id) == ("Security asked twice this week.", people["ana"].id)
    data = show_topic(seed.session, seed.kb.settings, topic.id)
    assert data["notes"][0]["user"] == "ana@acme.test"
    changes = {e["action"]: e for e in data["history"]}
    assert changes["title"]["old"] == "sso?" and changes["title"]["new"] == "Do you support SSO with Okta?"
    assert changes["status"]["old"] == "new" and changes["status"]["new"] == "triaged"
    assert changes["note"]["new"] == "Security asked twice this week."
    for event in (changes["title"], changes["status"], changes["note"]):
        assert event["user"] == "ana@acme.test"
        assert datetime.fromisoformat(event["at"]).replace(tzinfo=UTC) >= before - timedelta(seconds=1)
    count = len(data["history"])
    update_topic(seed.kb, seed.session, topic.id, {"status": "triaged", "title": "Do you support SSO with Okta?"})
    assert len(events(seed.session, topic)) == count  # nothing changed, nothing recorded
    for changes_, needle in (({"note": "  "}, "non-empty"), ({}, "nothing to change"), ({"colour": "red"}, "unknown"),
                             ({"title": 5}, "non-empty"), ({"status": True}, "must be text")):
        with pytest.raises(ValidationError, match=needle):
            update_topic(seed.kb, seed.session, topic.id, changes_)


# -- the command line -------------------------------------------------------------------------------------------
@pytest.fixture
def cli_kb(tmp_path, monkeypatch, embedder, cli_model):
    """``kb --config <tmp>`` in-process, and a KnowledgeBase on the same database to seed it."""
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('instance_path = "instance"\n', encoding="utf-8")
    base = KnowledgeBase(load_settings(config, env={}), embedder=embedder)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, ["--config", str(config), *args], catch_exceptions=True)

    run.kb = base
    yield run
    base.close()


def seed_small_backlog(kbase) -> dict[str, int]:
    with kbase.transaction() as session:
        s = Seed(kbase, session)
        ana, bo, cy = s.user("ana@acme.test", "marketer"), s.user("bo@acme.test"), s.user("cy@acme.test")
        s.content("/blog/sso/", "SSO with Okta")
        big = s.topic("Do you support SSO with Okta?", [(bo, 0), (cy, 0, {"company": "Globex"}), (bo, 1)])
        small = s.topic("Is there a mobile app?", [(cy, 3)])
        dup = s.topic("Okta single sign-on?", [(cy, 0)])
        return {"big": big.id, "small": small.id, "dup": dup.id, "ana": ana.id,
                "question": s.session.scalars(select(Question.id).where(Question.topic_id == small.id)).one()}


def test_cli_list_show_update_merge_move(cli_kb):
    ids = seed_small_backlog(cli_kb.kb)
    table = cli_kb("backlog")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert "priority" in lines[0] and "title" in lines[0]
    assert "Do you support SSO with Okta?" in lines[1] and lines[1].split()[0] == str(ids["big"])
    assert lines[-1] == "3 topics"

    rows = json.loads(cli_kb("backlog", "--sort", "asks", "--json").stdout)
    assert [r["id"] for r in rows][0] == ids["big"] and rows[0]["ask_count"] == 3 and rows[0]["rep_count"] == 2

    shown = cli_kb("backlog", "show", str(ids["big"]))
    assert shown.exit_code == 0, shown.output
    assert "formula   asks_weight*log2(1+asks)" in shown.stdout
    assert "= asks 2.00 + reps 2.00 + recency" in shown.stdout
    assert "bo@acme.test" in shown.stdout and "Globex" in shown.stdout

    updated = cli_kb("backlog", "update", str(ids["big"]), "--status", "in progress", "--owner", "ana@acme.test",
                     "--note", "Writing it now", "--due", "2031-05-01", "--as", "ana@acme.test")
    assert updated.exit_code == 0, updated.output
    assert "status: new -> in_progress" in updated.stdout and "owner: - -> ana@acme.test" in updated.stdout
    data = json.loads(cli_kb("backlog", "show", str(ids["big"]), "--json").stdout)
    assert (data["status"], data["owner"], data["due_date"]) == ("in_progress", "ana@acme.test", "2031-05-01")
    assert data["notes"][0]["text"] == "Writing it now" and data["history"][-1]["user"] == "ana@acme.test"

    merged = cli_kb("backlog", "merge", str(ids["dup"]), str(ids["big"]), "--as", "ana@acme.test")
    assert merged.exit_code == 0, merged.output
    assert f"merged topic {ids['dup']} into topic {ids['big']}: 4 asks by 2 reps" in merged.stdout
    assert str(ids["dup"]) not in [line.split()[0] for line in cli_kb("backlog").stdout.splitlines()[1:-1]]

    moved = cli_kb("backlog", "move", str(ids["question"]), "--to", str(ids["big"]), "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["to"]["ask_count"] == 5 and json.loads(moved.stdout)["from"]["ask_count"] == 0


@pytest.mark.parametrize("args, code, needle", [
    (("backlog", "--status", "done"), 2, "unknown status"),
    (("backlog", "--sort", "loudest"), 2, "unknown sort"),
    (("backlog", "show", "999"), 3, "no topic 999"),
    (("backlog", "update", "{big}", "--status", "published"), 4, "cannot go from new to published"),
    (("backlog", "update", "{big}", "--owner", "bo@acme.test"), 2, "cannot own"),
    (("backlog", "update", "{big}", "--due", "soon"), 2, "YYYY-MM-DD"),
    (("backlog", "update", "{big}"), 2, "nothing to change"),
    (("backlog", "update", "{big}", "--status", "triaged", "--as", "ghost@acme.test"), 3, "no user"),
    (("backlog", "merge", "{big}", "{big}"), 4, "into itself"),
    (("backlog", "move", "999"), 3, "no question 999"),
])
def test_cli_mistakes_are_one_line_errors_with_exit_codes(cli_kb, args, code, needle):
    ids = seed_small_backlog(cli_kb.kb)
    result = cli_kb(*(a.format(**ids) for a in args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


# -- the API ------------------------------------------------------------------------------------------------------
@pytest.fixture
def api(make_kb):
    kbase = make_kb()
    ids = seed_small_backlog(kbase)
    client = logged_in(create_app(kbase, {"TESTING": True}), kbase, "ana@acme.test", "marketer")
    client.ids = ids
    return client


def test_api_lists_shows_and_updates_topics(api):
    ids = api.ids
    listed_ = api.get("/api/v1/topics")
    assert listed_.status_code == 200
    body = listed_.get_json()
    assert body["count"] == 3 and body["topics"][0]["id"] == ids["big"]
    assert api.get("/api/v1/topics?status=closed").get_json()["count"] == 0
    assert api.get("/api/v1/topics?status=new&status=triaged&limit=1").get_json()["count"] == 1
    assert api.get("/api/v1/topics?owner=none&overdue=false&sort=recent").get_json()["count"] == 3

    shown = api.get(f"/api/v1/topics/{ids['big']}").get_json()
    assert shown["priority_breakdown"]["parts"]["reps"] == pytest.approx(2.0) and len(shown["questions"]) == 3

    patched = api.api("patch", f"/api/v1/topics/{ids['big']}",
                        json={"status": "planned", "owner": "ana@acme.test"})
    assert patched.status_code == 200, patched.get_json()
    data = patched.get_json()
    assert (data["status"], data["owner"]) == ("planned", "ana@acme.test")
    assert data["history"][-1]["user"] == "ana@acme.test"

    note = api.api("post", f"/api/v1/topics/{ids['big']}/notes", json={"text": "Draft in review"})
    assert note.status_code == 201 and note.get_json()["text"] == "Draft in review"
    assert note.get_json()["user"] == "ana@acme.test"

    merged = api.api("post", f"/api/v1/topics/{ids['dup']}/merge", json={"into": ids["big"]})
    assert merged.status_code == 200
    assert merged.get_json()["target"]["ask_count"] == 4 and merged.get_json()["source"]["ask_count"] == 0
    assert ids["dup"] not in [t["id"] for t in api.get("/api/v1/topics").get_json()["topics"]]

    moved = api.api("post", f"/api/v1/questions/{ids['question']}/move", json={"to": None})
    assert moved.status_code == 200
    new_topic = moved.get_json()["to"]
    assert new_topic["id"] not in (ids["small"], ids["big"]) and new_topic["ask_count"] == 1


@pytest.mark.parametrize("method, path, body, status, needle", [
    ("get", "/api/v1/topics?status=done", None, 400, "unknown status"),
    ("get", "/api/v1/topics?sort=loudest", None, 400, "unknown sort"),
    ("get", "/api/v1/topics?limit=abc", None, 400, "limit"),
    ("get", "/api/v1/topics?overdue=maybe", None, 400, "overdue"),
    ("get", "/api/v1/topics?persona=astronaut", None, 400, "astronaut"),
    ("get", "/api/v1/topics?colour=red", None, 400, "unknown parameter"),
    ("get", "/api/v1/topics/999", None, 404, "no topic 999"),
    ("patch", "/api/v1/topics/999", {"status": "triaged"}, 404, "no topic 999"),
    ("patch", "/api/v1/topics/{big}", ["status"], 400, "JSON object"),
    ("patch", "/api/v1/topics/{big}", {"colour": "red"}, 400, "unknown field"),
    ("patch", "/api/v1/topics/{big}", {"status": "published"}, 409, "cannot go from new to published"),
    ("patch", "/api/v1/topics/{big}", {"status": "triaged", "as": "ghost@acme.test"}, 400, "unknown field 'as'"),
    ("patch", "/api/v1/topics/{big}", {"owner": "bo@acme.test"}, 400, "cannot own"),
    ("post", "/api/v1/topics/{big}/notes", {"text": ""}, 400, "non-empty"),
    ("post", "/api/v1/topics/{big}/merge", {"into": "seven"}, 400, "topic id"),
    ("post", "/api/v1/topics/{big}/merge", {"into": -1}, 404, "no topic -1"),
    ("post", "/api/v1/topics/{big}/merge", {"into": "#big"}, 409, "into itself"),
    ("post", "/api/v1/questions/999/move", {"to": None}, 404, "no question 999"),
    ("post", "/api/v1/questions/{question}/move", {"to": "#small"}, 409, "already in topic"),
    ("post", "/api/v1/questions/{question}/move", {"to": True}, 400, "topic id"),
])
def test_api_bad_requests_are_json_errors(api, method, path, body, status, needle):
    ids = api.ids
    if isinstance(body, dict):  # "#name": the id of that seeded topic
        body = {k: ids[v[1:]] if isinstance(v, str) and v.startswith("#") else v for k, v in body.items()}
    response = api.api(method, path.format(**ids), json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert needle in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_api_patch_with_a_non_json_body_is_400(api):
    response = api.api("patch", f"/api/v1/topics/{api.ids['big']}", data="status=triaged",
                         content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]["message"]
