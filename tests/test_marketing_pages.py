"""The marketer's pages and their API: backlog (sort, filter, paging, bulk changes, merge), the topic page
(asks with context, suggestion, triage, notes, history, move, merge), the coverage heatmap, content pages.

Real SQLite knowledge bases seeded with the backlog tests' :class:`tests.test_backlog.Seed`, the real app,
and browser-like clients logged in through the login form (HTTPS, Referer, CSRF).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from kb.content import PageRecord, PassageInput, store_page
from kb.models import Question, Topic, TopicEvent, TopicNote, TopicRejection
from tests.support.web_client import api_token, logged_in
from tests.test_backlog import Seed, seed_small_backlog
from web import create_app

ROW = re.compile(r'<tr class="[^"]*" data-topic-id="(\d+)"')


def row_ids(html: str) -> list[int]:
    return [int(found) for found in ROW.findall(html)]


def row_html(html: str, topic_id: int) -> str:
    start = html.index(f'data-topic-id="{topic_id}"')
    return html[html.rindex("<tr", 0, start):html.index("</tr>", start)]


# -- a seeded knowledge base, read by most tests ------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    kb = KnowledgeBase(load_settings(None, env={}, overrides={"instance_path": str(tmp_path_factory.mktemp("mk"))}),
                       embedder=embedder)
    ids: dict[str, int] = {}
    with kb.transaction() as session:
        s = Seed(kb, session)
        ana, bo, cy = s.user("ana@acme.test", "marketer"), s.user("bo@acme.test"), s.user("cy@acme.test")
        sso, soc = s.content("/blog/sso/", "SSO with Okta"), s.content("/blog/soc2/", "Our SOC 2 report")
        roi, about = s.content("/blog/roi/", "ROI calculator"), s.content("/about/", "About us")
        evil = s.content("/evil/", "<script>alert('content')</script>")
        old = s.content("/old/", "Retired SSO page")
        for content, persona, stage in ((sso, "it-security", "engage"), (soc, "it-security", "engage"),
                                        (roi, "finance", "attract"), (old, "it-security", "engage")):
            content.persona, content.stage = persona, stage
        old.status = "retired"
        _, video = store_page(session, sso.site_id, PageRecord(
            canonical_url="https://www.acme.test/webinars/okta/", content_hash="video1", kind="video",
            title="Webinar: Okta in ten minutes", authors=["Dana Lee"], tags=["sso", "okta"],
            passages=[PassageInput("Welcome to the webinar.", ("Webinar", "Intro"), 0, 0.0, 30.0),
                      PassageInput("Connect Okta with the SAML app in settings.", ("Webinar", "Okta setup"), 1,
                                   95.0, 180.0)]))
        video.persona, video.stage = "it-security", "engage"
        session.flush()

        sso_topic = s.topic("Do you support SSO with Okta?", [
            (bo, 0), (cy, 0, {"text": "Does it do SSO with Okta, asks <b>Globex</b>?", "company": "Globex",
                              "deal_stage": "negotiation", "deal_value": 50_000.0, "persona": "it-security",
                              "stage": "engage", "best_content_id": sso.id}),
            (bo, 1)], persona="it-security", stage="engage", persona_source="marketer")
        scim = s.topic("SCIM provisioning?", [(cy, 2)], persona="it-security", stage="engage",
                       due_source="manual", due_at=s.now + timedelta(days=1),
                       suggested_content_id=sso.id, suggested_confidence=0.81)
        closed = s.topic("Closed SSO question", [(bo, 1)], status="wont_do", persona="it-security", stage="engage")
        merged = s.topic("Merged SSO question", [(bo, 0)], persona="it-security", stage="engage")
        merged.merged_into_id = sso_topic.id
        answered = s.topic("How to set up Okta?", [(bo, 5)], status="answered_existing",
                           answer_content_id=sso.id, persona="it-security", stage="engage")
        cost = s.topic("What does it cost per user?", [(bo, 0), (cy, 0), (bo, 2)], persona="finance",
                       stage="delight")
        evil_topic = s.topic("<script>alert(1)</script> mobile app?",
                             [(cy, 3, {"text": "<img src=x onerror=alert(2)>"})])
        late = s.topic("Overdue topic", [(bo, 20)], created_days_ago=40, due_source="manual",
                       due_at=s.now - timedelta(days=5))
        session.add(TopicNote(topic_id=sso_topic.id, user_id=ana.id, text="Draft <i>in review</i>"))
        session.add(TopicEvent(topic_id=sso_topic.id, user_id=ana.id, action="owner", old=None, new="ana@acme.test"))
        session.flush()
        ids.update(sso=sso.id, soc=soc.id, roi=roi.id, about=about.id, evil=evil.id, old=old.id, video=video.id,
                   sso_topic=sso_topic.id, scim=scim.id, closed=closed.id, merged=merged.id, answered=answered.id,
                   cost=cost.id, evil_topic=evil_topic.id, late=late.id)
    app = create_app(kb, {"TESTING": True})
    marketer = logged_in(app, kb, "ana@acme.test", "marketer")
    rep = logged_in(app, kb, "bo@acme.test", "rep")
    yield kb, app, marketer, rep, ids
    kb.close()


@pytest.fixture(scope="module")
def marketer(site):
    return site[2]


@pytest.fixture(scope="module")
def ids(site):
    return site[4]


# -- the backlog --------------------------------------------------------------------------------------------
def test_backlog_lists_open_topics_with_every_column(marketer, ids):
    response = marketer.get("/backlog")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    listed = set(row_ids(html))
    assert listed == {ids["sso_topic"], ids["scim"], ids["cost"], ids["evil_topic"], ids["late"]}
    row = row_html(html, ids["sso_topic"])
    assert f'href="/topics/{ids["sso_topic"]}"' in row and "Do you support SSO with Okta?" in row
    assert "it-security" in row and "engage" in row and "status-new" in row
    assert "<strong>3</strong>" in row and "by 2 reps" in row and "priority-" in row
    assert "(suggested)" not in row.split("engage")[0]  # a marketer's tag is not marked as a suggestion
    assert "possible answer" in row_html(html, ids["scim"])
    assert "4 topics" not in html and "5 topics" in html


def test_backlog_sorts_by_column_headers(marketer, ids, site):
    html = marketer.get("/backlog").get_data(as_text=True)
    for key in ("priority", "asks", "reps", "age", "recent", "due"):
        assert f"sort={key}" in html  # every sortable header is a link
    api_order = [t["id"] for t in marketer.get("/api/v1/topics").get_json()["topics"]]
    assert row_ids(html) == api_order and row_ids(html)[0] == ids["sso_topic"]
    by_age = row_ids(marketer.get("/backlog?sort=age").get_data(as_text=True))
    assert by_age[0] == ids["late"]  # oldest first
    by_due = row_ids(marketer.get("/backlog?sort=due").get_data(as_text=True))
    assert by_due[:2] == [ids["late"], ids["scim"]]  # overdue, then due tomorrow
    by_asks = marketer.get("/backlog?sort=asks").get_data(as_text=True)
    assert row_ids(by_asks)[:2] in ([ids["sso_topic"], ids["cost"]], [ids["cost"], ids["sso_topic"]])
    assert row_ids(by_asks)[-1] in (ids["scim"], ids["evil_topic"], ids["late"])
    assert 'aria-sort="descending"' in by_asks


def test_backlog_filters(marketer, ids):
    def listed(query: str) -> set[int]:
        response = marketer.get("/backlog?" + query)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return set(row_ids(response.get_data(as_text=True)))

    assert listed("persona=it-security&stage=engage") == {ids["sso_topic"], ids["scim"]}
    assert listed("persona=none&stage=none") == {ids["evil_topic"], ids["late"]}
    assert listed("overdue=1") == {ids["late"]}
    assert listed("status=closed") == {ids["closed"], ids["answered"]}
    assert listed("status=all") >= {ids["closed"], ids["sso_topic"]} and ids["merged"] not in listed("status=all")
    assert listed("owner=none&persona=finance") == {ids["cost"]}
    bad = marketer.get("/backlog?persona=astronaut")
    assert bad.status_code == 400 and "unknown persona" in bad.get_data(as_text=True)


def test_backlog_highlights_overdue_and_due_soon(marketer, ids):
    html = marketer.get("/backlog").get_data(as_text=True)
    late = row_html(html, ids["late"])
    assert 'class="row-overdue"' in late and 'class="overdue"' in late and ">overdue<" in late
    soon = row_html(html, ids["scim"])
    assert 'class="due-soon"' in soon and "due soon" in soon and "row-overdue" not in soon
    assert "overdue" not in row_html(html, ids["cost"])


def test_backlog_pages(marketer, ids):
    first = marketer.get("/backlog?limit=2&sort=age").get_data(as_text=True)
    second = marketer.get("/backlog?limit=2&offset=2&sort=age").get_data(as_text=True)
    assert len(row_ids(first)) == 2 and len(row_ids(second)) == 2
    assert not set(row_ids(first)) & set(row_ids(second))
    assert "1–2 of 5 topics" in first and "offset=2" in first and "sort=age" in first
    body = marketer.get("/api/v1/topics?limit=2&offset=4").get_json()
    assert (body["count"], body["total"], body["offset"], body["next_offset"]) == (1, 5, 4, None)


# -- the topic page -----------------------------------------------------------------------------------------
def test_topic_page_shows_asks_with_context_suggestion_history_and_notes(marketer, ids):
    html = marketer.get(f"/topics/{ids['sso_topic']}").get_data(as_text=True)
    assert "Does it do SSO with Okta, asks &lt;b&gt;Globex&lt;/b&gt;?" in html
    for fact in ("cy@acme.test", "bo@acme.test", "Globex", "negotiation", "50,000", "Persona given", "Stage given"):
        assert fact in html, fact
    assert html.count('class="ask"') == 3
    assert "Draft &lt;i&gt;in review&lt;/i&gt;" in html and "ana@acme.test" in html  # note, escaped
    assert "History" in html and "owner" in html
    assert f'href="/topics/{ids["merged"]}"' in html  # merged into this one
    assert "Why this priority" in html and "log2(1+asks)" in html
    suggested = marketer.get(f"/topics/{ids['scim']}").get_data(as_text=True)
    assert "Possibly answered by" in suggested and "SSO with Okta" in suggested and "81%" in suggested
    assert 'value="confirm"' in suggested and 'value="reject"' in suggested
    merged = marketer.get(f"/topics/{ids['merged']}").get_data(as_text=True)
    assert "was merged into" in merged and f'action="/topics/{ids["merged"]}/triage"' not in merged


def test_unknown_ids_are_404(marketer):
    for path in ("/topics/999999", "/content/999999"):
        response = marketer.get(path)
        assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)
    response = marketer.get("/api/v1/content/999999")
    assert response.status_code == 404 and response.get_json()["error"]["message"] == "no content 999999"
    huge = "9" * 25  # beyond any database integer: still "not found", never an overflow
    for path in (f"/topics/{huge}", f"/content/{huge}", f"/api/v1/content/{huge}", f"/api/v1/topics/{huge}"):
        assert marketer.get(path).status_code == 404, path


# -- coverage -----------------------------------------------------------------------------------------------
def cell(matrix: dict, persona: str | None, stage: str | None) -> dict:
    row = next(r for r in matrix["rows"] if r["persona"] == persona)
    return next(c for c in row["cells"] if c["stage"] == stage)


def test_coverage_counts_live_content_against_open_demand(marketer):
    matrix = marketer.get("/api/v1/coverage").get_json()
    assert matrix["personas"][-1] is None and matrix["stages"][-1] is None  # untagged row and column
    assert matrix["personas"][:4] == ["it-security", "finance", "procurement", "operations"]
    sec = cell(matrix, "it-security", "engage")  # 3 live (retired left out); 2 open topics (closed, merged out)
    assert (sec["contents"], sec["open_topics"], sec["open_asks"], sec["level"]) == (3, 2, 4, "medium")
    fin = cell(matrix, "finance", "delight")
    assert (fin["contents"], fin["open_topics"], fin["open_asks"], fin["level"]) == (0, 1, 3, "high")
    assert cell(matrix, "finance", "attract")["level"] == "none"
    loose = cell(matrix, None, None)
    assert (loose["contents"], loose["open_topics"], loose["open_asks"], loose["level"]) == (2, 2, 2, "low")
    assert matrix["total"]["contents"] == 6 and matrix["total"]["open_topics"] == 5
    assert matrix["total"]["open_asks"] == 9


def test_coverage_page_prints_numbers_and_links_each_cell(marketer):
    html = marketer.get("/coverage").get_data(as_text=True)
    start = html.index('data-persona="it-security" data-stage="engage"')
    td = html[html.rindex("<td", 0, start):html.index("</td>", start)]
    assert "gap-medium" in td and "medium gap" in td  # the level in words, not colour only
    assert "<strong>3</strong> content" in td and "<strong>4</strong> asks" in td and "in 2 topics" in td
    assert 'href="/backlog?persona=it-security&amp;stage=engage"' in td
    assert 'href="/content?persona=it-security&amp;stage=engage"' in td
    assert 'href="/backlog?persona=none&amp;stage=none"' in html and ">untagged<" in html
    assert "high gap" in html and 'scope="col"' in html and 'scope="row"' in html


def test_coverage_links_lead_to_the_same_topics_and_content(marketer, ids):
    topics = row_ids(marketer.get("/backlog?persona=finance&stage=delight").get_data(as_text=True))
    assert topics == [ids["cost"]]
    listed = marketer.get("/api/v1/content?persona=it-security&stage=engage").get_json()
    assert {c["id"] for c in listed["contents"]} == {ids["sso"], ids["soc"], ids["video"]}
    untagged = marketer.get("/api/v1/content?persona=none&stage=none").get_json()
    assert {c["id"] for c in untagged["contents"]} == {ids["about"], ids["evil"]} | set()


# -- content ------------------------------------------------------------------------------------------------
def test_content_page_shows_metadata_passages_and_what_it_answers(marketer, ids):
    html = marketer.get(f"/content/{ids['sso']}").get_data(as_text=True)
    assert "SSO with Okta" in html and 'href="https://www.acme.test/blog/sso/"' in html
    assert "How to set up Okta?" in html and "confirmed answer" in html  # answer_content_id
    assert "SCIM provisioning?" in html and "suggested" in html  # suggested_content_id
    assert "Does it do SSO with Okta" in html and "Globex" in html  # best match of a question
    assert "Merged SSO question" not in html
    video = marketer.get(f"/content/{ids['video']}").get_data(as_text=True)
    assert "Webinar › Okta setup" in video and "Connect Okta with the SAML app" in video
    assert 'href="https://www.acme.test/webinars/okta/#t=95"' in video and "1:35" in video
    assert "Dana Lee" in video and "okta" in video and "it-security" in video
    data = marketer.get(f"/api/v1/content/{ids['sso']}").get_json()
    assert {t["relation"] for t in data["answers"]["topics"]} == {"answer", "suggested"}
    assert data["answers"]["question_total"] == 1 and data["answers_topics"] == 1
    assert data["passages"][0]["text"] == "SSO with Okta: the answer."


def test_content_list_filters_and_pages(marketer, ids):
    html = marketer.get("/content?kind=video").get_data(as_text=True)
    assert "Webinar: Okta in ten minutes" in html and "About us" not in html
    first = marketer.get("/api/v1/content?limit=2").get_json()
    assert (first["count"], first["total"], first["next_offset"]) == (2, 6, 2)  # live only by default
    everything = marketer.get("/api/v1/content?status=all&limit=200").get_json()
    assert everything["total"] == 7 and ids["old"] in {c["id"] for c in everything["contents"]}
    assert marketer.get("/api/v1/content?q=okta").get_json()["total"] == 2  # in the title
    assert [c["id"] for c in marketer.get("/api/v1/content?q=webinars/").get_json()["contents"]] == [ids["video"]]
    paged = marketer.get("/content?limit=2").get_data(as_text=True)
    assert "1–2 of 6 items" in paged and "offset=2" in paged


@pytest.mark.parametrize("path, needle", [
    ("/api/v1/content?kind=poster", "unknown kind"),
    ("/api/v1/content?persona=astronaut", "unknown persona"),
    ("/api/v1/content?status=deleted", "unknown status"),
    ("/api/v1/content?colour=red", "unknown parameter"),
    ("/api/v1/content?limit=abc", "limit"),
    ("/api/v1/content?q=" + "x" * 201, "longer than 200"),
    ("/api/v1/coverage?persona=x", "unknown parameter"),
])
def test_content_and_coverage_api_bad_requests(marketer, path, needle):
    response = marketer.get(path)
    assert response.status_code == 400 and needle in response.get_json()["error"]["message"]


# -- access and escaping ------------------------------------------------------------------------------------
def test_reps_are_refused_every_marketing_page_and_api(site, ids):
    kb, app, _, rep, _ = site
    for path in ("/backlog", f"/topics/{ids['sso_topic']}", "/coverage", "/content", f"/content/{ids['sso']}",
                 "/api/v1/coverage", "/api/v1/content", f"/api/v1/content/{ids['sso']}"):
        assert rep.get(path).status_code == 403, path
    assert rep.form("/backlog/bulk", {"id": ids["scim"], "status": "triaged"}).status_code == 403
    assert rep.form(f"/topics/{ids['scim']}/notes", {"text": "hi"}).status_code == 403
    assert rep.api("post", "/api/v1/topics/bulk", json={"ids": [ids["scim"]], "changes": {"status": "triaged"}}
                   ).status_code == 403
    headers = api_token(kb, "bo@acme.test")
    assert app.test_client().get("/api/v1/coverage", headers=headers).status_code == 403
    nav = rep.get("/account").get_data(as_text=True)
    assert 'href="/backlog"' not in nav and 'href="/coverage"' not in nav
    assert 'href="/backlog"' in site[2].get("/account").get_data(as_text=True)


def test_attacker_controlled_text_is_escaped(marketer, ids):
    backlog = marketer.get("/backlog").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in backlog and "&lt;script&gt;alert(1)&lt;/script&gt;" in backlog
    topic = marketer.get(f"/topics/{ids['evil_topic']}").get_data(as_text=True)
    assert "<script>alert(1)" not in topic and "<img src=x" not in topic and "&lt;img src=x" in topic
    content = marketer.get(f"/content/{ids['evil']}").get_data(as_text=True)
    assert "<script>alert('content')" not in content and "&lt;script&gt;" in content
    listing = marketer.get("/content").get_data(as_text=True)
    assert "<script>alert('content')" not in listing


# -- writes (a fresh knowledge base each) -------------------------------------------------------------------
@pytest.fixture
def desk(make_kb):
    """The backlog tests' small backlog (big, small, dup: all new) and a marketer logged in."""
    kbase = make_kb()
    ids = seed_small_backlog(kbase)
    client = logged_in(create_app(kbase, {"TESTING": True}), kbase, "ana@acme.test", "marketer")
    client.kb, client.ids = kbase, ids
    return client


