"""The reps' pages and their API: search actions, usage events, ask, my questions, notifications.

One knowledge base for the module with a few stored pages (a blog post, a price page, a case study with a
hostile title, a video whose answer starts at 1:35), embedded once by the real session model. Tests write
into it (questions, events, notifications), so each test uses its own question wording or its own rep and
reads back only what it wrote. One read-only test runs the search page over the crawled demo site.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select, text

from kb.content import PageRecord, PassageInput, store_page
from kb.errors import NotFoundError, ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Notification, Passage, Question, UsageEvent, User
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.usage_events import MAX_QUERY_CHARS, record_event
from tests.support.web_client import api_token, logged_in
from web import create_app

BASE = "https://www.acme.test"
EVIL_TITLE = "Brightwell <script>alert(1)</script> story"
VIDEO_URL = BASE + "/videos/out-of-office/"
PAGES = [
    ("/blog/sso-with-okta/", "Single sign-on with Okta", "blog",
     ["Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace. Administrators connect "
      "their identity provider in the security settings and users sign in with their corporate account."]),
    ("/pricing/", "Pricing plans", "page",
     ["The Growth plan costs 49 dollars per user per month billed annually. The Enterprise plan adds audit logs "
      "and a dedicated success manager."]),
    ("/customers/brightwell/", EVIL_TITLE, "case_study",
     ["Brightwell Foods cut invoice processing time in half. <script>alert(2)</script> Their warehouse team "
      "approves purchase orders from a phone on the loading dock."]),
]
VIDEO_PASSAGE = ("When a manager goes on vacation, their pending approvals move to the backup approver they chose "
                 "in the out-of-office settings, so nothing waits.")
GAP = "Will you sign a HIPAA business associate agreement for our hospital group?"


def store_pages(kb: KnowledgeBase) -> None:
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url=BASE + "/"))
        for i, (path, title, kind, texts) in enumerate(PAGES):
            store_page(session, site.id, PageRecord(
                canonical_url=BASE + path, content_hash=f"h{i}", title=title, kind=kind,
                passages=[PassageInput(text=t, ordinal=n) for n, t in enumerate(texts)]))
        store_page(session, site.id, PageRecord(
            canonical_url=VIDEO_URL, content_hash="video", title="Out-of-office delegation", kind="video",
            passages=[PassageInput(text="Welcome to this walkthrough of approval settings.", start_seconds=0.0),
                      PassageInput(text=VIDEO_PASSAGE, start_seconds=95.0, ordinal=1)]))
    kb.refresh_index()


@pytest.fixture(scope="module")
def rkb(make_module_kb):
    """The module's knowledge base (module-scoped: embedding costs ~1 s)."""
    kb = make_module_kb(name="reps")
    store_pages(kb)
    return kb


@pytest.fixture(scope="module")
def app(rkb):
    return create_app(rkb, {"TESTING": True})


@pytest.fixture(scope="module")
def alice(app, rkb):
    return logged_in(app, rkb, "alice@acme.test", "rep")


@pytest.fixture(scope="module")
def bob(app, rkb):
    return logged_in(app, rkb, "bob@acme.test", "rep")


@pytest.fixture(scope="module")
def marketer(app, rkb):
    return logged_in(app, rkb, "mia@acme.test", "marketer")


