"""The weekly review through the web app (pages, meeting mode, forms, exports, print view), the JSON API
and ``kb review`` on the command line, against a real SQLite knowledge base seeded as in test_review.

One knowledge base and one logged-in client per role for the module (logging in costs ~0.6 s); tests that
record decisions use their own topics, so the order of the tests does not matter.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kb.cli import cli
from kb.models import ReviewDecision, Topic
from kb.weeks import current_week
from tests.support.web_client import api_token, browser, logged_in
from tests.test_review import PREV, WEEK, XSS, at, seed_review
from web import create_app

OLD, LATER = "2026-W38", "2026-W41"  # decisions of tests that write go to weeks whose agenda no other test reads


@pytest.fixture(scope="module")
def site(make_module_kb):
    kb = make_module_kb(name="review")
    ids = seed_review(kb)
    with kb.transaction() as s:
        hostile = Topic(title=XSS, created_at=at(29), priority=100.0)
        s.add(hostile)
        s.flush()
        ids["xss"] = hostile.id
    app = create_app(kb, {"TESTING": True})
    clients = {"rep": logged_in(app, kb, "bo@acme.test", "rep"), "marketer": logged_in(app, kb, "ana@acme.test",
                                                                                        "marketer")}
    return app, kb, ids, clients


def decision(kb, topic_id: int, week: str = WEEK):  # type: ignore[no-untyped-def]
    with kb.sessions() as s:
        row = s.scalar(select(ReviewDecision).where(ReviewDecision.week == week, ReviewDecision.topic_id == topic_id))
        return None if row is None else (row.decision, row.note)


# -- pages ----------------------------------------------------------------------------------------------------
def test_review_redirects_to_the_current_week(site):
    _, _, _, clients = site
    response = clients["rep"].get("/review/")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/review/{current_week()}")


def test_week_page_shows_the_agenda_with_sparklines_escaped(site):
    _, _, ids, clients = site
    response = clients["rep"].get(f"/review/{WEEK}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Week 40, Sep 28 – Oct 04, 2026" in html
    for text in ("Do you support SSO with Okta?", "API rate limits", "Case study for retail", "Retail case study",
                 "Webinar recap", "SLA status", f'href="/review/{PREV}"', 'href="/review/2026-W41"'):
        assert text in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="sparkline"') == 5
    assert 'role="img" aria-label="Asks per week for Do you support SSO with Okta?: 0, 0, 0, 0, 0, 0, 2, 4"' in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'aria-label="Asks per week for &lt;script&gt;alert(1)&lt;/script&gt; | =cmd &quot;quoted&quot;' in html
    assert f'href="/review/{WEEK}.md"' in html and f'href="/review/{WEEK}.csv"' in html
    assert re.search(r'<a href="/review/[^"]*"[^>]*aria-current="page">Review</a>', html)  # the nav entry is active


@pytest.mark.parametrize("path", ["/review/2026-48", "/review/2026-W99", "/review/2026-W99/meeting",
                                  "/review/nope.md", "/review/nope.csv", "/review/nope/print"])
def test_bad_week_is_a_400_page_with_a_message(site, path):
    _, _, _, clients = site
    response = clients["rep"].get(path)
    assert response.status_code == 400
    assert "week" in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_meeting_mode_walks_the_agenda(site):
    _, _, ids, clients = site
    first = clients["marketer"].get(f"/review/{WEEK}/meeting").get_data(as_text=True)
    assert "Topic 1 of 5" in first and "&lt;script&gt;alert(1)" in first  # the hostile topic has priority 100
    second = clients["marketer"].get(f"/review/{WEEK}/meeting?item=2").get_data(as_text=True)
    assert "Topic 2 of 5" in second and "Do you support SSO with Okta?" in second
    assert "How reps asked it" in second and "Do you support SSO with Okta? (wording" in second
    assert 'name="csrf_token"' in second and 'name="decision" value="write"' in second
    assert '<option value="ana@acme.test"' in second and '<option value="root@acme.test"' in second
    assert '<option value="bo@acme.test"' not in second  # reps cannot own decisions
    assert 'width="360" height="72"' in second  # the big trend chart
    done = clients["marketer"].get(f"/review/{WEEK}/meeting?item=6").get_data(as_text=True)
    assert "All topics reviewed" in done
    assert "All topics reviewed" in clients["marketer"].get(f"/review/{WEEK}/meeting?item=70").get_data(as_text=True)
    assert clients["marketer"].get(f"/review/{WEEK}/meeting?item=0").status_code == 400
    assert clients["marketer"].get(f"/review/{WEEK}/meeting?item=x").status_code == 400


def test_reps_follow_the_meeting_but_cannot_decide(site):
    _, kb, ids, clients = site
    page = clients["rep"].get(f"/review/{WEEK}/meeting?item=2").get_data(as_text=True)
    assert "Marketers record the decisions" in page and 'name="decision"' not in page
    response = clients["rep"].form(f"/review/{WEEK}/decisions", {"topic_id": ids["b"], "decision": "defer"})
    assert response.status_code == 403 and decision(kb, ids["b"]) is None
    api = clients["rep"].api("post", f"/api/v1/review/{WEEK}/decisions", json={"topic_id": ids["b"],
                                                                                "decision": "defer"})
    assert api.status_code == 403 and decision(kb, ids["b"]) is None


def test_recording_a_decision_needs_the_csrf_token(site):
    _, kb, ids, clients = site
    client = clients["marketer"]
    response = client.post(f"/review/{WEEK}/decisions", data={"topic_id": ids["c"], "decision": "defer"})
    assert response.status_code == 400 and decision(kb, ids["c"]) is None
    forged = client.post(f"/review/{WEEK}/decisions", data={"csrf_token": "forged", "topic_id": ids["c"],
                                                            "decision": "defer"})
    assert forged.status_code == 400 and decision(kb, ids["c"]) is None


def test_save_and_next_records_the_decision_and_moves_on(site):
    app, kb, ids, clients = site
    client = clients["marketer"]
    response = client.form(f"/review/{OLD}/decisions", {
        "topic_id": ids["b"], "position": "2", "decision": "write", "owner": "ana@acme.test",
        "note": "<img src=x onerror=alert(1)>", "content": "", "merge_into": "", "after": "next"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/review/{OLD}/meeting?item=3")
    assert decision(kb, ids["b"], OLD) == ("write", "<img src=x onerror=alert(1)>")
    with kb.sessions() as s:
        assert s.get(Topic, ids["b"]).status == "planned"
    assert "Decision saved for topic" in client.get(response.headers["Location"]).get_data(as_text=True)
    page = client.get(f"/review/{OLD}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    # "Save" stays on the item; a refused decision says why and changes nothing.
    stay = client.form(f"/review/{OLD}/decisions", {"topic_id": ids["b"], "position": "2", "decision": "write",
                                                     "owner": "ana@acme.test", "after": "stay"})
    assert stay.headers["Location"].endswith("item=2")
    bad = client.form(f"/review/{OLD}/decisions", {"topic_id": ids["b"], "position": "2", "decision": "write",
                                                    "owner": "bo@acme.test"})
    assert bad.status_code == 303 and bad.headers["Location"].endswith("item=2")
    assert "Decision not saved: bo@acme.test cannot own topics" in client.get(bad.headers["Location"]).get_data(
        as_text=True)
    assert decision(kb, ids["b"], OLD) == ("write", "")
    missing = client.form(f"/review/{OLD}/decisions", {"topic_id": "x", "decision": "defer"})
    assert missing.status_code == 303 and missing.headers["Location"].endswith(f"/review/{OLD}")


def test_exports_download_with_names_and_types(site):
    _, _, ids, clients = site
    md = clients["rep"].get(f"/review/{WEEK}.md")
    assert md.status_code == 200 and md.mimetype == "text/markdown"
    assert md.headers["Content-Disposition"] == 'attachment; filename="smarketing-review-2026-W40.md"'
    assert md.get_data(as_text=True).startswith("# Smarketing review 2026-W40")
    data = clients["rep"].get(f"/review/{WEEK}.csv")
    assert data.status_code == 200 and data.mimetype == "text/csv"
    assert data.headers["Content-Disposition"] == 'attachment; filename="smarketing-review-2026-W40.csv"'
    rows = list(csv.DictReader(io.StringIO(data.get_data(as_text=True))))
    assert {row["title"] for row in rows} >= {"Do you support SSO with Okta?", XSS}


def test_print_view_has_no_navigation(site):
    _, _, _, clients = site
    response = clients["rep"].get(f"/review/{WEEK}/print")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Smarketing review 2026-W40" in html
    assert 'aria-label="Main"' not in html and "Log out" not in html and 'class="sparkline"' in html
    assert "&lt;script&gt;alert(1)" in html and "<script>alert" not in html


# -- API ------------------------------------------------------------------------------------------------------
def test_api_agenda_json(site):
    app, kb, ids, clients = site
    headers = api_token(kb, "cy@acme.test", "rep")
    response = app.test_client().get(f"/api/v1/review/{WEEK}?top=3", headers=headers)
    body = response.get_json()
    assert response.status_code == 200 and body["week"] == WEEK and len(body["items"]) <= 5
    assert {"items", "new_topics", "closed_topics", "content_published", "sla", "decisions", "counts"} <= set(body)
    item = app.test_client().get(f"/api/v1/review/{WEEK}/items/2", headers=headers).get_json()
    assert item["position"] == 2 and item["item"]["title"] and "wordings" in item and "agenda" not in item
    unknown = app.test_client().get(f"/api/v1/review/{WEEK}?limit=5", headers=headers)
    assert unknown.status_code == 400 and "unknown parameter 'limit'" in unknown.get_json()["error"]["message"]
    bad_week = app.test_client().get("/api/v1/review/2026-W77", headers=headers)
    assert bad_week.status_code == 400 and bad_week.get_json()["error"]["code"] == "invalid"
    bad_top = app.test_client().get(f"/api/v1/review/{WEEK}?top=500", headers=headers)
    assert bad_top.status_code == 400 and "top" in bad_top.get_json()["error"]["message"]


def test_api_records_decisions_as_the_caller(site):
    app, kb, ids, _ = site
    headers = api_token(kb, "root@acme.test", "admin")
    response = app.test_client().post(f"/api/v1/review/{LATER}/decisions", headers=headers, json={
        "topic_id": ids["g"], "decision": "answered", "content_id": str(ids["x"]), "note": "send the case study"})
    body = response.get_json()
    assert response.status_code == 201, body
    assert (body["decision"], body["decided_by"], body["content"]["id"]) == ("answered", "root@acme.test", ids["x"])
    assert decision(kb, ids["g"], LATER) == ("answered", "send the case study")
    for payload, message in (
        ({"topic_id": "1", "decision": "defer"}, "topic_id"),
        ({"topic_id": ids["a"], "decision": "write"}, "owner"),
        ({"topic_id": ids["g"], "decision": "defer", "as": "ana@acme.test"}, "unknown field 'as'"),
        ({"topic_id": ids["g"], "decision": ["defer"]}, "'decision' must be text"),
        ({"topic_id": ids["g"], "decision": "defer", "note": 5}, "note must be text"),
    ):
        bad = app.test_client().post(f"/api/v1/review/{LATER}/decisions", headers=headers, json=payload)
        assert bad.status_code == 400 and message in bad.get_json()["error"]["message"], (payload, bad.get_json())
    missing = app.test_client().post(f"/api/v1/review/{LATER}/decisions", headers=headers,
                                     json={"topic_id": 999999, "decision": "defer"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    rep = app.test_client().post(f"/api/v1/review/{LATER}/decisions", headers=api_token(kb, "cy@acme.test"),
                                 json={"topic_id": ids["a"], "decision": "defer"})
    assert rep.status_code == 403 and decision(kb, ids["a"], LATER) is None


def test_anonymous_is_sent_to_log_in(site):
    app, _, _, _ = site
    client = browser(app)
    assert client.get(f"/review/{WEEK}").status_code == 302
    assert client.get(f"/api/v1/review/{WEEK}").status_code == 401


# -- CLI ------------------------------------------------------------------------------------------------------
def test_kb_review_prints_the_agenda(tmp_path, make_kb, cli_model):
    kb = make_kb()
    ids = seed_review(kb)
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "kb"}"\n')
    from kb.review_decisions import record_decision

    record_decision(kb, WEEK, ids["b"], "write", owner_email="ana@acme.test", note="pricing page",
                    user_email="ana@acme.test")
    run = CliRunner()

    def kb_cli(*args):  # type: ignore[no-untyped-def]
        return run.invoke(cli, ["--config", str(config), "review", *args])

    text = kb_cli("--week", WEEK)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "Smarketing review 2026-W40 (Week 40, Sep 28 – Oct 04, 2026)"
    assert "4 on the agenda (0 carried over, 1 decided)" in lines[1]
    okta = next(line for line in lines if "Do you support SSO with Okta?" in line)
    assert re.search(r"\b7\s+4\s+2\s+\+2\b", okta)  # asks in all, this week, last week, change
    assert any("decided: write, ana@acme.test" in line and "pricing page" in line for line in lines)
    assert "NEW TOPICS (1)" in text.stdout and "CLOSED (2)" in text.stdout and "CONTENT PUBLISHED (2)" in text.stdout
    data = json.loads(kb_cli("--week", WEEK, "--json").stdout)
    assert data["week"] == WEEK and [i["id"] for i in data["items"]] == [ids["a"], ids["b"], ids["d"], ids["c"]]
    markdown = kb_cli("--week", WEEK, "--format", "markdown").stdout
    assert markdown.startswith("# Smarketing review 2026-W40") and "Write it; owner ana@acme.test" in markdown
    rows = list(csv.DictReader(io.StringIO(kb_cli("--week", WEEK, "--format", "csv").stdout)))
    assert [row["decision"] for row in rows if row["topic_id"] == str(ids["b"])] == ["write"]
    bad = kb_cli("--week", "2026-W60")
    assert bad.exit_code == 2 and "2026 has weeks 1 to 53" in bad.stderr
    assert kb_cli().exit_code == 0  # the current week by default