def topic_row(kbase, topic_id: int) -> Topic:
    with kbase.sessions() as session:
        topic = session.get(Topic, topic_id)
        _ = topic.owner
        return topic


def test_bulk_assign_tag_and_status_reports_the_refused_topic_and_applies_the_rest(desk):
    ids = desk.ids
    assert desk.api("patch", f"/api/v1/topics/{ids['big']}", json={"status": "in_progress"}).status_code == 200
    response = desk.form("/backlog/bulk", {"id": [ids["big"], ids["small"], ids["dup"]], "action": "apply",
                                           "status": "triaged", "owner": "ana@acme.test", "persona": "it-security",
                                           "next": "/backlog?sort=asks"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/backlog?sort=asks")
    page = desk.get("/backlog?sort=asks").get_data(as_text=True)
    assert (f"2 updated, 1 failed: #{ids['big']} topic {ids['big']} cannot go from in_progress to triaged"
            in page)
    for name in ("small", "dup"):
        topic = topic_row(desk.kb, ids[name])
        assert (topic.status, topic.owner.email, topic.persona, topic.persona_source) == (
            "triaged", "ana@acme.test", "it-security", "marketer")
    big = topic_row(desk.kb, ids["big"])
    assert (big.status, big.owner, big.persona) == ("in_progress", None, None)  # nothing of it applied
    with desk.kb.sessions() as session:
        actions = set(session.scalars(select(TopicEvent.action).where(TopicEvent.topic_id == ids["small"])))
        assert {"status", "owner", "persona"} <= actions
        assert session.scalar(select(TopicEvent.user_id).where(TopicEvent.topic_id == ids["small"],
                                                               TopicEvent.action == "owner")) == ids["ana"]


def test_bulk_api_answers_per_id(desk):
    ids = desk.ids
    response = desk.api("post", "/api/v1/topics/bulk",
                        json={"ids": [ids["small"], 999999], "changes": {"stage": "engage", "due": "2031-01-31"}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["updated"] == [ids["small"]] and body["failed"] == [999999]
    ok, missing = body["results"]
    assert ok["topic"]["stage"] == "engage" and ok["topic"]["due_date"] == "2031-01-31"
    assert missing["error"] == {"code": "not_found", "message": "no topic 999999"}


@pytest.mark.parametrize("body, needle", [
    ({"ids": "1,2", "changes": {"status": "triaged"}}, "list of topic ids"),
    ({"ids": [], "changes": {"status": "triaged"}}, "at least one topic"),
    ({"ids": [True], "changes": {"status": "triaged"}}, "topic ids"),
    ({"ids": [1], "changes": {"colour": "red"}}, "unknown field 'colour'"),
    ({"ids": [1], "changes": {}}, "nothing to change"),
    ({"ids": [1], "changes": {"status": "done"}}, "unknown status"),
    ({"ids": [1], "changes": {"persona": "astronaut"}}, "unknown persona"),
    ({"ids": [1], "changes": {"due": "soon"}}, "YYYY-MM-DD"),
    ({"ids": [1]}, "changes is required"),
    ({"ids": list(range(1, 300)), "changes": {"status": "triaged"}}, "at most 200"),
    ({"ids": [1], "changes": {"status": "triaged"}, "as": "x@acme.test"}, "unknown field 'as'"),
    ({"ids": [2**70], "changes": {"status": "triaged"}}, "topic ids"),
])
def test_bulk_api_bad_requests(desk, body, needle):
    response = desk.api("post", "/api/v1/topics/bulk", json=body)
    assert response.status_code == 400, response.get_json()
    assert needle in response.get_json()["error"]["message"]


def test_merge_selected_topics_from_the_backlog(desk):
    ids = desk.ids
    response = desk.form("/backlog/bulk", {"id": [ids["big"], ids["dup"], ids["small"]], "action": "merge"})
    assert response.status_code == 303
    page = desk.get("/backlog").get_data(as_text=True)
    assert f"Merged #{ids['dup']}, #{ids['small']} into #{ids['big']}" in page
    assert row_ids(page) == [ids["big"]]
    big = topic_row(desk.kb, ids["big"])
    assert big.ask_count == 5 and topic_row(desk.kb, ids["dup"]).merged_into_id == ids["big"]
    lonely = desk.form("/backlog/bulk", {"id": [ids["big"]], "action": "merge"})
    assert lonely.status_code == 400 and "at least two topics" in lonely.get_data(as_text=True)
    again = desk.api("post", "/api/v1/topics/merge", json={"ids": [ids["dup"]], "into": ids["big"]})
    assert again.status_code == 409 and "already merged" in again.get_json()["error"]["message"]


def test_bulk_form_needs_csrf_and_a_selection(desk):
    ids = desk.ids
    refused = desk.post("/backlog/bulk", data={"id": ids["small"], "status": "triaged"})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    assert topic_row(desk.kb, ids["small"]).status == "new"
    empty = desk.form("/backlog/bulk", {"status": "triaged"})
    assert empty.status_code == 400 and "select at least one topic" in empty.get_data(as_text=True)


def test_triage_notes_move_and_merge_from_the_topic_page(desk):
    ids = desk.ids
    path = f"/topics/{ids['big']}"
    html = desk.get(path).get_data(as_text=True)
    assert 'name="csrf_token"' in html and f'action="{path}/notes"' in html

    noted = desk.form(f"{path}/notes", {"text": "Writing the <b>guide</b> now"})
    assert noted.status_code == 303
    html = desk.get(path).get_data(as_text=True)
    assert "Note added." in html and "Writing the &lt;b&gt;guide&lt;/b&gt; now" in html

    saved = desk.form(f"{path}/triage", {"title": "Do you support SSO with Okta?", "status": "planned",
                                         "owner": "ana@acme.test", "persona": "none", "stage": "none",
                                         "due": "2031-05-01", "answer": ""})
    assert saved.status_code == 303
    html = desk.get(path).get_data(as_text=True)
    assert "Saved: due, owner, status." in html  # the untouched tags were not re-saved as the marketer's
    topic = topic_row(desk.kb, ids["big"])
    assert (topic.status, topic.owner.email, topic.due_source, topic.persona_source) == (
        "planned", "ana@acme.test", "manual", None)
    assert "planned" in html and "2031" in html

    refused = desk.form(f"{path}/triage", {"status": "new"})
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "Not saved: topic" in text and "cannot go from planned to new" in text and "Every ask" in text
    empty_note = desk.form(f"{path}/notes", {"text": "  "})
    assert empty_note.status_code == 400 and "non-empty" in empty_note.get_data(as_text=True)

    moved = desk.form(f"/topics/{ids['small']}/move", {"question_id": ids["question"], "to": "new"})
    assert moved.status_code == 303
    with desk.kb.sessions() as session:
        new_topic = session.scalar(select(Question.topic_id).where(Question.id == ids["question"]))
    assert new_topic not in (ids["small"], ids["big"])
    bad_move = desk.form(f"/topics/{ids['small']}/move", {"question_id": ids["question"], "to": "soon"})
    assert bad_move.status_code == 400 and "topic id" in bad_move.get_data(as_text=True)

    merged = desk.form(f"/topics/{ids['dup']}/merge", {"into": ids["big"]})
    assert merged.status_code == 303 and merged.headers["Location"].endswith(path)
    assert topic_row(desk.kb, ids["dup"]).merged_into_id == ids["big"]
    html = desk.get(path).get_data(as_text=True)
    assert f"Merged topic #{ids['dup']} into this one." in html and "merged from" in html
    into_itself = desk.form(f"{path}/merge", {"into": ids["big"]})
    assert into_itself.status_code == 409 and "into itself" in into_itself.get_data(as_text=True)

    needs_answer = desk.form(f"{path}/triage", {"status": "answered_existing", "answer": ""})
    assert needs_answer.status_code == 400 and "needs the answer" in needs_answer.get_data(as_text=True)
    closed = desk.form(f"{path}/triage", {"status": "answered_existing", "answer": "https://www.acme.test/blog/sso/"})
    assert closed.status_code == 303
    topic = topic_row(desk.kb, ids["big"])
    assert topic.status == "answered_existing" and topic.answer_content_id is not None
    assert "Answered by" in desk.get(path).get_data(as_text=True)


def test_merge_api_merges_into_the_chosen_topic(desk):
    ids = desk.ids
    response = desk.api("post", "/api/v1/topics/merge", json={"ids": [ids["dup"], ids["small"]], "into": ids["big"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["merged"] == [ids["dup"], ids["small"]] and body["target"]["ask_count"] == 5
    bad = desk.api("post", "/api/v1/topics/merge", json={"ids": [ids["big"]], "into": "big"})
    assert bad.status_code == 400 and "'into'" in bad.get_json()["error"]["message"]


def test_confirm_and_reject_a_suggestion_through_the_page(desk):
    ids = desk.ids
    with desk.kb.transaction() as session:
        content_id = session.scalars(select(TopicRejection.content_id)).first()  # none yet
        assert content_id is None
        from kb.models import Content

        content_id = session.scalars(select(Content.id)).one()
        for name in ("big", "small"):
            topic = session.get(Topic, ids[name])
            topic.suggested_content_id, topic.suggested_confidence = content_id, 0.77
    rejected = desk.form(f"/topics/{ids['small']}/suggestion", {"decision": "reject"})
    assert rejected.status_code == 303
    assert "will not be suggested" in desk.get(f"/topics/{ids['small']}").get_data(as_text=True)
    with desk.kb.sessions() as session:
        assert session.scalar(select(TopicRejection.content_id).where(TopicRejection.topic_id == ids["small"])
                              ) == content_id
    assert topic_row(desk.kb, ids["small"]).suggested_content_id is None

    confirmed = desk.form(f"/topics/{ids['big']}/suggestion", {"decision": "confirm"})
    assert confirmed.status_code == 303
    topic = topic_row(desk.kb, ids["big"])
    assert topic.status in ("published", "answered_existing") and topic.answer_content_id == content_id
    html = desk.get(f"/topics/{ids['big']}").get_data(as_text=True)
    assert "Answered by" in html and "confirmed" in html
    again = desk.form(f"/topics/{ids['big']}/suggestion", {"decision": "confirm"})
    assert again.status_code == 409 and "no suggested answer" in again.get_data(as_text=True)
    odd = desk.form(f"/topics/{ids['big']}/suggestion", {"decision": "maybe"})
    assert odd.status_code == 400 and "confirm or reject" in odd.get_data(as_text=True)
