"""Every route x every kind of caller against the access table (checklist W-11, W-14, W-17).

The expected status comes from the route's row in ``web.access_rules.RULES``; a route without a row
fails here (and is refused for everyone at run time), so no page or API route ships without a
decision about who may use it.
"""

from __future__ import annotations

import re

import pytest

from kb.users import set_active
from tests.support.web_client import api_token, browser, logged_in
from web import create_app
from web.access_rules import LEVELS, PUBLIC, RULES

CALLERS = ("anonymous", "rep", "marketer", "admin", "disabled", "rep-token", "marketer-token")
CALLER_ROLE = {"rep": "rep", "marketer": "marketer", "admin": "admin", "rep-token": "rep", "marketer-token": "marketer"}


@pytest.fixture(scope="module")
def matrix(make_module_kb):
    kb = make_module_kb(name="matrix")
    app = create_app(kb, {"TESTING": True})
    clients = {"anonymous": browser(app)}
    clients["anonymous"].get("/login")
    for role in ("rep", "marketer", "admin"):
        clients[role] = logged_in(app, kb, f"{role}@matrix.test", role)
    clients["disabled"] = logged_in(app, kb, "gone@matrix.test", "marketer")
    with kb.transaction() as db:
        set_active(db, "gone@matrix.test", False)
    tokens = {"rep-token": api_token(kb, "rep@matrix.test"), "marketer-token": api_token(kb, "marketer@matrix.test")}
    return app, clients, tokens


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = re.sub(r"<(?:int:)?(\w+)>", lambda m: "999999" if "int:" in m.group(0) else "no-such-thing", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def expected(required: str, caller: str, method: str, url: str) -> set[int] | str:
    """The status set a caller must get, or 'allowed' (anything but 401/403)."""
    if required == PUBLIC:
        return "allowed"
    role = CALLER_ROLE.get(caller)
    if caller.endswith("-token") and not url.startswith("/api/"):
        role = None  # tokens open the API only: on a page the caller is anonymous
    if role is None:  # anonymous, or a disabled user's dead session
        if url.startswith("/api/") or method != "GET":
            return {401}
        return {302}  # to the login page
    return "allowed" if LEVELS[role] >= LEVELS[required] else {403}


def test_every_route_has_an_access_rule(matrix):
    app, _, _ = matrix
    missing = sorted({endpoint for endpoint, _, _ in routes(app)} - set(RULES))
    assert not missing, f"routes without a row in web.access_rules.RULES: {missing}"
    stale = sorted(set(RULES) - set(app.view_functions))
    assert not stale, f"rules for routes that do not exist: {stale}"


def test_every_route_answers_every_caller_as_the_table_says(matrix):
    app, clients, tokens = matrix
    failures = []
    for endpoint, method, url in routes(app):
        required = RULES[endpoint]
        if required == PUBLIC and method != "GET":
            continue  # public writes (log in, log out, accept an invitation) have their own tests
        for caller in CALLERS:
            if caller.endswith("-token"):
                response = app.test_client().open(url, method=method, headers=tokens[caller], json={})
            else:
                response = clients[caller].api(method, url, json={})
            want = expected(required, caller, method, url)
            got = response.status_code
            ok = got not in (401, 403) if want == "allowed" else got in want
            if not ok or got >= 500:
                failures.append(f"{caller:>14} {method:6} {url} -> {got} (rule {required}, expected {want})")
    assert not failures, "\n".join(failures)
