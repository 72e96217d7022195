"""The Flask adapter over a real knowledge base: search page, JSON API, escaping and error shapes.

Pages are stored directly with ``kb.content.store_page`` (no crawl), embedded once by the real session
model via ``kb.refresh_index()`` and then queried through Flask's test client.
"""

from __future__ import annotations

import pytest

from kb.content import PageRecord, PassageInput, store_page
from kb.knowledge_base import KnowledgeBase
from kb.settings import SiteSettings, with_overrides
from kb.sites import add_site
from tests.support.web_client import logged_in
from web import create_app

BASE = "https://www.acme.test"
EVIL_TITLE = "Evil <script>alert(1)</script> {{7*7}} title"

PAGES = [
    ("/blog/sso-with-okta/", "Single sign-on with Okta", "blog",
     "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace. Administrators connect "
     "their identity provider in the security settings and users sign in with their corporate account."),
    ("/pricing/", "Pricing plans", "page",
     "The Growth plan costs 49 dollars per user per month billed annually. The Enterprise plan adds "
     "audit logs, a dedicated success manager and a 99.9 percent uptime commitment."),
    ("/customers/brightwell/", EVIL_TITLE, "case_study",
     "Brightwell Foods cut invoice processing time in half. <script>alert(1)</script> {{7*7}} "
     "Their warehouse team now approves purchase orders from a phone while standing on the loading dock."),
]


def store_fixture_pages(kb) -> None:
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url=BASE + "/"))
        for i, (path, title, kind, text) in enumerate(PAGES):
            store_page(session, site.id, PageRecord(
                canonical_url=BASE + path, content_hash=f"hash-{i}", title=title, kind=kind,
                passages=[PassageInput(text=text)],
            ))
    report = kb.refresh_index()
    assert report.total == len(PAGES)


@pytest.fixture(scope="module")
def web_kb(make_module_kb):
    """One knowledge base for the module: the tests only read it, and embedding costs ~1 s here."""
    kb = make_module_kb(name="web")
    store_fixture_pages(kb)
    return kb


@pytest.fixture(scope="module")
def client(web_kb):
    """A rep logged in once for the module (the tests only read)."""
    return logged_in(create_app(web_kb, {"TESTING": True}), web_kb, "rep@acme.test", "rep")


def no_traceback(response) -> str:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    return text


# -- HTML page -------------------------------------------------------------------------------------
def test_home_page_renders_the_search_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = no_traceback(response)
    assert 'role="search"' in html and 'name="q"' in html
    assert '<ol class="results">' not in html and 'class="result"' not in html  # no query, no results


def test_search_page_shows_best_title_first_with_kind_and_snippet(client):
    response = client.get("/", query_string={"q": "Can we log in with Okta SAML SSO?"})
    assert response.status_code == 200
    html = no_traceback(response)
    first = html.split('<li class="result">')[1]
    assert "Single sign-on with Okta" in first
    assert 'class="badge kind-blog"' in first
    assert "<mark>SAML</mark> single sign-on with <mark>Okta</mark>" in first  # the snippet, highlighted
    assert f'href="{BASE}/blog/sso-with-okta/"' in first
    assert html.index("Single sign-on with Okta") < html.index("Pricing plans")


def test_stored_markup_and_template_syntax_are_escaped(client):
    response = client.get("/", query_string={"q": "Brightwell Foods invoice processing warehouse"})
    html = no_traceback(response)
    first = html.split('<li class="result">')[1]
    assert "Brightwell" in first  # the evil page is the hit under test
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first
    assert "{{7*7}}" in first and "Evil &lt;script&gt;alert(1)&lt;/script&gt; 49" not in first
    assert " 49 title" not in html


def test_query_is_escaped_when_echoed(client):
    response = client.get("/", query_string={"q": '"><script>alert(2)</script>'})
    html = no_traceback(response)
    assert response.status_code == 200
    assert "<script>alert(2)" not in html


def test_long_query_is_cut_not_an_error(client):
    query = "okta single sign-on " * 100  # 2,000 characters
    assert len(query) == 2000
    page = client.get("/", query_string={"q": query})
    assert page.status_code == 200
    no_traceback(page)
    api = client.get("/api/v1/search", query_string={"q": query})
    assert api.status_code == 200
    assert api.get_json()["results"][0]["url"] == f"{BASE}/blog/sso-with-okta/"


def test_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = no_traceback(response)
    assert "404" in html and "Back to search" in html


# -- JSON API --------------------------------------------------------------------------------------
def test_api_search_returns_ranked_results(client):
    response = client.get("/api/v1/search", query_string={"q": "How much does the Growth plan cost per user?"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["query"] == "How much does the Growth plan cost per user?"
    results = data["results"]
    assert len(results) == len(PAGES)
    top = results[0]
    assert top["url"] == f"{BASE}/pricing/"
    assert top["title"] == "Pricing plans"
    assert top["kind"] == "page"
    assert "49 dollars" in top["snippet"]
    assert 0 < top["score"] <= 1
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_api_k_is_clamped_to_max_k(web_kb, embedder):
    # same database and saved index, smaller max_k: loading the index re-embeds nothing
    settings = with_overrides(web_kb.settings, search={"max_k": 2, "default_k": 2})
    kb = KnowledgeBase(settings, embedder=embedder)
    client = logged_in(create_app(kb, {"TESTING": True}), kb, "other-rep@acme.test", "rep")
    response = client.get("/api/v1/search", query_string={"q": "okta", "k": "1000000"})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 2
    one = client.get("/api/v1/search", query_string={"q": "okta", "k": "1"})
    assert len(one.get_json()["results"]) == 1
    zero = client.get("/api/v1/search", query_string={"q": "okta", "k": "-5"})  # clamped up to 1
    assert zero.status_code == 200 and len(zero.get_json()["results"]) == 1
    kb.close()


def test_api_default_k_returns_every_stored_page(client):
    response = client.get("/api/v1/search", query_string={"q": "okta"})
    assert len(response.get_json()["results"]) == len(PAGES)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": "okta", "k": "abc"}, "k must be an integer"),
        ({"q": ""}, "the search query is empty"),
        ({"q": "   "}, "the search query is empty"),
        ({}, "the search query is empty"),
    ],
)
def test_api_bad_requests_are_400_json_errors(client, params, needle):
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    no_traceback(response)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "invalid"
    assert needle in error["message"]


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    no_traceback(response)
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and error["message"]


def test_post_to_search_is_405(client):
    response = client.post("/api/v1/search", data={"q": "okta"})
    assert response.status_code == 405
    no_traceback(response)
    assert response.get_json()["error"]["code"] == "method_not_allowed"