def page(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    return body


def content_id(kb: KnowledgeBase, url: str) -> int:
    with kb.sessions() as session:
        return session.scalar(select(Content.id).where(Content.canonical_url == url))


def passage_ids(kb: KnowledgeBase, url: str) -> list[int]:
    with kb.sessions() as session:
        cid = content_id(kb, url)
        return list(session.scalars(select(Passage.id).where(Passage.content_id == cid).order_by(Passage.id)))


def user_id(kb: KnowledgeBase, email: str) -> int:
    with kb.sessions() as session:
        return session.scalar(select(User.id).where(User.email == email))


def events(kb: KnowledgeBase, **where) -> list[UsageEvent]:
    with kb.sessions() as session:
        stmt = select(UsageEvent).order_by(UsageEvent.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(UsageEvent, name) == value)
        return list(session.scalars(stmt))


def ask(client, question: str, **fields):  # type: ignore[no-untyped-def]
    return client.form("/ask", {"question": question, **fields})


def question_id_of(kb: KnowledgeBase, wording: str, email: str) -> int:
    with kb.sessions() as session:
        return session.scalar(select(Question.id).join(User, User.id == Question.asked_by_id)
                              .where(Question.text == wording, User.email == email))


def results(body: str) -> list[str]:
    return body.split('<li class="result">')[1:]


# -- search page ---------------------------------------------------------------------------------------
def test_search_page_shows_moments_and_one_click_actions(alice, rkb):
    body = page(alice.get("/", query_string={"q": "What happens to pending approvals when a manager is on vacation?"}))
    first = results(body)[0]
    assert "Out-of-office delegation" in first
    assert f'href="{VIDEO_URL}#t=95"' in first  # the title and the moment jump to the second
    assert "▶ at 1:35" in first
    assert f'data-copy-text="{VIDEO_URL}#t=95"' in first  # copy link: with the time
    assert f'data-copy-text="{VIDEO_PASSAGE}"' in first  # copy passage: the whole passage, plain
    passage = passage_ids(rkb, VIDEO_URL)[1]
    bodies = [html_lib.unescape(b) for b in re.findall(r"data-event-body='([^']*)'", first)]
    assert any('"kind": "copy_link"' in b and f'"passage_id": {passage}' in b for b in bodies)
    assert any('"kind": "copy_passage"' in b for b in bodies)
    forms = re.findall(r'<form method="post" action="/events".*?</form>', first, re.S)
    assert len(forms) == 3  # I sent this, Answers it, Doesn't
    assert all('name="csrf_token"' in f and "data-async" in f for f in forms)
    assert ">I sent this<" in forms[0] and 'name="kind" value="sent"' in forms[0]
    assert 'name="answers" value="yes"' in forms[1] and ">Answers it<" in forms[1]
    assert 'name="answers" value="no"' in forms[2] and "Doesn&#39;t" in forms[2]
    assert 'name="query" value="What happens to pending approvals when a manager is on vacation?"' in forms[2]


def test_search_page_escapes_crawled_titles_and_passages(alice):
    body = page(alice.get("/", query_string={"q": "Brightwell invoice processing warehouse loading dock"}))
    first = results(body)[0]
    assert "Brightwell" in first
    assert "<script>" not in body
    assert "Brightwell &lt;script&gt;alert(1)&lt;/script&gt; story" in first
    assert 'data-copy-text="Brightwell Foods cut invoice processing time in half. &lt;script&gt;alert(2)' in first


def test_search_page_over_the_crawled_demo_site_has_actions_on_every_hit(demo_kb):
    client = logged_in(create_app(demo_kb, {"TESTING": True}), demo_kb, "demo-rep@fernbrook.example")
    with demo_kb.sessions() as session:  # logging in wrote a user and a session: nothing else is touched
        assert session.scalar(select(UsageEvent.id)) is None
    body = page(client.get("/", query_string={"q": "Do you support SSO with Okta?", "k": 5}))
    hits = results(body)
    assert hits
    for hit in hits:
        assert ">Copy link<" in hit and ">Copy passage<" in hit and ">I sent this<" in hit and ">Answers it<" in hit
        href = re.search(r'class="result-title" href="([^"]+)"', hit).group(1)
        assert href.startswith(demo_kb.demo_base_url)


# -- usage events --------------------------------------------------------------------------------------
def test_event_api_records_copies_and_feedback(alice, rkb):
    cid = content_id(rkb, VIDEO_URL)
    pid = passage_ids(rkb, VIDEO_URL)[1]
    uid = user_id(rkb, "alice@acme.test")
    before = len(events(rkb, user_id=uid))
    copied = alice.api("post", "/api/v1/events", json={"kind": "copy_link", "content_id": cid, "passage_id": pid,
                                                       "query": "vacation approvals", "question_id": None})
    assert copied.status_code == 201, copied.get_json()
    assert copied.get_json()["recorded"] is True and copied.get_json()["event"]["kind"] == "copy_link"
    assert alice.api("post", "/api/v1/events", json={"kind": "copy_passage", "content_id": cid}).status_code == 201
    feedback = alice.api("post", "/api/v1/events", json={"kind": "feedback", "content_id": cid, "answers": False,
                                                         "query": "vacation approvals"})
    assert feedback.status_code == 201
    rows = events(rkb, user_id=uid)[before:]
    assert [(r.kind, r.content_id) for r in rows] == [("copy_link", cid), ("copy_passage", cid), ("feedback", cid)]
    assert rows[0].passage_id == pid and rows[0].query == "vacation approvals"
    assert rows[2].detail == {"answers": False} and rows[2].query == "vacation approvals"


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"kind": "search", "content_id": "{cid}"}, 400, "unknown event kind 'search'"),
    ({"kind": "shared", "content_id": "{cid}"}, 400, "kinds: copy_link, copy_passage, sent, feedback"),
    ({"content_id": "{cid}"}, 400, "unknown event kind None"),
    ({"kind": "sent"}, 400, "needs content_id"),
    ({"kind": "sent", "content_id": 999999}, 404, "no content 999999"),
    ({"kind": "sent", "content_id": "12"}, 400, "'content_id' must be an id"),
    ({"kind": "sent", "content_id": True}, 400, "'content_id' must be an id"),
    ({"kind": "sent", "content_id": "{cid}", "passage_id": "{other_passage}"}, 404, "no passage"),
    ({"kind": "sent", "content_id": "{cid}", "question_id": 999999}, 404, "no question 999999"),
    ({"kind": "feedback", "content_id": "{cid}"}, 400, "needs 'answers'"),
    ({"kind": "feedback", "content_id": "{cid}", "answers": "yes"}, 400, "needs 'answers'"),
    ({"kind": "sent", "content_id": "{cid}", "answers": True}, 400, "feedback events only"),
    ({"kind": "sent", "content_id": "{cid}", "user_id": 1}, 400, "unknown field 'user_id'"),
    ({"kind": "sent", "content_id": "{cid}", "query": ["x"]}, 400, "query must be text"),
    ([1, 2], 400, "JSON object"),
])
def test_event_api_rejects_bad_input(alice, rkb, body, status, needle):
    ids = {"{cid}": content_id(rkb, VIDEO_URL), "{other_passage}": passage_ids(rkb, BASE + "/pricing/")[0]}
    if isinstance(body, dict):
        body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = len(events(rkb))
    response = alice.api("post", "/api/v1/events", json=body)
    assert response.status_code == status, response.get_json()
    assert needle in response.get_json()["error"]["message"]
    assert len(events(rkb)) == before


