"""Recording searches as usage events (one row, impressions in its detail), writes that fail without breaking
the person's action (the table really dropped), and `kb usage` through click's CliRunner on a real KB."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kb.cli import cli
from kb.content import PageRecord, PassageInput, store_page
from kb.models import Question, UsageEvent, User
from kb.question_input import QuestionInput
from kb.questions import submit_question
from kb.search_filters import parse_filters
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.usage_counts import ReportWindow, usage_counts
from kb.usage_events import record_event, record_search
from tests.support.usage_seed import seed_usage

PAGES = {
    "/sso": ("Single sign-on with Okta", "Acme supports single sign-on with Okta, Azure AD and Google over SAML."),
    "/soc2": ("SOC 2 Type II report", "Acme holds a SOC 2 Type II report; customers can request it under NDA."),
    "/pricing": ("Pricing", "Acme costs 8 dollars per user per month, billed yearly, with nonprofit discounts."),
}


@pytest.fixture
def searchable(make_kb):
    """A real knowledge base with three indexed pages and one rep."""
    kb = make_kb()
    with kb.transaction() as s:
        s.add(User(email="bo@acme.test", name="Bo", role="rep"))
        site = add_site(s, SiteSettings(name="acme", base_url="https://www.acme.test/"))
        for path, (title, text) in PAGES.items():
            store_page(s, site.id, PageRecord(canonical_url=f"https://www.acme.test{path}", content_hash=path,
                                              title=title, passages=[PassageInput(text=text)]))
    kb.refresh_index()
    return kb


def events(kb) -> list[UsageEvent]:  # type: ignore[no-untyped-def]
    with kb.sessions() as s:
        return list(s.scalars(select(UsageEvent).order_by(UsageEvent.id)))


def test_a_search_is_one_event_whose_results_are_the_impressions(searchable):
    response = searchable.search("okta single sign-on", k=3)
    shown = [hit.content_id for hit in response.hits]
    filters = parse_filters(kinds=("page",))
    assert record_search(searchable, None, "  okta\x00 single sign-on ", filters, shown, user_email="BO@acme.test")
    (event,) = events(searchable)
    with searchable.sessions() as s:
        bo = s.scalar(select(User.id).where(User.email == "bo@acme.test"))
    assert (event.kind, event.query, event.user_id) == ("search", "okta single sign-on", bo)
    assert event.detail["results"] == shown and event.detail["filters"]["kinds"] == ["page"]
    today = event.at.date()
    with searchable.sessions() as s:
        tallies = usage_counts(s, today, today)
    impressions = {key[2]: value[0] for key, value in tallies.items() if key[1] == "impression"}
    assert impressions == dict.fromkeys(shown, 1)
    assert sum(v[0] for k, v in tallies.items() if k[1] == "search") == 1


def test_asking_a_question_records_its_search_with_the_question_and_asker(searchable):
    result = submit_question(searchable, QuestionInput(text="Do you support Okta SSO?", asked_by="bo@acme.test"))
    (event,) = events(searchable)
    with searchable.sessions() as s:
        question = s.get(Question, result.question_id)
        assert (event.kind, event.question_id, event.user_id, event.topic_id) == (
            "search", question.id, question.asked_by_id, question.topic_id)
    assert event.detail["results"] == [match["content_id"] for match in result.matches]


def test_failed_usage_writes_never_break_the_action(searchable, caplog):
    with searchable.engine.begin() as connection:  # a real failure: the table is gone
        connection.exec_driver_sql("DROP TABLE usage_events")
    shown = [hit.content_id for hit in searchable.search("pricing per user", k=2).hits]
    assert record_search(searchable, None, "pricing per user", None, shown) is False
    assert record_event(searchable, "copy_link", user_id=None, content_id=shown[0]) is None
    # The question is still taken, stored and answered although its usage event could not be written.
    result = submit_question(searchable, QuestionInput(text="How much does Acme cost per user?",
                                                       asked_by="bo@acme.test"))
    with searchable.sessions() as s:
        assert s.get(Question, result.question_id) is not None
    assert "search event" in caplog.text and "not recorded" in caplog.text


def test_bad_search_records_are_dropped_not_raised(searchable):
    assert record_search(searchable, None, "x", None, ["not an id"]) is False
    assert record_search(searchable, None, "x", {"tags": ["t" * 100] * 50}, [1]) is True  # oversized filters cut
    assert events(searchable)[-1].detail["filters"] == {"truncated": True}


# -- kb usage through the command line ---------------------------------------------------------------------
def config_for(kb) -> str:  # type: ignore[no-untyped-def]
    """A config file for `kb` commands on ``kb``'s instance and database (SQLite file or PostgreSQL)."""
    text = f'instance_path = "{Path(kb.settings.instance_dir).as_posix()}"\n'
    if kb.settings.database.url:
        text += f'[database]\nurl = "{kb.settings.database.url}"\n'
    return text


