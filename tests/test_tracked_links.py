"""Tracked links for prospects (issue 7): making them, following /l/<token>, what counts as an open.

One knowledge base for the module: a site ``acme`` with a price page, a blog post and a video whose answer
starts at 1:35, stored and indexed once with the session's real model. Each test makes its own links (and
reps), so what it reads back is its own. Checklist items W-31..W-37 each have a test named after them.
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import delete, func, select

from kb.content import PageRecord, PassageInput, store_page
from kb.errors import NotFoundError, ValidationError
from kb.link_bots import not_counted_reason
from kb.models import Content, LinkVisit, Notification, Site, TrackedLink, UsageEvent
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.tracked_links import create_link, create_pack, list_links, plausible_token, revoke_link
from kb.users import add_user, find_user
from tests.support.live_app import LiveApp
from tests.support.web_client import api_token, logged_in
from web import create_app

BASE = "https://www.acme.test"
PRICING = BASE + "/pricing/"
BLOG = BASE + "/blog/sso-with-okta/"
VIDEO = BASE + "/videos/out-of-office/"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
SCANNERS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Microsoft Teams",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)",
    "Proofpoint URL Defense", "Mozilla/5.0 (compatible; urldefense.com scanner)", "Mimecast Link Scanner",
    "Mozilla/5.0 (compatible; Barracuda Sentinel)", "Google-Safety",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Twitterbot/1.0", "WhatsApp/2.23.20.0 A", "curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "",
]


@pytest.fixture(scope="module")
def kb(make_module_kb):
    kb = make_module_kb()
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url=BASE + "/"))
        for i, (url, title, kind, text) in enumerate([
            (PRICING, "Pricing plans", "page", "The Growth plan costs 49 dollars per user per month."),
            (BLOG, "Single sign-on with Okta", "blog", "Acme supports SAML single sign-on with Okta and Azure AD."),
        ]):
            store_page(session, site.id, PageRecord(canonical_url=url, content_hash=f"h{i}", title=title, kind=kind,
                                                    passages=[PassageInput(text=text)]))
        store_page(session, site.id, PageRecord(
            canonical_url=VIDEO, content_hash="video", title="Out-of-office delegation", kind="video",
            passages=[PassageInput(text="Welcome to this walkthrough.", start_seconds=0.0),
                      PassageInput(text="Pending approvals move to the backup approver while a manager is on "
                                        "vacation.", start_seconds=95.0, ordinal=1)]))
        for email in ("rep@acme.test", "other@acme.test"):
            add_user(session, email)
    kb.refresh_index()
    return kb


@pytest.fixture(scope="module")
def app(kb):
    return create_app(kb)


def content_id(kb, url: str) -> int:
    with kb.sessions() as session:
        return session.scalar(select(Content.id).where(Content.canonical_url == url))


def visit(app, token: str, *, ua: str = BROWSER, ip: str = "198.51.100.7", method: str = "GET", suffix: str = ""):
    client = app.test_client()
    return client.open(f"/l/{token}{suffix}", method=method, headers={"User-Agent": ua},
                       environ_base={"REMOTE_ADDR": ip})


def state(kb, link_id: int) -> dict:
    with kb.sessions() as session:
        link = session.get(TrackedLink, link_id)
        visits = session.execute(select(LinkVisit.counted, LinkVisit.is_bot, LinkVisit.reason)
                                 .where(LinkVisit.link_id == link_id).order_by(LinkVisit.id)).all()
        events = session.scalar(select(func.count()).select_from(UsageEvent).where(
            UsageEvent.kind == "link_visit", UsageEvent.detail["link_id"].as_integer() == link_id))
        return {"opens": link.open_count, "bots": link.bot_count, "first": link.first_opened_at,
                "last": link.last_opened_at, "visits": visits, "events": events}


def all_visits(kb) -> tuple[int, int]:
    with kb.sessions() as session:
        return (session.scalar(select(func.count()).select_from(LinkVisit)),
                session.scalar(select(func.sum(TrackedLink.open_count))))


def without_csrf(page: str) -> str:
    return re.sub(r'name="csrf-token" content="[^"]*"', "", page)


def new_link(kb, url: str = PRICING, owner: str = "rep@acme.test", **kw) -> dict:
    return create_link(kb, owner, url=url, **kw)


# -- W-31: unknown, revoked and malformed tokens -----------------------------------------------------------------
@pytest.mark.parametrize("token", ["A" * 24, "x" * 10_000, "..%2F..%2Fetc%2Fpasswd", "%E2%9C%93" * 8,
                                   "1'%20OR%20'1'='1", "abc;DROP%20TABLE%20tracked_links"])
def test_w31_unknown_and_malformed_tokens_are_a_generic_404(app, kb, token):
    new_link(kb)
    before = all_visits(kb)
    response = visit(app, token)
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert all_visits(kb) == before  # nothing counted or stored, for any link


def test_w31_revoked_link_is_the_same_404_and_counts_nothing(app, kb):
    link = new_link(kb, label="Revoked Corp")
    assert visit(app, link["token"]).status_code == 302
    revoke_link(kb, "rep@acme.test", link["id"])
    unknown = visit(app, "B" * 24)
    response = visit(app, link["token"], ip="203.0.113.9")
    assert response.status_code == 404 and "Location" not in response.headers
    # nothing tells a revoked link from one that never existed (but the page's own CSRF token)
    assert without_csrf(response.get_data(as_text=True)) == without_csrf(unknown.get_data(as_text=True))
    after = state(kb, link["id"])
    assert after["opens"] == 1 and len(after["visits"]) == 1


# -- W-32: parameters never change the destination ----------------------------------------------------------------
@pytest.mark.parametrize("query", ["?next=https://evil.example", "?url=https://evil.example/",
                                   "?redirect=//evil.example&t=999", "?%23=https://evil.example#frag"])
def test_w32_query_parameters_are_ignored(app, kb, query):
    link = new_link(kb, url=VIDEO, at_seconds=95)
    response = visit(app, link["token"], suffix=query)
    assert response.status_code == 302
    assert response.headers["Location"] == VIDEO + "#t=95"


# -- W-33: destinations outside the configured sites --------------------------------------------------------------
BAD_DESTINATIONS = ["//evil.example", "/\\evil.example", "https:evil.example", "https://www.acme.test@evil.example/",
                    "https://www.acme.test.evil.example/", "https://evil。com/", "https://www.acme。test/",
                    "%0d%0aSet-Cookie:a=b", "https://www.acme.test/%0d%0a\r\nSet-Cookie: a=b",
                    "javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "ftp://www.acme.test/",
                    "https://www.acme.test:8443/pricing/", "http://evil.example/", "", "https://www.acme.test\\@evil/"]


@pytest.mark.parametrize("url", BAD_DESTINATIONS)
def test_w33_off_site_destinations_are_refused_at_creation(kb, url):
    with pytest.raises(ValidationError):
        new_link(kb, url=url)


def test_w33_api_refuses_off_site_destination_with_400(app, kb):
    headers = api_token(kb, "rep@acme.test")
    client = app.test_client()
    for url in ("https://www.acme.test.evil.example/", "javascript:alert(1)", "//evil.example"):
        response = client.post("/api/v1/links", json={"url": url}, headers=headers)
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"]
    rows, _total = list_links(kb, "rep@acme.test", limit=500)
    assert all("evil" not in item["destination"] for link in rows for item in link["items"])


def test_w33_destination_is_checked_again_at_serve_time(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        add_site(session, SiteSettings(name="gone", base_url="https://gone.acme.test/"))
        add_site(session, SiteSettings(name="moved", base_url="https://old.acme.test/"))
        add_user(session, "rep@acme.test")
    gone = new_link(kb, url="https://gone.acme.test/page")
    moved = new_link(kb, url="https://old.acme.test/page")
    app = create_app(kb)
    assert visit(app, gone["token"]).status_code == 302
    with kb.transaction() as session:
        session.execute(delete(Site).where(Site.name == "gone"))
        session.scalar(select(Site).where(Site.name == "moved")).base_url = "https://new.acme.test/"
    for link in (gone, moved):
        response = visit(app, link["token"], ip="192.0.2.50")
        assert response.status_code == 404 and "Location" not in response.headers
    assert state(kb, gone["id"])["opens"] == 1 and state(kb, moved["id"])["opens"] == 0


# -- W-34: tokens cannot be guessed or enumerated -----------------------------------------------------------------
def test_w34_tokens_are_long_random_and_unrelated_to_ids(kb):
    links = [new_link(kb, label=f"enum {i}") for i in range(50)]
    tokens = [link["token"] for link in links]
    assert len(set(tokens)) == len(tokens)
    for link in links:
        assert len(link["token"]) * 6 >= 128 and plausible_token(link["token"])  # base64url: 6 bits a character
    assert len({token[:4] for token in tokens}) > 40  # no shared prefix or counter
    by_id = [link["token"] for link in sorted(links, key=lambda link: link["id"])]
    assert by_id != sorted(by_id) and by_id != sorted(by_id, reverse=True)  # not derived from the id


# -- W-35: the redirect response -----------------------------------------------------------------------------------
def test_w35_redirect_is_temporary_uncached_and_sends_no_referrer(app, kb):
    link = new_link(kb, url=BLOG)
    response = visit(app, link["token"])
    assert response.status_code in (302, 303, 307)
    assert response.headers["Location"] == BLOG
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]


# -- W-36: machines, repeats and concurrent clicks ----------------------------------------------------------------
def test_w36_head_and_options_are_not_counted(app, kb):
    link = new_link(kb)
    assert visit(app, link["token"], method="HEAD").status_code == 302
    assert visit(app, link["token"], method="OPTIONS").status_code in (200, 204)
    after = state(kb, link["id"])
    assert after["opens"] == 0 and after["first"] is None and after["events"] == 0
    assert after["visits"] == [(False, True, "head")] and after["bots"] == 1


@pytest.mark.parametrize("agent", SCANNERS)
def test_w36_scanners_and_unfurlers_are_flagged_as_bots(agent):
    assert not_counted_reason("GET", agent) is not None, agent


@pytest.mark.parametrize("agent", [
    BROWSER,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
])
def test_w36_browsers_are_people(agent):
    assert not_counted_reason("GET", agent) is None


def test_w36_scanner_visits_redirect_but_are_not_counted(app, kb):
    link = new_link(kb)
    for i, agent in enumerate(SCANNERS[:6]):
        response = visit(app, link["token"], ua=agent, ip=f"192.0.2.{i + 1}")
        assert response.status_code == 302  # a scanner must still see where it leads
    after = state(kb, link["id"])
    assert after["opens"] == 0 and after["bots"] == 6 and after["events"] == 0
    assert all(is_bot and not counted for counted, is_bot, _ in after["visits"])


def test_w36_double_click_by_one_visitor_counts_once(app, kb):
    link = new_link(kb)
    for _ in range(3):
        assert visit(app, link["token"]).status_code == 302
    assert visit(app, link["token"], ip="198.51.100.99").status_code == 302  # someone else: a second open
    after = state(kb, link["id"])
    assert after["opens"] == 2 and after["events"] == 2
    assert [reason for _, _, reason in after["visits"]] == ["counted", "repeat", "repeat", "counted"]


def test_w36_the_window_is_configurable(make_kb):
    kb = make_kb({"links": {"visit_window_minutes": 0}})
    with kb.transaction() as session:
        add_site(session, SiteSettings(name="acme", base_url=BASE))
        add_user(session, "rep@acme.test")
    link = new_link(kb)
    app = create_app(kb)
    for _ in range(3):
        visit(app, link["token"])
    assert state(kb, link["id"])["opens"] == 3


def click_together(app, token: str, agents: list[str]) -> list[int]:
    """One real thread per user agent, all released at once against the app served on 127.0.0.1: statuses."""
    import http.client

    statuses, start = [], threading.Barrier(len(agents))

    def click(agent: str, port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        conn.request("GET", f"/l/{token}", headers={"User-Agent": agent})
        statuses.append(conn.getresponse().status)
        conn.close()

    with LiveApp(app) as live:
        port = int(live.url.rsplit(":", 1)[1])
        threads = [threading.Thread(target=click, args=(agent, port)) for agent in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return statuses


def test_w36_concurrent_clicks_from_real_threads_are_all_counted(app, kb):
    link = new_link(kb, label="Concurrent Corp")
    clicks = 16
    statuses = click_together(app, link["token"], [f"{BROWSER} visitor/{n}" for n in range(clicks)])
    assert statuses == [302] * clicks
    after = state(kb, link["id"])
    assert after["opens"] == clicks and after["events"] == clicks
    assert sum(1 for counted, _, _ in after["visits"] if counted) == clicks


def test_w36_simultaneous_clicks_of_one_visitor_count_once(app, kb):
    """One prospect's client firing the link many times at once (a double click, a mail app retrying) is one
    open on either database: visits to a link are serialised by a lock on the link's row."""
    link = new_link(kb, label="Impatient Inc")
    clicks = 12
    statuses = click_together(app, link["token"], [f"{BROWSER} same-visitor"] * clicks)
    assert statuses == [302] * clicks
    after = state(kb, link["id"])
    assert after["opens"] == 1 and after["events"] == 1
    assert sorted(reason for _, _, reason in after["visits"]) == ["counted"] + ["repeat"] * (clicks - 1)


