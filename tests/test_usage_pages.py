"""The usage reports' pages, API and CSV downloads; event capture on the search page and API (searches,
impressions, result clicks); the weekly review's top and unused content; the coverage heatmap's measures.

One knowledge base for the module: the reps' test pages (tests.test_rep_pages: a blog post, a price page, a
case study with a hostile title, a video) plus a page whose title is a spreadsheet formula, embedded once by
the real model; usage written through the real ``kb.usage_events`` functions; browser-like clients logged in
through the login form. Tests that add events use their own content or user, and read back only those.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kb.content import PageRecord, PassageInput, store_page
from kb.models import Content, Question, Topic, UsageEvent, utcnow
from kb.sites import get_site
from kb.usage_events import record_event, record_search
from kb.weeks import current_week
from tests.support.web_client import api_token, logged_in
from tests.test_rep_pages import BASE, VIDEO_URL, content_id, store_pages, user_id
from web import create_app

FORMULA_TITLE = "=HYPERLINK(\"https://evil.test\",\"click\")"
FORMULA_URL = BASE + "/new/formula/"
SSO_URL, PRICING_URL, CASE_URL = BASE + "/blog/sso-with-okta/", BASE + "/pricing/", BASE + "/customers/brightwell/"


@pytest.fixture(scope="module")
def site(make_module_kb):
    """kb, app, ids; usage: the SSO post clicked 3 times, sent once and shown twice; pricing copied once;
    the video answers a question asked this week but nobody used it (findability); the case study is old,
    unchanged and unused (retire or refresh, stale); the formula page is new (too new) and answered
    Alice's question after she asked it (the leaderboard)."""
    kb = make_module_kb(name="usage")
    store_pages(kb)
    with kb.transaction() as session:
        store_page(session, get_site(session, "acme").id, PageRecord(
            canonical_url=FORMULA_URL, content_hash="formula", title=FORMULA_TITLE, kind="blog",
            passages=[PassageInput(text="A brand new post about approval chains for procurement teams.")]))
    kb.refresh_index()
    ids = {name: content_id(kb, url) for name, url in (("sso", SSO_URL), ("pricing", PRICING_URL),
                                                        ("case", CASE_URL), ("video", VIDEO_URL),
                                                        ("formula", FORMULA_URL))}
    app = create_app(kb, {"TESTING": True})
    marketer = logged_in(app, kb, "mia@acme.test", "marketer")
    rep = logged_in(app, kb, "alice@acme.test", "rep")
    alice = user_id(kb, "alice@acme.test")
    long_ago = utcnow() - timedelta(days=400)
    with kb.transaction() as session:
        for name, persona, stage in (("sso", "it-security", "engage"), ("pricing", "finance", "engage"),
                                     ("video", "operations", "delight"), ("case", "finance", "attract")):
            session.execute(update(Content).where(Content.id == ids[name]).values(persona=persona, stage=stage))
        for name in ("sso", "pricing", "case", "video"):  # old content: judged, not "too new"
            session.execute(update(Content).where(Content.id == ids[name])
                            .values(first_seen_at=long_ago, changed_at=long_ago))
        # Asked just before the formula page appeared (so the page answered it), and this week on any day but
        # the first seconds of a Monday.
        asked = session.get(Content, ids["formula"]).first_seen_at - timedelta(seconds=5)
        topic = Topic(title="Approval chains?", status="published", answer_content_id=ids["formula"])
        session.add(topic)
        session.flush()
        session.add(Question(topic_id=topic.id, text="How do approval chains work?", asked_by_id=alice,
                             asked_at=asked, dedup_key="usage-q1", decision="answered",
                             best_content_id=ids["video"]))
    for _ in range(3):
        record_event(kb, "click", user_id=alice, content_id=ids["sso"])
    record_event(kb, "sent", user_id=alice, content_id=ids["sso"])
    record_event(kb, "copy_link", user_id=alice, content_id=ids["pricing"])
    record_search(kb, alice, "okta sso", {}, [ids["sso"], ids["pricing"]])
    record_search(kb, alice, "single sign-on", {}, [ids["sso"]])
    return kb, app, ids, marketer, rep