@pytest.fixture
def usage_cli(make_kb, cli_model, tmp_path):
    kb = make_kb()
    ids = seed_usage(kb)
    config = tmp_path / "config.toml"
    config.write_text(config_for(kb))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, ["--config", str(config), "usage", *args], catch_exceptions=True)

    run.ids = ids  # type: ignore[attr-defined]
    return run


def test_kb_usage_reports_in_text_json_and_csv(usage_cli):
    window = ["--since", "2026-09-01", "--until", "2026-09-30"]
    text = usage_cli("scorecard", *window)
    assert text.exit_code == 0, text.output
    assert "SSO guide" in text.output and "5 rows (2026-09-01 to 2026-09-30)" in text.output
    data = json.loads(usage_cli("unused", *window, "--format", "json").stdout)
    assert data["window"]["days"] == 30 and data["total"] == 4
    assert data["rows"][0]["verdict"] == "findability" and data["rows"][0]["title"] == "SOC 2 report"
    rows = list(csv.DictReader(io.StringIO(usage_cli("scorecard", *window, "--format", "csv",
                                                     "--persona", "it-security").stdout)))
    assert [row["title"] for row in rows] == ["SSO guide", "SOC 2 report"]
    assert rows[0]["sends"] == "2"
    leaders = usage_cli("leaderboard", *window, "--format", "csv").stdout
    assert leaders.splitlines()[1].startswith(f"{usage_cli.ids['bo']},Bo,4,1,1")
    top = json.loads(usage_cli("top", *window, "--by", "stage", "--format", "json").stdout)
    assert [row["title"] for row in top["groups"]["engage"]] == ["SSO guide", "SOC 2 report"]
    stale = usage_cli("stale", "--until", "2026-09-30", "--format", "csv").stdout
    assert "'=HYPERLINK" in stale  # formula injection defused


def test_kb_usage_rollup_and_bad_input(usage_cli):
    result = usage_cli("rollup", "--until", "2026-09-29", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["days_rolled"] > 0 and report["events_deleted"] == 0
    again = json.loads(usage_cli("rollup", "--until", "2026-09-29", "--json").stdout)
    assert again["days_rolled"] == 0  # nothing left to roll up
    bad = usage_cli("scorecard", "--since", "2026-09-30", "--until", "2026-09-01")
    assert bad.exit_code != 0 and "after it ends" in bad.stderr and "Traceback" not in bad.output
    bad = usage_cli("scorecard", "--sort", "nonsense")
    assert bad.exit_code != 0 and "unknown sort" in bad.stderr
    assert ReportWindow.parse("2026-09-01", "2026-09-30").days == 30


def test_kb_search_records_the_search_of_who_ran_it(searchable, cli_model, tmp_path):
    config = tmp_path / "search.toml"
    config.write_text(config_for(searchable))
    result = CliRunner().invoke(cli, ["--config", str(config), "search", "okta sso", "--as", "bo@acme.test",
                                      "--k", "2", "--json"], catch_exceptions=True)
    assert result.exit_code == 0, result.output
    shown = [hit["content_id"] for hit in json.loads(result.stdout)["results"]]
    (event,) = events(searchable)
    assert (event.kind, event.query, event.detail["results"]) == ("search", "okta sso", shown)
    assert event.user_id is not None