# -- W-37: a flood from one address --------------------------------------------------------------------------------
def test_w37_flood_from_one_address_still_redirects_but_stops_counting(app, kb):
    link = new_link(kb)
    limit = kb.settings.links.client_hourly_limit
    for n in range(limit + 15):
        response = visit(app, link["token"], ua=f"{BROWSER} rotating/{n}", ip="203.0.113.200")
        assert response.status_code == 302 and response.headers["Location"] == PRICING
    after = state(kb, link["id"])
    assert after["opens"] == limit and len(after["visits"]) == limit  # past the limit: not counted, not stored
    assert visit(app, link["token"], ip="203.0.113.201").status_code == 302
    assert state(kb, link["id"])["opens"] == limit + 1  # other prospects still count


# -- what the rep sees --------------------------------------------------------------------------------------------
def test_rep_sees_opens_and_is_notified_once(app, kb):
    with kb.transaction() as session:
        add_user(session, "watcher@acme.test")
    link = new_link(kb, owner="watcher@acme.test", label="Initech")
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        visit(app, link["token"], ip=ip)
    client = logged_in(app, kb, "watcher@acme.test")
    page = client.get("/my/links").get_data(as_text=True)
    assert "Initech" in page and link["url"].split("/l/")[1] in page and ">3<" in page.replace(" ", "")
    listed = client.api("GET", "/api/v1/links").get_json()
    row = next(item for item in listed["links"] if item["id"] == link["id"])
    assert row["open_count"] == 3 and row["first_opened_at"] and row["last_opened_at"]
    with kb.sessions() as session:
        owner = find_user(session, "watcher@acme.test")
        notes = session.scalars(select(Notification).where(Notification.user_id == owner.id)).all()
    assert [note.kind for note in notes] == ["link_opened"]
    assert "Initech" in notes[0].message
    assert "link_opened" in client.get("/my/questions").get_data(as_text=True)