@pytest.fixture(scope="module")
def marketer(site):
    return site[3]


def body(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    return text


def row_of(rows: list[dict], content: int) -> dict:
    return next(row for row in rows if row["content_id"] == content)


# -- the scorecard ------------------------------------------------------------------------------------------
def test_scorecard_api_counts_the_events(site, marketer):
    _, _, ids, _, _ = site
    data = marketer.get("/api/v1/usage/scorecard?days=7").get_json()
    assert data["window"]["days"] == 7 and data["total"] == 5 and data["sort"] == "impressions"
    sso = row_of(data["contents"], ids["sso"])
    assert (sso["impressions"], sso["clicks"], sso["sends"], sso["copies"]) == (2, 3, 1, 0)
    assert sso["trend"][-1] == 4 and sso["last_used"].startswith(str(utcnow().year))  # ISO, not an HTTP date
    assert data["contents"][0]["content_id"] == ids["sso"]  # most impressions first
    by_clicks = marketer.get("/api/v1/usage/scorecard?sort=title&order=asc&limit=2").get_json()
    assert by_clicks["count"] == 2 and by_clicks["next_offset"] == 2 and by_clicks["order"] == "asc"
    finance = marketer.get("/api/v1/usage/scorecard?persona=finance").get_json()
    assert {row["content_id"] for row in finance["contents"]} == {ids["pricing"], ids["case"]}
    assert marketer.get("/api/v1/usage/scorecard?kind=video").get_json()["total"] == 1


def test_scorecard_page_sorts_filters_and_draws_trends(site, marketer):
    _, _, ids, _, _ = site
    html = body(marketer.get("/usage/?days=30&sort=clicks"))
    assert html.index(f'data-content-id="{ids["sso"]}"') < html.index(f'data-content-id="{ids["pricing"]}"')
    assert 'class="sparkline"' in html and 'aria-label="Uses per week for Single sign-on with Okta' in html
    assert 'aria-sort="descending"' in html and "order=asc" in html  # clicking the sorted column flips it
    assert 'href="/usage/scorecard.csv?days=30&amp;sort=clicks"' in html and "Download CSV" in html
    assert 'aria-current="page">Usage<' in html.replace('href="/usage/" ', "")  # the navigation entry
    only_video = body(marketer.get("/usage/?kind=video"))
    assert f'data-content-id="{ids["video"]}"' in only_video and f'data-content-id="{ids["sso"]}"' not in only_video
    paged = body(marketer.get("/usage/?limit=2"))
    assert "1–2 of 5 items" in paged and "offset=2" in paged


def test_titles_are_escaped_everywhere(site, marketer):
    for path in ("/usage/?days=365", "/usage/unused", "/usage/stale", "/usage/top", "/coverage?measure=usage"):
        html = body(marketer.get(path))
        assert "<script>alert(1)</script>" not in html, path
    scorecard = body(marketer.get("/usage/?days=365"))
    assert "Brightwell &lt;script&gt;alert(1)&lt;/script&gt; story" in scorecard


# -- CSV ----------------------------------------------------------------------------------------------------
def test_csv_downloads_are_attachments_with_every_row_and_no_formulas(site, marketer):
    _, _, ids, _, _ = site
    response = marketer.get("/usage/scorecard.csv?days=7&limit=1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="usage-scorecard-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 5  # every row, not one page
    formula = next(row for row in rows if row["content_id"] == str(ids["formula"]))
    assert formula["title"] == "'" + FORMULA_TITLE  # a spreadsheet shows it as text instead of running it
    sso = next(row for row in rows if row["content_id"] == str(ids["sso"]))
    assert (sso["clicks"], sso["sends"], sso["impressions"]) == ("3", "1", "2")
    for path in ("/usage/unused.csv", "/usage/unused.csv?verdict=findability", "/usage/stale.csv",
                 "/usage/top.csv?by=stage", "/usage/reps.csv"):
        download = marketer.get(path)
        assert download.status_code == 200 and download.mimetype == "text/csv", path
        assert download.headers["Content-Disposition"].startswith("attachment; filename="), path
        assert "\n=" not in download.get_data(as_text=True) and ",=" not in download.get_data(as_text=True), path


# -- unused, stale, top, leaderboard ------------------------------------------------------------------------
def test_unused_content_has_its_three_verdicts(site, marketer):
    _, _, ids, _, _ = site
    data = marketer.get("/api/v1/usage/unused?days=30").get_json()
    verdicts = {row["content_id"]: row["verdict"] for row in data["contents"]}
    assert verdicts == {ids["video"]: "findability", ids["case"]: "retire_or_refresh", ids["formula"]: "too_new"}
    assert data["contents"][0]["content_id"] == ids["video"] and data["contents"][0]["demand"] == 1
    only = marketer.get("/api/v1/usage/unused?verdict=findability").get_json()
    assert [row["content_id"] for row in only["contents"]] == [ids["video"]] and only["verdict"] == "findability"
    html = body(marketer.get("/usage/unused?verdict=findability"))
    assert "Findability problem" in html and "surface it" in html and "Out-of-office delegation" in html
    assert "Single sign-on with Okta" not in html and 'href="/usage/unused.csv?verdict=findability"' in html
    every = body(marketer.get("/usage/unused"))
    assert "Retire or refresh" in every and "Too new to judge" in every and "give it time" in every


def test_stale_content_is_old_unchanged_and_unused(site, marketer):
    _, _, ids, _, _ = site
    data = marketer.get("/api/v1/usage/stale").get_json()
    stale = {row["content_id"] for row in data["contents"]}
    assert ids["case"] in stale and ids["video"] in stale and ids["sso"] not in stale and ids["formula"] not in stale
    assert row_of(data["contents"], ids["case"])["age_days"] >= 399 and data["older_than"] == 365
    assert marketer.get("/api/v1/usage/stale?older_than=500").get_json()["total"] == 0
    html = body(marketer.get("/usage/stale?older_than=300"))
    assert "unchanged for at least 300 days" in html and f'data-content-id="{ids["case"]}"' in html


def test_top_content_by_persona_and_stage(site, marketer):
    _, _, ids, _, _ = site
    by_persona = marketer.get("/api/v1/usage/top").get_json()
    groups = {group["name"]: [row["content_id"] for row in group["contents"]] for group in by_persona["groups"]}
    assert groups["it-security"] == [ids["sso"]] and groups["finance"] == [ids["pricing"]]
    by_stage = marketer.get("/api/v1/usage/top?by=stage").get_json()
    engage = next(group for group in by_stage["groups"] if group["name"] == "engage")
    assert [row["content_id"] for row in engage["contents"]] == [ids["sso"], ids["pricing"]]  # most uses first
    html = body(marketer.get("/usage/top?by=stage"))
    assert "Top content by stage" in html and "<strong>4</strong> uses" in html


def test_rep_leaderboard(site, marketer):
    data = marketer.get("/api/v1/usage/leaderboard?days=7").get_json()
    alice = next(row for row in data["reps"] if row["name"] == "alice@acme.test")
    assert (alice["questions_asked"], alice["questions_answered_by_new_content"], alice["topics_started"]) == (1, 1, 1)
    html = body(marketer.get("/usage/reps"))
    assert "alice@acme.test" in html and "Answered by new content" in html


# -- bad input and access -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path, needle", [
    ("/api/v1/usage/scorecard?days=14", "days must be one of 7, 30, 90, 365"),
    ("/api/v1/usage/scorecard?sort=colour", "unknown sort"),
    ("/api/v1/usage/scorecard?order=up", "order must be asc or desc"),
    ("/api/v1/usage/scorecard?kind=poster", "unknown kind"),
    ("/api/v1/usage/scorecard?persona=astronaut", "unknown persona"),
    ("/api/v1/usage/scorecard?limit=abc", "limit"),
    ("/api/v1/usage/scorecard?colour=red", "unknown parameter"),
    ("/api/v1/usage/unused?verdict=maybe", "unknown verdict"),
    ("/api/v1/usage/stale?older_than=-3", "older_than"),
    ("/api/v1/usage/top?by=kind", "by must be one of persona, stage"),
    ("/api/v1/usage/leaderboard?since=2026-13-01", "since"),
    ("/api/v1/usage/leaderboard?since=2026-05-01&until=2026-04-01", "starts"),
    ("/api/v1/coverage?measure=heat", "unknown measure"),
])
def test_bad_parameters_are_400_with_a_message(marketer, path, needle):
    response = marketer.get(path)
    assert response.status_code == 400, (path, response.status_code)
    assert needle in response.get_json()["error"]["message"], response.get_json()


