"""Admin: users (invite, role, disable), sites (add, edit, crawl now, crawl health per URL), access.

Real parts throughout: a SQLite knowledge base with the session's model, the app through browser-like
clients that log in with the real form, and crawls of a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from kb.crawl_jobs import crawl_job, start_crawl
from kb.models import Content, Site, User
from kb.settings import SiteSettings
from kb.sites import add_site
from tests.support.http_server import Route
from tests.support.web_client import api_token, browser, logged_in
from web import create_app

LINK = re.compile(r'<code id="invitation-url">([^<]+)</code>')


@pytest.fixture(scope="module")
def admin_kb(make_module_kb):
    return make_module_kb(name="admin")


@pytest.fixture(scope="module")
def app(admin_kb):
    return create_app(admin_kb, {"TESTING": True})


@pytest.fixture(scope="module")
def admin(app, admin_kb):
    return logged_in(app, admin_kb, "boss@acme.test", "admin")


def user_id(kb, email: str) -> int:
    with kb.sessions() as db:
        return db.scalar(select(User.id).where(User.email == email))


# -- users -------------------------------------------------------------------------------------------
def test_invitation_link_lets_the_new_user_set_a_password_and_log_in(app, admin, admin_kb):
    response = admin.form("/admin/users", {"email": "New.Rep@Acme.test", "name": "Nora Rep", "role": "marketer"})
    assert response.status_code == 201
    url = LINK.search(response.get_data(as_text=True)).group(1)
    assert url.startswith("https://localhost/invitation/")
    listing = admin.get("/admin/users").get_data(as_text=True)
    assert "new.rep@acme.test" in listing and "invitation pending" in listing
    assert url not in listing  # shown once

    newcomer = browser(app)
    path = url.removeprefix("https://localhost")
    assert newcomer.get(path).status_code == 200
    response = newcomer.form(path, {"password": "a long enough passphrase", "confirm": "a long enough passphrase"})
    assert response.status_code == 302
    me = newcomer.get("/api/v1/me").get_json()
    assert me["email"] == "new.rep@acme.test" and me["role"] == "marketer"
    assert browser(app).get(path).status_code == 404  # used up

    again = browser(app)
    response = again.form("/login", {"email": "new.rep@acme.test", "password": "a long enough passphrase"})
    assert response.status_code == 302
    assert "password set" in admin.get("/admin/users").get_data(as_text=True)


def test_reinvite_replaces_the_old_link(admin, admin_kb, app):
    first = admin.form("/admin/users", {"email": "lost@acme.test", "role": "rep"})
    old = LINK.search(first.get_data(as_text=True)).group(1).removeprefix("https://localhost")
    second = admin.form(f"/admin/users/{user_id(admin_kb, 'lost@acme.test')}/invitation")
    assert second.status_code == 201
    new = LINK.search(second.get_data(as_text=True)).group(1).removeprefix("https://localhost")
    assert new != old
    assert browser(app).get(old).status_code == 404
    assert browser(app).get(new).status_code == 200


def test_invitation_link_uses_base_url_when_set(make_kb):
    kb = make_kb({"web": {"base_url": "https://kb.example.com/"}})
    client = logged_in(create_app(kb, {"TESTING": True}), kb, "root@acme.test", "admin")
    response = client.api("POST", "/api/v1/users", json={"email": "far@acme.test"})
    assert response.status_code == 201
    assert response.get_json()["invitation_url"].startswith("https://kb.example.com/invitation/")


def test_a_host_outside_trusted_hosts_cannot_shape_the_link(make_kb):
    kb = make_kb({"web": {"trusted_hosts": ["localhost"]}})
    client = logged_in(create_app(kb, {"TESTING": True}), kb, "root@acme.test", "admin")
    response = client.api("POST", "/api/v1/users", json={"email": "evil@acme.test"}, base_url="https://evil.test")
    assert response.status_code == 400
    with kb.sessions() as db:
        assert db.scalar(select(User).where(User.email == "evil@acme.test")) is None


def test_role_change_takes_effect_on_the_next_request_of_a_live_session(app, admin, admin_kb):
    marketer = logged_in(app, admin_kb, "mia@acme.test", "marketer")
    assert marketer.get("/admin/users").status_code == 403
    uid = user_id(admin_kb, "mia@acme.test")
    response = admin.form(f"/admin/users/{uid}/role", {"role": "admin"})
    assert response.status_code == 302
    assert marketer.get("/admin/users").status_code == 200
    admin.form(f"/admin/users/{uid}/role", {"role": "rep"})
    assert marketer.get("/admin/users").status_code == 403
    assert marketer.get("/api/v1/me").get_json()["role"] == "rep"


def test_disabling_ends_sessions_and_stops_tokens_at_once(app, admin, admin_kb):
    rep = logged_in(app, admin_kb, "dan@acme.test", "rep")
    token = api_token(admin_kb, "dan@acme.test")
    uid = user_id(admin_kb, "dan@acme.test")
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 200
    response = admin.form(f"/admin/users/{uid}/active", {"active": "0"})
    assert response.status_code == 302
    assert rep.get("/api/v1/me").status_code == 401
    assert rep.get("/").status_code == 302  # to the login page
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    assert "disabled" in admin.get("/admin/users").get_data(as_text=True)
    # enabling lets the token work again; the ended session stays ended
    assert admin.api("PATCH", f"/api/v1/users/{uid}", json={"active": True}).status_code == 200
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 200
    assert rep.get("/api/v1/me").status_code == 401


def test_the_last_admin_can_be_neither_demoted_nor_disabled(make_kb):
    kb = make_kb()
    app = create_app(kb, {"TESTING": True})
    client = logged_in(app, kb, "only@acme.test", "admin")
    uid = user_id(kb, "only@acme.test")
    for path, data in ((f"/admin/users/{uid}/role", {"role": "rep"}), (f"/admin/users/{uid}/active", {"active": "0"})):
        response = client.form(path, data)
        assert response.status_code == 409
        assert "only@acme.test is the last admin" in response.get_data(as_text=True)
    response = client.api("PATCH", f"/api/v1/users/{uid}", json={"role": "marketer"})
    assert response.status_code == 409 and "last admin" in response.get_json()["error"]["message"]
    assert client.get("/admin/users").status_code == 200  # still an admin


def test_users_api_pages_and_invites(admin, admin_kb):
    response = admin.api("POST", "/api/v1/users", json={"email": "api.user@acme.test", "name": "Api", "role": "rep"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["invitation_pending"] is True and not body["user"]["has_password"]
    assert "/invitation/" in body["invitation_url"]
    page = admin.get("/api/v1/users", query_string={"limit": 1}).get_json()
    assert page["count"] == 1 and page["total"] >= 3 and page["next_offset"] == 1
    assert set(page["users"][0]) >= {"email", "role", "active", "has_password", "invitation_pending", "last_login"}
    assert "password_hash" not in page["users"][0]
    assert admin.get("/api/v1/users", query_string={"limit": 100000}).get_json()["limit"] == 200


@pytest.mark.parametrize(("method", "path", "body", "status", "needle"), [
    ("POST", "/api/v1/users", {"email": "x@acme.test", "password_hash": "$argon2id$..."}, 400, "unknown field"),
    ("POST", "/api/v1/users", {"email": "x@acme.test", "id": 1}, 400, "unknown field 'id'"),
    ("POST", "/api/v1/users", {"email": "not-an-address"}, 400, "not an e-mail address"),
    ("POST", "/api/v1/users", {"email": "x@acme.test", "role": "root"}, 400, "unknown role"),
    ("POST", "/api/v1/users", {"email": "x@acme.test", "name": "n" * 201}, 400, "at most 200"),
    ("POST", "/api/v1/users", {"name": "no address"}, 400, "'email' is required"),
    ("POST", "/api/v1/users", {"email": "boss@acme.test"}, 409, "already exists"),
    ("PATCH", "/api/v1/users/{me}", {"password_hash": "x"}, 400, "unknown field 'password_hash'"),
    ("PATCH", "/api/v1/users/{me}", {"email": "other@acme.test"}, 400, "unknown field 'email'"),
    ("PATCH", "/api/v1/users/{me}", {"active": "no"}, 400, "true or false"),
    ("PATCH", "/api/v1/users/{me}", {"role": "superuser"}, 400, "unknown role"),
    ("PATCH", "/api/v1/users/999999", {"role": "rep"}, 404, "no user"),
    ("GET", "/api/v1/users?sort=email", None, 400, "unknown parameter 'sort'"),
])
def test_users_api_rejects_bad_input(admin, admin_kb, method, path, body, status, needle):
    path = path.replace("{me}", str(user_id(admin_kb, "boss@acme.test")))
    response = admin.api(method, path, json=body) if body is not None else admin.api(method, path)
    assert response.status_code == status
    assert needle in response.get_json()["error"]["message"]


def test_a_bad_invite_form_shows_the_message_and_keeps_the_input(admin):
    response = admin.form("/admin/users", {"email": "<script>alert(1)</script>", "name": "<b>x</b>", "role": "rep"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "not an e-mail address" in html and "<script>alert(1)" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_non_admins_get_403_everywhere_in_admin(app, admin_kb):
    marketer = logged_in(app, admin_kb, "marge@acme.test", "marketer")
    token = api_token(admin_kb, "marge@acme.test")
    for path in ("/admin/users", "/admin/sites", "/admin/settings", "/api/v1/users", "/api/v1/sites",
                 "/api/v1/settings"):
        assert marketer.get(path).status_code == 403, path
    assert app.test_client().get("/api/v1/users", headers=token).status_code == 403
    response = marketer.api("POST", "/api/v1/users", json={"email": "sneaky@acme.test", "role": "admin"})
    assert response.status_code == 403
    assert marketer.form("/admin/settings", {"questions.answer_threshold": "0"}).status_code == 403
    assert "Admin" not in marketer.get("/account").get_data(as_text=True).split("</nav>")[0]


# -- sites -------------------------------------------------------------------------------------------
def test_add_and_edit_a_site_through_the_pages(admin, admin_kb):
    response = admin.form("/admin/sites", {
        "name": "docs", "base_url": "https://docs.acme.test/", "sitemaps": "https://docs.acme.test/sitemap.xml\n",
        "feeds": "", "include": "^https://docs\\.acme\\.test/guides/\n", "exclude": "/print/", "allowed_hosts": "",
        "page_budget": "300", "delay_seconds": "", "max_depth": ""})
    assert response.status_code == 302
    page = admin.get(response.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "docs" in html and "https://docs.acme.test/sitemap.xml" in html
    with admin_kb.sessions() as db:
        site = db.scalar(select(Site).where(Site.name == "docs"))
        assert site.page_budget == 300 and site.delay_seconds == -1.0 and site.include == ["^https://docs\\.acme\\.test/guides/"]
        assert site.source == "web" and site.allow_private_addresses is False
    response = admin.form(f"/admin/sites/{site.id}", {"base_url": "https://docs.acme.test/", "page_budget": "50",
                                                    "feeds": "https://docs.acme.test/feed.xml"})
    assert response.status_code == 302
    data = admin.get(f"/api/v1/sites/{site.id}").get_json()
    assert data["page_budget"] == 50 and data["feeds"] == ["https://docs.acme.test/feed.xml"]
    assert data["sitemaps"] == ["https://docs.acme.test/sitemap.xml"]  # fields not sent stay
    assert any(row["name"] == "docs" for row in admin.get("/api/v1/sites").get_json()["sites"])


@pytest.mark.parametrize(("fields", "needle"), [
    ({"name": "evil", "base_url": "javascript:alert(1)"}, "must be an http(s) URL"),
    ({"name": "evil", "base_url": "https://user:pw@acme.test/"}, "credentials"),
    ({"name": "bad name!", "base_url": "https://acme.test/"}, "site name"),
    ({"name": "evil", "base_url": "https://acme.test/", "sitemaps": "javascript:alert(1)"}, "not an http(s) URL"),
    ({"name": "evil", "base_url": "https://acme.test/", "include": "(unclosed"}, "bad pattern"),
    ({"name": "evil", "base_url": "https://acme.test/", "allowed_hosts": "evil.test/path"}, "not a host name"),
    ({"name": "evil", "base_url": "https://acme.test/", "page_budget": "lots"}, "must be an integer"),
    ({"name": "evil", "base_url": "https://acme.test/", "page_budget": "999999999"}, "page_budget"),
    ({"name": "evil", "base_url": "https://acme.test/", "delay_seconds": "3600"}, "delay_seconds"),
])
def test_bad_site_forms_are_400_with_the_message(admin, fields, needle):
    response = admin.form("/admin/sites", fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert needle in html.replace("&#39;", "'")
    assert "<script" not in html.split('<main', 1)[1].replace('<script src=', '')


@pytest.mark.parametrize(("method", "body", "status", "needle"), [
    ("POST", {"name": "evil", "base_url": "javascript:alert(1)"}, 400, "http(s) URL"),
    ("POST", {"name": "x", "base_url": "https://x.test/", "allow_private_addresses": True}, 400, "unknown field"),
    ("POST", {"name": "x", "base_url": "https://x.test/", "id": 7}, 400, "unknown field 'id'"),
    ("POST", {"name": "x", "base_url": "https://x.test/", "sitemaps": "https://x.test/s.xml"}, 201, ""),
    ("POST", {"name": "x", "base_url": "https://x.test/"}, 409, "already exists"),
    ("POST", {"name": "y", "base_url": "https://y.test/", "feeds": [1, 2]}, 400, "must be a string"),
    ("POST", {"name": "y", "base_url": "https://y.test/", "page_budget": True}, 400, "must be an integer"),
])
def test_sites_api_checks_bodies(admin, method, body, status, needle):
    response = admin.api(method, "/api/v1/sites", json=body)
    assert response.status_code == status, response.get_json()
    if needle:
        assert needle in response.get_json()["error"]["message"]


def test_sites_api_edit_rules(admin, admin_kb, make_kb):
    site = admin.api("POST", "/api/v1/sites", json={"name": "edit-me", "base_url": "https://e.test/"}).get_json()
    sid = site["id"]
    assert admin.api("PATCH", f"/api/v1/sites/{sid}", json={"name": "renamed"}).status_code == 400
    assert admin.api("PATCH", f"/api/v1/sites/{sid}", json={"allow_private_addresses": True}).status_code == 400
    assert admin.api("PATCH", f"/api/v1/sites/{sid}", json={"base_url": "javascript:x"}).status_code == 400
    assert admin.api("PATCH", "/api/v1/sites/999999", json={"page_budget": 5}).status_code == 404
    response = admin.api("PATCH", f"/api/v1/sites/{sid}", json={"exclude": ["/tag/"], "max_depth": 2})
    assert response.status_code == 200 and response.get_json()["exclude"] == ["/tag/"]

    kb = make_kb({"sites": [{"name": "from-config", "base_url": "https://c.test/"}]})
    client = logged_in(create_app(kb, {"TESTING": True}), kb, "root@acme.test", "admin")
    rows = client.get("/api/v1/sites").get_json()["sites"]
    assert [r["name"] for r in rows] == ["from-config"] and rows[0]["editable"] is False
    response = client.api("PATCH", f"/api/v1/sites/{rows[0]['id']}", json={"page_budget": 5})
    assert response.status_code == 409 and "config.toml" in response.get_json()["error"]["message"]


def test_stored_site_urls_are_escaped_and_never_become_script_links(admin, admin_kb):
    with admin_kb.transaction() as db:
        site = add_site(db, SiteSettings(name="xss", base_url='https://x.test/"><script>alert(1)</script>'))
    html = admin.get(f"/admin/sites/{site.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


# -- crawl now and crawl health ------------------------------------------------------------------------
def page(title: str, links: tuple[str, ...] = ()) -> str:
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    body = (f"{title} explains how finance teams approve purchase orders, sync invoices with NetSuite and "
            "keep every subsidiary's spend visible in one place. ") * 4
    return (f"<!doctype html><html lang='en'><head><title>{title}</title></head><body><nav><ul>{nav}</ul></nav>"
            f"<main><article><h1>{title}</h1><p>{body}</p></article></main></body></html>")


def serve_site(server) -> None:
    server.add("/robots.txt", Route("User-agent: *\nDisallow: /internal/\n", content_type="text/plain"))
    server.add("/", page("Acme home <script>alert(1)</script>",
                         ("/guides/approvals/", "/missing/", "/internal/salaries/", "/files/price-list.pdf",
                          "/export/prices")))
    server.add("/guides/approvals/", page("Approval workflows"))
    server.add("/export/prices", Route(b"%PDF-1.4 not really", content_type="application/pdf"))


def local_site(kb, server, name: str) -> int:
    """A site on 127.0.0.1, added the way `kb sites add --allow-private-addresses` adds it."""
    with kb.transaction() as db:
        return add_site(db, SiteSettings(name=name, base_url=server.url("/"), allow_private_addresses=True)).id


def test_crawl_now_runs_in_the_background_and_the_health_report_explains_every_url(admin, admin_kb, local_server):
    serve_site(local_server)
    sid = local_site(admin_kb, local_server, "local")
    response = admin.form(f"/admin/sites/{sid}/crawl")
    assert response.status_code == 302
    job = crawl_job(admin_kb, sid)
    assert job is not None and job.wait(timeout=120), "the crawl did not finish in time"
    assert job.state == "completed", job.error
    with admin_kb.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Content).where(Content.site_id == sid)) == 2

    html = admin.get(f"/admin/sites/{sid}").get_data(as_text=True)
    assert "completed" in html and "finished" in html
    report = admin.get(f"/admin/sites/{sid}/health")
    html = report.get_data(as_text=True)
    assert report.status_code == 200
    for needle in ("/guides/approvals/", "/missing/", "http_404", "/internal/salaries/", "robots_disallowed",
                   "/files/price-list.pdf", "non_page_extension", "/export/prices", "unsupported_type"):
        assert needle in html, needle
    assert "<script>alert(1)" not in html

    skipped = admin.get(f"/admin/sites/{sid}/health", query_string={"outcome": "skipped"}).get_data(as_text=True)
    assert "robots_disallowed" in skipped and "/guides/approvals/" not in skipped

    data = admin.get(f"/api/v1/sites/{sid}/health", query_string={"limit": 2}).get_json()
    assert data["count"] == 2 and data["total"] >= 5 and data["next_offset"] == 2
    assert data["reasons"]["http_404"] == 1 and data["reasons"]["robots_disallowed"] == 1
    assert data["outcomes"]["new"] == 2 and data["run"]["status"] == "completed"
    failed = admin.get(f"/api/v1/sites/{sid}/health", query_string={"outcome": "failed"}).get_json()
    assert [(p["url"].removeprefix(local_server.base_url), p["reason"], p["http_status"]) for p in failed["pages"]] \
        == [("/missing/", "http_404", 404)]
    bad = admin.get(f"/api/v1/sites/{sid}/health", query_string={"outcome": "exploded"})
    assert bad.status_code == 400 and "unknown outcome" in bad.get_json()["error"]["message"]
    assert admin.get(f"/admin/sites/{sid}/health", query_string={"outcome": "exploded"}).status_code == 400
    assert admin.get("/api/v1/sites/999999/health").status_code == 404
    listed = next(r for r in admin.get("/api/v1/sites").get_json()["sites"] if r["id"] == sid)
    assert listed["last_crawl"]["outcomes"]["new"] == 2


def test_a_second_crawl_now_while_one_runs_says_already_running(admin, admin_kb, local_server):
    release = threading.Event()

    def slow_robots(handler):
        release.wait(timeout=60)  # the crawl stays "running" until the test lets it go
        body = b"User-agent: *\nAllow: /\n"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    local_server.add("/robots.txt", slow_robots)
    local_server.add("/", page("Slow site"))
    sid = local_site(admin_kb, local_server, "slow")
    try:
        first = admin.api("POST", f"/api/v1/sites/{sid}/crawl")
        assert first.status_code == 202 and first.get_json()["crawl_job"]["state"] == "running"
        second = admin.api("POST", f"/api/v1/sites/{sid}/crawl")
        assert second.status_code == 409 and "already running" in second.get_json()["error"]["message"]
        page_response = admin.form(f"/admin/sites/{sid}/crawl")
        assert page_response.status_code == 409 and "already running" in page_response.get_data(as_text=True)
        assert "crawling" in admin.get(f"/admin/sites/{sid}").get_data(as_text=True)
    finally:
        release.set()
    job = crawl_job(admin_kb, sid)
    assert job.wait(timeout=120) and job.state == "completed", job.error
    assert admin.api("POST", f"/api/v1/sites/{sid}/crawl").status_code == 202  # free again
    assert crawl_job(admin_kb, sid).wait(timeout=120)


def test_a_crawl_that_fails_is_recorded_and_the_app_goes_on(admin, admin_kb):
    with admin_kb.transaction() as db:
        sid = add_site(db, SiteSettings(name="broken", base_url="https://broken.test/")).id

    def crawl_that_breaks(kb, name, progress=None):
        raise RuntimeError(f"disk full while crawling {name}")

    job = start_crawl(admin_kb, sid, crawl_that_breaks, started_by="boss@acme.test")
    assert job.wait(timeout=10) and job.state == "failed"
    html = admin.get(f"/admin/sites/{sid}").get_data(as_text=True)
    assert "RuntimeError: disk full while crawling broken" in html
    assert admin.get("/admin/sites").status_code == 200


def test_crawl_now_for_an_unknown_site_is_404(admin):
    assert admin.api("POST", "/api/v1/sites/999999/crawl").status_code == 404
    assert admin.form("/admin/sites/999999/crawl").status_code == 404
    assert admin.get("/admin/sites/999999").status_code == 404


def test_the_admin_pages_render_for_an_admin(admin):
    for path in ("/admin/users", "/admin/sites", "/admin/settings"):
        response = admin.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert 'class="admin-tabs' in html and "Traceback" not in html