def test_usage_event_names_the_content_and_the_rep(app, kb):
    link = new_link(kb, url=BLOG)
    visit(app, link["token"], ip="198.51.100.77")
    with kb.sessions() as session:
        event = session.scalars(select(UsageEvent).where(UsageEvent.kind == "link_visit")
                                .order_by(UsageEvent.id.desc())).first()
        owner = find_user(session, "rep@acme.test")
    assert event.content_id == content_id(kb, BLOG) and event.user_id == owner.id
    assert event.detail["link_id"] == link["id"]


def test_another_reps_links_are_not_found(app, kb):
    mine = new_link(kb, owner="other@acme.test", label="Private deal")
    client = logged_in(app, kb, "rep@acme.test")
    assert client.api("GET", f"/api/v1/links/{mine['id']}").status_code == 404
    assert client.api("DELETE", f"/api/v1/links/{mine['id']}").status_code == 404
    assert client.form(f"/my/links/{mine['id']}/revoke").status_code == 404
    assert "Private deal" not in client.get("/my/links").get_data(as_text=True)
    assert all(row["id"] != mine["id"] for row in client.api("GET", "/api/v1/links?limit=200").get_json()["links"])
    with pytest.raises(NotFoundError):
        revoke_link(kb, "rep@acme.test", mine["id"])
    assert visit(app, mine["token"]).status_code == 302  # still live