def test_bad_parameters_on_pages_are_400_not_500(marketer):
    for path in ("/usage/?days=2", "/usage/unused?verdict=x", "/usage/top.csv?by=x", "/coverage?measure=x"):
        assert marketer.get(path).status_code == 400, path


def test_reps_are_refused_the_usage_reports(site):
    kb, app, _, _, rep = site
    for path in ("/usage/", "/usage/scorecard.csv", "/usage/unused", "/usage/stale", "/usage/top", "/usage/reps",
                 "/api/v1/usage/scorecard", "/api/v1/usage/leaderboard"):
        assert rep.get(path).status_code == 403, path
    headers = api_token(kb, "alice@acme.test")
    assert app.test_client().get("/api/v1/usage/unused", headers=headers).status_code == 403
    assert 'href="/usage/"' not in body(rep.get("/account"))


# -- the weekly review --------------------------------------------------------------------------------------
def test_review_shows_the_weeks_top_and_unused_content(site, marketer):
    _, _, ids, _, _ = site
    week = str(current_week())
    agenda = marketer.get(f"/api/v1/review/{week}").get_json()
    usage = agenda["usage"]
    assert usage["top_content"][0]["content_id"] == ids["sso"] and usage["top_content"][0]["uses"] >= 4
    assert ids["video"] not in {row["content_id"] for row in usage["top_content"]}
    assert usage["unused_content"]["content"][0] == {**usage["unused_content"]["content"][0],
                                                     "content_id": ids["video"], "verdict": "findability"}
    assert usage["unused_content"]["total"] == 3 and usage["window"]["days"] == 7
    html = body(marketer.get(f"/review/{week}"))
    assert "Top content this week" in html and "Unused content this week" in html
    assert "Findability problem" in html and "<script>alert(1)</script>" not in html
    printed = body(marketer.get(f"/review/{week}/print"))
    assert "Top content this week" in printed and "Single sign-on with Okta" in printed
    markdown = body(marketer.get(f"/review/{week}.md"))
    assert "## Top content this week" in markdown and "## Unused content this week" in markdown
    assert "[Single sign-on with Okta](https://www.acme.test/blog/sso-with-okta/)" in markdown
    assert "findability problem" in markdown
    week_start = usage["window"]["start"]
    link = f'href="/usage/unused?since={week_start}&amp;until={usage["window"]["end"]}"'
    assert link in html  # to every unused item of the week
    same_week = body(marketer.get(f"/usage/unused?since={week_start}&until={usage['window']['end']}"))
    assert f"{week_start} to {usage['window']['end']}" in same_week and "Out-of-office delegation" in same_week