def test_event_api_needs_csrf_with_the_cookie_but_not_with_a_token(app, alice, rkb):
    cid = content_id(rkb, VIDEO_URL)
    before = len(events(rkb))
    no_token = alice.post("/api/v1/events", json={"kind": "copy_link", "content_id": cid})
    assert no_token.status_code == 400 and "CSRF" in no_token.get_json()["error"]["message"]
    assert len(events(rkb)) == before
    headers = api_token(rkb, "alice@acme.test")
    scripted = app.test_client().post("/api/v1/events", json={"kind": "sent", "content_id": cid}, headers=headers)
    assert scripted.status_code == 201
    assert events(rkb)[-1].user_id == user_id(rkb, "alice@acme.test")  # the token's owner, never a body field


def test_sent_form_works_without_javascript_and_as_async(alice, rkb):
    cid = content_id(rkb, BASE + "/pricing/")
    back = "/?q=growth+plan+price"
    plain = alice.form("/events", {"kind": "sent", "content_id": str(cid), "query": "growth plan price", "next": back})
    assert plain.status_code == 302 and plain.headers["Location"] == back
    assert "Noted: you sent this." in page(alice.get(back))
    row = events(rkb, kind="sent", content_id=cid)[-1]
    assert row.user_id == user_id(rkb, "alice@acme.test") and row.query == "growth plan price"
    scripted = alice.form("/events", {"kind": "feedback", "content_id": str(cid), "answers": "no"},
                          headers={"Accept": "application/json"})
    assert scripted.status_code == 201 and scripted.get_json()["event"]["detail"] == {"answers": False}
    elsewhere = alice.form("/events", {"kind": "sent", "content_id": str(cid), "next": "https://evil.test/"})
    assert elsewhere.status_code == 302 and elsewhere.headers["Location"] == "/"  # never off the site
    bad = alice.form("/events", {"kind": "sent", "content_id": "abc"})
    assert "content_id must be an id" in page(bad, 400)
    no_csrf = alice.post("/events", data={"kind": "sent", "content_id": str(cid)})
    assert no_csrf.status_code == 400


