"""Accounts and access: passwords, sessions, CSRF, tokens, rate limits, headers (checklist section B)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kb.models import ApiToken, LoginSession, User
from kb.users import set_active, set_role
from tests.support.web_client import PASSWORD, api_token, browser, logged_in, make_user
from web import create_app


@pytest.fixture
def site(make_kb):
    kb = make_kb()
    return kb, create_app(kb, {"TESTING": True})


def session_cookie(client):
    cookie = client.get_cookie("__Host-kb_session")
    return cookie.value if cookie else None


def test_session_cookie_flags_and_fixation(site):  # W-1, W-4
    kb, app = site
    make_user(kb, "ana@acme.test", "rep")
    client = browser(app)
    page = client.get("/login")
    header = page.headers["Set-Cookie"]
    assert header.startswith("__Host-kb_session=") and "Secure" in header and "HttpOnly" in header
    assert "SameSite=Lax" in header and "Path=/" in header and "Domain" not in header
    before = session_cookie(client)
    assert client.form("/login", {"email": "ana@acme.test", "password": PASSWORD}).status_code == 302
    assert session_cookie(client) != before


def test_passwords_are_argon2id_and_rules_apply(site):  # W-6, W-7, W-10
    kb, app = site
    make_user(kb, "ana@acme.test", "rep")
    with kb.sessions() as db:
        assert db.scalar(select(User.password_hash)).startswith("$argon2id$v=19$m=65536,t=3")
        assert db.scalar(select(User).where(User.role == "admin")) is None  # a fresh install has no admin
    client = logged_in(app, kb, "ana@acme.test")
    for new, needle in [("short", "at least 8"), ("password1", "most common"), ("x" * 129, "at most 128"),
                        ("ana@acme.test", "e-mail")]:
        response = client.form("/account/password", {"current_password": PASSWORD, "new_password": new,
                                                      "confirm": new})
        assert response.status_code == 400 and needle in response.get_data(as_text=True)
    long_unicode = "Ünïcödé pass phrase " * 3  # 60 characters, kept whole (no truncation or case-folding)
    done = client.form("/account/password", {"current_password": PASSWORD, "new_password": long_unicode,
                                             "confirm": long_unicode})
    assert done.status_code == 302
    again = browser(app)
    assert again.form("/login", {"email": "ana@acme.test", "password": long_unicode.lower()}).status_code == 401
    assert again.form("/login", {"email": "ana@acme.test", "password": long_unicode}).status_code == 302


def test_logout_kills_the_session_on_the_server(site):  # W-2
    kb, app = site
    client = logged_in(app, kb, "ana@acme.test")
    stolen = session_cookie(client)
    assert client.form("/logout").status_code == 302
    replay = browser(app)
    replay.set_cookie("__Host-kb_session", stolen, domain="localhost", secure=True)
    assert replay.get("/api/v1/me").status_code == 401
    assert replay.get("/").status_code == 302


def test_disable_role_change_and_password_change_apply_at_once(site):  # W-3, W-14
    kb, app = site
    marketer = logged_in(app, kb, "mia@acme.test", "marketer")
    token = api_token(kb, "mia@acme.test")
    assert marketer.api("patch", "/api/v1/topics/1", json={"status": "triaged"}).status_code == 404  # allowed
    with kb.transaction() as db:
        set_role(db, "mia@acme.test", "rep")
    assert marketer.api("patch", "/api/v1/topics/1", json={"status": "triaged"}).status_code == 403
    assert app.test_client().get("/api/v1/me", headers=token).get_json()["role"] == "rep"
    with kb.transaction() as db:
        set_active(db, "mia@acme.test", False)
    assert marketer.get("/api/v1/me").status_code == 401
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    with kb.transaction() as db:
        set_active(db, "mia@acme.test", True)
    other_browser = logged_in(app, kb, "mia@acme.test", "rep")
    third = browser(app)
    assert third.form("/login", {"email": "mia@acme.test", "password": PASSWORD}).status_code == 302
    third.get("/account")
    assert third.form("/account/password", {"current_password": PASSWORD, "new_password": "a brand new phrase",
                                            "confirm": "a brand new phrase"}).status_code == 302
    assert other_browser.get("/api/v1/me").status_code == 401  # every other session ended
    assert third.get("/api/v1/me").status_code == 200  # the one that changed it carries on


def test_same_answer_for_unknown_user_and_wrong_password(site):  # W-9
    kb, app = site
    make_user(kb, "ana@acme.test")
    client = browser(app)
    wrong = client.form("/login", {"email": "ana@acme.test", "password": "not it at all"})
    unknown = client.form("/login", {"email": "nobody@acme.test", "password": "not it at all"})
    assert wrong.status_code == unknown.status_code == 401
    message = re.compile(r'<p class="notice error" role="alert">([^<]+)</p>')
    assert message.search(wrong.get_data(as_text=True)).group(1) == message.search(unknown.get_data(as_text=True)).group(1)


def test_failed_logins_are_rate_limited_per_account_across_addresses(site):  # W-8
    kb, app = site
    make_user(kb, "ana@acme.test")
    for attempt in range(5):
        client = browser(app)
        client.get("/login", environ_base={"REMOTE_ADDR": f"10.0.0.{attempt}"})
        response = client.form("/login", {"email": "ana@acme.test", "password": "wrong guess here"},
                               environ_base={"REMOTE_ADDR": f"10.0.0.{attempt}"},
                               headers={"X-Forwarded-For": f"192.0.2.{attempt}", "Referer": "https://localhost/"})
        assert response.status_code == 401
    blocked = browser(app)
    response = blocked.form("/login", {"email": "ana@acme.test", "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 15 * 60
    other = make_user(kb, "bo@acme.test")
    assert other and browser(app).form("/login", {"email": "bo@acme.test", "password": PASSWORD}).status_code == 302


def test_csrf_is_required_for_cookie_writes_but_not_for_tokens(site):  # W-16, W-17
    kb, app = site
    client = logged_in(app, kb, "mia@acme.test", "marketer")
    no_token = client.patch("/api/v1/topics/1", json={"status": "triaged"})
    assert no_token.status_code == 400 and "CSRF" in no_token.get_json()["error"]["message"]
    forged = client.patch("/api/v1/topics/1", json={"status": "triaged"}, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    form_without = client.post("/account/tokens", data={"name": "x"})
    assert form_without.status_code == 400
    assert client.get("/api/v1/me").status_code == 200  # GET never needs (or changes) anything
    token = api_token(kb, "mia@acme.test")
    bare = app.test_client()
    assert bare.patch("/api/v1/topics/1", json={"status": "triaged"}, headers=token).status_code == 404
    assert bare.patch("/api/v1/topics/1", json={"status": "triaged"}).status_code == 401


def test_api_tokens_shown_once_stored_hashed_revocable_never_in_the_url(site):  # W-15
    kb, app = site
    client = logged_in(app, kb, "ana@acme.test")
    page = client.form("/account/tokens", {"name": "CRM sync"})
    assert page.status_code == 201
    secret = re.search(r'<code id="new-token">(skb_[\w-]+)</code>', page.get_data(as_text=True)).group(1)
    assert len(secret) >= 4 + 43  # 256 bits, URL-safe base64
    assert secret not in client.get("/account").get_data(as_text=True)  # shown once
    with kb.sessions() as db:
        row = db.scalars(select(ApiToken)).one()
        assert secret not in (row.token_hash, row.prefix) and row.prefix == secret[:10]
    bare = app.test_client()
    assert bare.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    in_url = bare.get(f"/api/v1/me?access_token={secret}")
    assert in_url.status_code == 400 and "Authorization header" in in_url.get_json()["error"]["message"]
    assert bare.get("/api/v1/me", headers={"Authorization": f"Basic {secret}"}).status_code == 401
    assert client.form(f"/account/tokens/{row.id}/revoke").status_code == 302
    assert bare.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    other = logged_in(app, kb, "bo@acme.test")
    assert other.form(f"/account/tokens/{row.id}/revoke").status_code == 404  # someone else's: not found


def test_login_redirects_only_to_local_paths(site):
    kb, app = site
    make_user(kb, "ana@acme.test")
    for target, landing in [("/api/v1/me", "/api/v1/me"), ("https://evil.example/", "/"), ("//evil.example", "/"),
                            ("/\\evil.example", "/")]:
        client = browser(app)
        response = client.form("/login", {"email": "ana@acme.test", "password": PASSWORD, "next": target})
        assert response.headers["Location"] == landing


def test_invitation_sets_a_password_once(site):
    from kb.invitations import create_invitation
    from kb.users import add_user

    kb, app = site
    with kb.transaction() as db:
        token = create_invitation(db, add_user(db, "new@acme.test", role="rep"))
    client = browser(app)
    assert "new@acme.test" in client.get(f"/invitation/{token}").get_data(as_text=True)
    weak = client.form(f"/invitation/{token}", {"password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 400 and "common" in weak.get_data(as_text=True)
    done = client.form(f"/invitation/{token}", {"password": "my own pass phrase", "confirm": "my own pass phrase"})
    assert done.status_code == 302 and client.get("/api/v1/me").get_json()["email"] == "new@acme.test"
    assert browser(app).get(f"/invitation/{token}").status_code == 404  # used up
    assert browser(app).get("/invitation/made-up").status_code == 404


def test_idle_sessions_expire(site):  # W-5
    from datetime import timedelta

    from kb.models import utcnow

    kb, app = site
    client = logged_in(app, kb, "ana@acme.test")
    assert client.get("/api/v1/me").status_code == 200
    with kb.transaction() as db:
        db.scalars(select(LoginSession)).one().last_seen_at = utcnow() - timedelta(minutes=31)
    assert client.get("/api/v1/me").status_code == 401
    with kb.sessions() as db:
        assert db.scalars(select(LoginSession)).all() == []  # the expired session is gone, not just refused


def test_security_headers_and_no_stack_traces(site):  # W-21, W-22, W-28, W-29
    kb, app = site
    client = logged_in(app, kb, "ana@acme.test")
    page = client.get("/account")
    csp = page.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"]
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    api = client.get("/api/v1/me")
    assert api.headers["Content-Type"] == "application/json" and api.headers["Cache-Control"] == "no-store"
    assert client.open("/api/v1/me", method="TRACE").status_code == 405
    huge = client.api("post", "/api/v1/questions", data=b"x" * (2 * 1024 * 1024), content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["error"]["code"] == "request_entity_too_large"


def test_only_trusted_hosts_are_served_when_configured(make_kb):  # W-27
    kb = make_kb({"web": {"trusted_hosts": ["kb.example.com"]}})
    app = create_app(kb, {"TESTING": True})
    client = app.test_client()
    assert client.get("/login", base_url="https://kb.example.com").status_code == 200
    assert client.get("/login", base_url="https://evil.example").status_code == 400


def test_oversize_forms_are_refused(site):  # W-25
    kb, app = site
    client = browser(app)
    client.get("/login")
    many = client.form("/login", {f"field{i}": "x" for i in range(600)}, content_type="multipart/form-data")
    assert many.status_code == 413
    big_part = client.form("/login", {"email": "a@b.example", "password": "x" * (300 * 1024)},
                           content_type="multipart/form-data")
    assert big_part.status_code == 413
    big = client.form("/login", {"email": "a@b.example", "password": "x" * (2 * 1024 * 1024)})
    assert big.status_code == 413 and "Traceback" not in big.get_data(as_text=True)