# -- the coverage heatmap -----------------------------------------------------------------------------------
def cell(matrix: dict, persona: str | None, stage: str | None) -> dict:
    row = next(r for r in matrix["rows"] if r["persona"] == persona)
    return next(c for c in row["cells"] if c["stage"] == stage)


def test_coverage_switches_between_content_demand_and_usage(site, marketer):
    content = marketer.get("/api/v1/coverage").get_json()
    demand = marketer.get("/api/v1/coverage?measure=demand").get_json()
    usage = marketer.get("/api/v1/coverage?measure=usage").get_json()
    assert (content["measure"], demand["measure"], usage["measure"]) == ("content", "demand", "usage")
    sso = [cell(m, "it-security", "engage") for m in (content, demand, usage)]
    assert [c["value"] for c in sso] == [1, 0, 4]  # one item; no open asks; 3 clicks and a send
    assert sso[0]["uses"] is None and sso[2]["uses"] == 4 and sso[2]["heat"] == "high"
    assert cell(usage, "finance", "engage")["uses"] == 1 and cell(usage, "finance", "engage")["heat"] == "low"
    assert cell(usage, "operations", "delight")["heat"] == "none"
    assert usage["total"]["uses"] == 5 and content["total"]["uses"] is None
    html = body(marketer.get("/coverage?measure=usage"))
    assert 'href="/coverage?measure=demand"' in html and 'aria-current="true">Usage<' in html
    start = html.index('data-persona="it-security" data-stage="engage"')
    td = html[html.rindex("<td", 0, start):html.index("</td>", start)]
    assert "heat-high" in td and "<strong>4</strong> uses" in td and "high use" in td
    default = body(marketer.get("/coverage"))
    assert 'aria-current="true">Content vs demand<' in default and "Gap levels" in default