def test_record_event_checks_input_and_swallows_database_errors(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="s", base_url="https://s.test/"))
        store_page(session, site.id, PageRecord(canonical_url="https://s.test/a/", content_hash="a", title="A",
                                                kind="page", passages=[PassageInput(text="Alpha text.")]))
    cid = content_id(kb, "https://s.test/a/")
    event = record_event(kb, "click", user_id=None, content_id=cid, query="x" * 5000)
    assert event is not None and len(event["query"]) == MAX_QUERY_CHARS
    with pytest.raises(ValidationError, match="unknown event kind"):
        record_event(kb, "like", user_id=None, content_id=cid)
    with pytest.raises(NotFoundError, match="no content 42"):
        record_event(kb, "sent", user_id=None, content_id=42)
    with pytest.raises(ValidationError, match="detail is too large"):
        record_event(kb, "click", user_id=None, content_id=cid, detail={"x": "y" * 5000})
    with kb.transaction() as session:  # the table is gone: recording fails inside the database
        session.execute(text("DROP TABLE usage_events"))
    assert record_event(kb, "sent", user_id=None, content_id=cid) is None  # logged and swallowed


# -- ask -------------------------------------------------------------------------------------------------
def test_ask_form_has_labelled_fields_with_configured_choices(alice, rkb):
    body = page(alice.get("/ask"))
    assert '<label for="question">' in body and f'maxlength="{rkb.settings.questions.max_chars}"' in body
    for name in ("persona", "stage", "company", "deal_stage", "deal_value"):
        assert f'<label for="{name}">' in body and f'id="{name}"' in body
    for tag in rkb.settings.personas + rkb.settings.stages:
        assert f'<option value="{tag.name}"' in body


def test_ask_shows_the_answer_with_its_confidence_at_once(alice, rkb):
    body = page(ask(alice, "Can our people log in with Okta SAML single sign-on?", company="Initech",
                    persona="it-security", deal_value="48,000"))
    assert "This is answered." in body
    match = re.search(r"(\d+)% confident the first match answers it", body)
    assert match and int(match.group(1)) >= 40
    first = results(body.split('class="results matches"')[1].replace('<li class="result match">',
                                                                     '<li class="result">'))[0]
    assert "Single sign-on with Okta" in first and f'href="{BASE}/blog/sso-with-okta/"' in first
    qid = question_id_of(rkb, "Can our people log in with Okta SAML single sign-on?", "alice@acme.test")
    assert f'name="question_id" value="{qid}"' in first  # feedback on the match names the question
    with rkb.sessions() as session:
        stored = session.get(Question, qid)
        assert (stored.source, stored.company, stored.deal_value) == ("web", "Initech", 48000.0)


def test_gap_is_filed_and_counts_the_other_reps_who_asked(app, rkb, alice, bob):
    first = page(ask(alice, GAP))
    assert "Nothing answers this yet." in first and "you are the first to ask" in first
    qid = question_id_of(rkb, GAP, "alice@acme.test")
    assert f'href="/my/questions/{qid}"' in first
    second = page(ask(bob, GAP))
    assert "We filed it for marketing: 1 other rep asked this." in second
    carol = logged_in(app, rkb, "carol@acme.test", "rep")
    third = page(ask(carol, "Will you sign a HIPAA business associate agreement for our hospital group?"))
    assert "We filed it for marketing: 2 other reps asked this." in third
    again = page(ask(alice, GAP))  # alice asking again is not another rep
    assert "We filed it for marketing: 2 other reps asked this." in again