# -- making links: API, pages, packs ------------------------------------------------------------------------------
def test_api_create_show_list_and_revoke(app, kb):
    client = app.test_client()
    headers = api_token(kb, "rep@acme.test")
    made = client.post("/api/v1/links", json={"content_id": content_id(kb, VIDEO), "at": 95, "label": "Globex"},
                       headers=headers)
    assert made.status_code == 201, made.get_json()
    link = made.get_json()["link"]
    assert link["items"][0]["destination"] == VIDEO + "#t=95" and link["items"][0]["moment"] == "1:35"
    assert link["url"].endswith("/l/" + link["token"]) and link["label"] == "Globex"
    assert client.get(f"/api/v1/links/{link['id']}", headers=headers).get_json()["link"]["id"] == link["id"]
    assert client.get("/api/v1/links?bogus=1", headers=headers).status_code == 400
    for body in ({"url": PRICING, "content_id": content_id(kb, BLOG)}, {"items": [], "title": "x"},
                 {"url": PRICING, "title": "pack?"}, {"items": [{"content_id": 1}], "url": PRICING}, [1], {}):
        assert client.post("/api/v1/links", json=body, headers=headers).status_code == 400, body
    assert client.post("/api/v1/links", json={"url": PRICING, "as": "other@acme.test"},
                       headers=headers).status_code == 400
    assert client.post("/api/v1/links", json={"url": PRICING, "at": -5}, headers=headers).status_code == 400
    assert client.post("/api/v1/links", json={"content_id": 10**9}, headers=headers).status_code == 404
    revoked = client.delete(f"/api/v1/links/{link['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["link"]["active"] is False
    assert visit(app, link["token"]).status_code == 404


def test_search_results_offer_a_tracked_link_and_the_form_makes_one(app, kb):
    client = logged_in(app, kb, "rep@acme.test")
    page = client.get("/?q=backup+approver+vacation").get_data(as_text=True)
    video_id = content_id(kb, VIDEO)
    assert f"/my/links/new?content_id={video_id}" in page and "Tracked link" in page
    form = client.get(f"/my/links/new?content_id={video_id}&at=95")
    assert form.status_code == 200 and 'value="95"' in form.get_data(as_text=True)
    made = client.form("/my/links", {"content_id": video_id, "at": "95", "label": "Umbrella <b>Corp</b>"})
    body = made.get_data(as_text=True)
    assert made.status_code == 201 and "data-copy-target" in body and "Umbrella &lt;b&gt;Corp&lt;/b&gt;" in body
    token = body.split("/l/")[1].split("<")[0].strip()
    assert visit(app, token).headers["Location"] == VIDEO + "#t=95"
    assert client.form("/my/links", {"content_id": video_id, "at": "soon"}).status_code == 400
    assert "My links" in client.get("/").get_data(as_text=True)


def test_answer_pack_from_my_question(app, kb):
    client = logged_in(app, kb, "rep@acme.test")
    client.form("/ask", {"question": "Does Acme support single sign-on with Okta for our staff?"})
    with kb.sessions() as session:
        owner = find_user(session, "rep@acme.test")
        from kb.models import Question
        question = session.scalars(select(Question).where(Question.asked_by_id == owner.id)
                                   .order_by(Question.id.desc())).first()
        matches = [m["content_id"] for m in question.matches]
    assert f"/my/links/new?question_id={question.id}" in client.get(f"/my/questions/{question.id}").get_data(as_text=True)
    form = client.get(f"/my/links/new?question_id={question.id}").get_data(as_text=True)
    assert 'name="item"' in form
    made = client.form("/my/links", {"question_id": question.id, "item": [str(cid) for cid in matches[:2]],
                                     "label": "Hooli"})
    assert made.status_code == 201
    token = made.get_data(as_text=True).split("/l/")[1].split("<")[0].strip()
    landing = visit(app, token)
    text = landing.get_data(as_text=True)
    assert landing.status_code == 200 and "single sign-on" in text.lower() and "Hooli" not in text
    assert landing.headers["Cache-Control"] == "no-store" and landing.headers["Referrer-Policy"] == "no-referrer"
    onward = visit(app, token, suffix="/0")
    assert onward.status_code == 302 and onward.headers["Location"].startswith(BASE)
    assert visit(app, token, suffix="/9").status_code == 404
    other = logged_in(app, kb, "other@acme.test")
    assert other.get(f"/my/links/new?question_id={question.id}").status_code == 404


def test_pack_rules(kb):
    with pytest.raises(ValidationError):
        create_pack(kb, "rep@acme.test", [], title="Empty")
    with pytest.raises(ValidationError):
        create_pack(kb, "rep@acme.test", [{"content_id": content_id(kb, BLOG)}])  # no question, no title
    pack = create_pack(kb, "rep@acme.test", [{"content_id": content_id(kb, BLOG)},
                                              {"content_id": content_id(kb, VIDEO), "at": 95}], title="SSO?")
    assert [item["destination"] for item in pack["items"]] == [BLOG, VIDEO + "#t=95"]


def test_content_page_offers_a_tracked_link(app, kb):
    marketer = logged_in(app, kb, "marketer@acme.test", "marketer")
    pricing = content_id(kb, PRICING)
    page = marketer.get(f"/content/{pricing}").get_data(as_text=True)
    assert f"/my/links/new?content_id={pricing}" in page
    assert marketer.form("/my/links", {"content_id": pricing}).status_code == 201  # marketers may send links too


def test_hosted_recording_lands_on_its_platform_only_when_its_host_is_allowed(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url=BASE))
        add_site(session, SiteSettings(name="tube", base_url="https://tube.acme.test", allowed_hosts=[]))
        _, content = store_page(session, site.id, PageRecord(canonical_url=VIDEO, content_hash="v", title="Demo",
                                                             kind="video", passages=[PassageInput(text="x")]))
        content.media_url, content.media_platform = "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube"
        add_user(session, "rep@acme.test")
        video_id = content.id
    own_page = create_link(kb, "rep@acme.test", content_id=video_id, at_seconds=95)
    assert own_page["items"][0]["destination"] == VIDEO + "#t=95"  # YouTube is not one of the company's sites
    with kb.transaction() as session:
        session.scalar(select(Site).where(Site.name == "tube")).allowed_hosts = ["www.youtube.com"]
    hosted = create_link(kb, "rep@acme.test", content_id=video_id, at_seconds=95)
    assert hosted["items"][0]["destination"] == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=95s"


def test_old_visit_rows_go_under_the_usage_retention_and_the_link_keeps_its_totals(kb, app):
    from datetime import timedelta

    from kb.usage_rollup import roll_up

    link = new_link(kb, label="retention")
    assert visit(app, link["token"], ip="192.0.2.77").status_code == 302
    with kb.transaction() as session:  # the visit happened long before the retention window
        for row in session.scalars(select(LinkVisit).where(LinkVisit.link_id == link["id"])):
            row.at = row.at - timedelta(days=kb.settings.usage.retention_days + 5)
    report = roll_up(kb)
    assert report.link_visits_deleted >= 1
    after = state(kb, link["id"])
    assert after["opens"] == 1 and after["visits"] == []