# -- event capture (a knowledge base of its own, so the reports above see only the events made for them) ------
@pytest.fixture(scope="module")
def capture(make_module_kb):
    kb = make_module_kb(name="capture")
    store_pages(kb)
    return kb, create_app(kb, {"TESTING": True}), {"sso": content_id(kb, SSO_URL), "case": content_id(kb, CASE_URL),
                                                  "video": content_id(kb, VIDEO_URL)}


def search_events(kb, user: int) -> list[UsageEvent]:
    with kb.sessions() as session:
        return list(session.scalars(select(UsageEvent).where(UsageEvent.kind == "search", UsageEvent.user_id == user)
                                    .order_by(UsageEvent.id)))


def test_search_page_records_the_search_and_its_impressions(capture):
    kb, app, ids = capture
    bob = logged_in(app, kb, "bob@acme.test", "rep")
    html = body(bob.get("/?q=Do+you+support+SSO+with+Okta%3F&kind=blog"))
    [event] = search_events(kb, user_id(kb, "bob@acme.test"))
    assert event.query == "Do you support SSO with Okta?" and event.detail["filters"]["kinds"] == ["blog"]
    assert event.detail["results"][0] == ids["sso"]  # the impressions: the content shown, in ranking order
    # each result link reports its click to the events API (app.js), with the content, passage and query
    assert 'data-event="/api/v1/events/click"' in html and f'"content_id": {ids["sso"]}' in html


def test_api_search_by_a_token_user_is_recorded(capture):
    kb, app, ids = capture
    headers = api_token(kb, "cy@acme.test")
    response = app.test_client().get("/api/v1/search?q=invoice+processing+time", headers=headers)
    assert response.status_code == 200
    [event] = search_events(kb, user_id(kb, "cy@acme.test"))
    assert event.query == "invoice processing time" and ids["case"] in event.detail["results"]


def test_click_beacon_is_recorded(capture):
    kb, app, ids = capture
    dee = logged_in(app, kb, "dee@acme.test", "rep")
    with kb.sessions() as session:
        passage = session.scalar(select(Content).where(Content.id == ids["video"])).passages[1].id
    response = dee.api("post", "/api/v1/events/click", json={"content_id": ids["video"], "passage_id": passage,
                                                               "query": "vacation approvals"})
    assert response.status_code == 201, response.get_json()
    with kb.sessions() as session:
        [event] = session.scalars(select(UsageEvent).where(UsageEvent.user_id == user_id(kb, "dee@acme.test")))
    assert (event.kind, event.content_id, event.passage_id, event.query) == ("click", ids["video"], passage,
                                                                               "vacation approvals")
    assert response.get_json()["event"]["id"] == event.id


@pytest.mark.parametrize("payload, status, needle", [
    ({}, 400, "'content_id' must be an id"),
    ({"content_id": "7"}, 400, "'content_id' must be an id"),
    ({"content_id": 999999}, 404, "no content 999999"),
    ({"content_id": None, "kind": "click"}, 400, "unknown field 'kind'"),
    ({"content_id": 1, "passage_id": 999999}, 404, "no passage 999999"),
    ({"content_id": 1, "question_id": 999999}, 404, "no question 999999"),
])
def test_click_beacon_refuses_bad_input(capture, payload, status, needle):
    kb, app, _ = capture
    response = logged_in(app, kb, "eve@acme.test", "rep").api("post", "/api/v1/events/click", json=payload)
    assert response.status_code == status and needle in response.get_json()["error"]["message"]