@pytest.mark.parametrize(("fields", "needle"), [
    ({"question": "   "}, "the question is empty"),
    ({"question": "x" * 1001}, "the question is too long"),
    ({"question": "Do you support SCIM?", "persona": "astronaut"}, "unknown persona &#39;astronaut&#39;"),
    ({"question": "Do you support SCIM?", "deal_value": "lots"}, "deal_value must be a number"),
    ({"question": "Do you support SCIM?", "company": "c" * 201}, "company is too long"),
])
def test_ask_form_errors_keep_the_input(alice, rkb, fields, needle):
    with rkb.sessions() as session:
        before = session.scalar(select(Question.id).order_by(Question.id.desc()).limit(1))
    body = page(alice.form("/ask", {"company": "Globex", "deal_stage": "Discovery", **fields}), 400)
    assert needle in body and 'role="alert"' in body
    if "company" not in fields:
        assert 'value="Globex"' in body and 'value="Discovery"' in body
    if fields["question"].strip() and len(fields["question"]) < 1001:
        assert f">{fields['question']}</textarea>" in body
    with rkb.sessions() as session:
        assert session.scalar(select(Question.id).order_by(Question.id.desc()).limit(1)) == before


def test_question_text_with_markup_is_escaped_on_ask_and_my_questions(bob):
    wording = "<script>alert('q')</script> Do you offer SCIM user provisioning for Okta?"
    for body in (page(ask(bob, wording)), page(bob.get("/my/questions"))):
        assert "<script>alert('q')</script>" not in body
        assert "&lt;script&gt;alert(&#39;q&#39;)&lt;/script&gt; Do you offer SCIM" in body


# -- my questions ----------------------------------------------------------------------------------------
def test_my_questions_lists_only_my_own_with_status_and_answer(app, rkb):
    erin = logged_in(app, rkb, "erin@acme.test", "rep")
    frank = logged_in(app, rkb, "frank@acme.test", "rep")
    page(ask(erin, "How much is the Growth plan per user per month?"))
    page(ask(erin, "Do you integrate with Microsoft Dynamics 365 Finance for invoices?"))
    page(ask(frank, "Is there an on-premise version for air-gapped networks?"))
    body = page(erin.get("/my/questions"))
    assert "How much is the Growth plan" in body and "Dynamics 365" in body
    assert "air-gapped" not in body
    rows = body.split("<tbody>")[1].split("<tr>")[1:]
    assert "Dynamics 365" in rows[0] and "in backlog" in rows[0] and "not yet" in rows[0]  # newest first
    assert "Growth plan" in rows[1] and "answered" in rows[1] and f'href="{BASE}/pricing/"' in rows[1]
    api = erin.get("/api/v1/my/questions", query_string={"limit": 1})
    data = api.get_json()
    assert api.status_code == 200 and data["total"] == 2 and data["count"] == 1 and data["next_offset"] == 1
    assert data["questions"][0]["status"] == "in_backlog" and data["questions"][0]["topic"]["ask_count"] == 1
    rest = erin.get("/api/v1/my/questions", query_string={"offset": 1}).get_json()
    assert rest["questions"][0]["status"] == "answered" and rest["questions"][0]["answer"]["url"] == BASE + "/pricing/"
    assert rest["next_offset"] is None
    bad = erin.get("/api/v1/my/questions", query_string={"user": "frank@acme.test"})
    assert bad.status_code == 400 and "unknown parameter 'user'" in bad.get_json()["error"]["message"]


def test_someone_elses_question_is_404_for_a_rep_but_readable_for_a_marketer(app, rkb, alice, bob, marketer):
    wording = "Can approvers delegate while they are on parental leave for six months?"
    page(ask(alice, wording))
    qid = question_id_of(rkb, wording, "alice@acme.test")
    own = page(alice.get(f"/my/questions/{qid}"))
    assert "Your question" in own and wording in own
    assert alice.get(f"/api/v1/questions/{qid}").get_json()["question"] == wording
    other_page = bob.get(f"/my/questions/{qid}")
    assert other_page.status_code == 404 and wording not in other_page.get_data(as_text=True)
    other_api = bob.get(f"/api/v1/questions/{qid}")
    assert other_api.status_code == 404 and other_api.get_json()["error"]["message"] == f"no question {qid}"
    token = api_token(rkb, "bob@acme.test")
    assert app.test_client().get(f"/api/v1/questions/{qid}", headers=token).status_code == 404
    assert bob.get("/my/questions/999999").status_code == 404  # same answer as for a missing one
    seen = page(marketer.get(f"/my/questions/{qid}"))
    assert "Question from alice@acme.test" in seen and 'name="question_id"' not in seen
    assert marketer.get(f"/api/v1/questions/{qid}").get_json()["mine"] is False


# -- notifications ---------------------------------------------------------------------------------------
def notify(kb: KnowledgeBase, email: str, message: str) -> int:
    with kb.transaction() as session:
        note = Notification(user_id=user_id(kb, email), kind="answered", message=message,
                            content_id=content_id(kb, BASE + "/pricing/"))
        session.add(note)
        session.flush()
        return note.id


def test_notifications_show_on_my_questions_and_can_be_marked_read(app, rkb, bob):
    dora = logged_in(app, rkb, "dora@acme.test", "rep")
    first = notify(rkb, "dora@acme.test", "Your question <b>pricing</b> has an answer: Pricing plans")
    second = notify(rkb, "dora@acme.test", "Another answer shipped")
    body = page(dora.get("/my/questions"))
    assert "2 new" in body and "Your question &lt;b&gt;pricing&lt;/b&gt; has an answer" in body
    assert f'href="{BASE}/pricing/"' in body and ">Mark all read<" in body
    unread = dora.get("/api/v1/notifications", query_string={"unread": "true"}).get_json()
    assert unread["total"] == 2 and [n["id"] for n in unread["notifications"]] == [second, first]
    assert unread["notifications"][0]["content"]["url"] == BASE + "/pricing/"
    marked = dora.api("post", "/api/v1/notifications/read", json={"ids": [first]})
    assert marked.status_code == 200 and marked.get_json()["notifications"][0]["read"] is True
    assert dora.get("/api/v1/notifications?unread=1").get_json()["total"] == 1
    assert dora.get("/api/v1/notifications").get_json()["total"] == 2
    stolen = bob.api("post", "/api/v1/notifications/read", json={"ids": [second]})
    assert stolen.status_code == 404  # someone else's notification is not found, and stays unread
    form = dora.form("/my/notifications/read", {"id": str(second)})
    assert form.status_code == 302 and form.headers["Location"] == "/my/questions"
    assert dora.get("/api/v1/notifications?unread=true").get_json()["total"] == 0
    assert "Marked 1 notification read." in page(dora.get("/my/questions"))


@pytest.mark.parametrize(("method", "path", "kwargs", "needle"), [
    ("post", "/api/v1/notifications/read", {"json": {}}, "non-empty list"),
    ("post", "/api/v1/notifications/read", {"json": {"ids": "1"}}, "non-empty list"),
    ("post", "/api/v1/notifications/read", {"json": {"ids": [True]}}, "whole numbers"),
    ("post", "/api/v1/notifications/read", {"json": {"ids": list(range(1, 502))}}, "too many ids"),
    ("post", "/api/v1/notifications/read", {"json": {"ids": [1], "user": 2}}, "unknown field 'user'"),
    ("get", "/api/v1/notifications?unread=maybe", {}, "unread must be true or false"),
    ("get", "/api/v1/notifications?email=x", {}, "unknown parameter 'email'"),
    ("get", "/api/v1/notifications?limit=ten", {}, "limit must be a whole number"),
])
def test_notification_api_bad_input_is_400(bob, method, path, kwargs, needle):
    response = bob.api(method, path, **kwargs)
    assert response.status_code == 400 and needle in response.get_json()["error"]["message"]


def test_mark_read_form_without_ids_is_400(bob):
    assert "non-empty list" in page(bob.form("/my/notifications/read", {}), 400)
    assert "id must be a notification id" in page(bob.form("/my/notifications/read", {"id": "x"}), 400)
