"""Persona and stage tags on content: suggested by the crawl, re-suggested when personas change, set by
marketers on the content page and through the API (sticky), and counted by the coverage heatmap.

Real crawls of a small site served on 127.0.0.1, real SQLite files, the real model, the real app with
clients logged in through the login form.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from ingest.crawler import crawl_site
from kb.content_tags import set_content_tags, suggest_content_tags
from kb.coverage import coverage_matrix
from kb.errors import ValidationError
from kb.models import Content
from kb.runtime_settings import reset_override, set_overrides, setting_value
from tests.support.http_server import LocalServer, Route
from tests.support.web_client import api_token, logged_in
from web import create_app

SECURITY = ("Security and compliance", "Security review: SSO with SAML and Okta, SCIM provisioning, our SOC 2 Type II "
            "report, encryption at rest and in transit, EU data residency and role-based access control for your "
            "IT and security team's vendor review.")
HOW_TO = ("How to set up your first approval flow", "A step-by-step guide for customers after onboarding: how do I "
          "set up my first approval flow, add a new department and invite approvers? Best practices from our "
          "support team.")
FINANCE = ("Spend visibility for CFOs", "Finance leaders: see every budget, invoice and cost in real time, sync "
           "spend with NetSuite and your ERP, and track the ROI of each purchase.")
PAGES = {"/security/": SECURITY, "/guides/first-approval-flow/": HOW_TO, "/finance/": FINANCE}


def html(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="description" content="{body[:120]}"></head><body><main><article><h1>{title}</h1>'
            f"<p>{body}</p></article></main></body></html>")


def serve(server: LocalServer, pages: dict[str, tuple[str, str]]) -> None:
    base = server.base_url
    server.add("/robots.txt", Route(f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n",
                                    content_type="text/plain"))
    urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in pages)
    server.add("/sitemap.xml", Route('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                                     f'"http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
                                     content_type="application/xml"))
    server.add("/", Route(html("Acme", "Welcome. " + " ".join(f'<a href="{p}">{p}</a>' for p in pages))))
    for path, (title, body) in pages.items():
        server.add(path, Route(html(title, body)))


def crawled_kb(make_kb, server: LocalServer, name: str):
    kb = make_kb({"sites": [{"name": "acme", "base_url": server.base_url + "/", "allow_private_addresses": True}]},
                 name=name)
    crawl_site(kb, "acme")
    return kb


def tags_by_path(kb) -> dict[str, tuple]:
    with kb.sessions() as session:
        return {urlparse(c.canonical_url).path: (c.persona, c.persona_source, c.stage, c.stage_source)
                for c in session.scalars(select(Content))}


def content_id(kb, path: str) -> int:
    with kb.sessions() as session:
        return next(c.id for c in session.scalars(select(Content)) if urlparse(c.canonical_url).path == path)


# -- a crawled site shared by the read-mostly tests ---------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    with LocalServer() as s:
        serve(s, PAGES)
        yield s


@pytest.fixture(scope="module")
def skb(make_module_kb, server):
    return crawled_kb(make_module_kb, server, "tags")


@pytest.fixture(scope="module")
def app(skb):
    return create_app(skb, {"TESTING": True})


@pytest.fixture(scope="module")
def marketer(app, skb):
    return logged_in(app, skb, "mia@acme.test", "marketer")


@pytest.fixture(scope="module")
def rep(app, skb):
    return logged_in(app, skb, "rex@acme.test", "rep")


def test_the_crawl_suggests_persona_and_stage_for_what_it_added(skb):
    tags = tags_by_path(skb)
    assert tags["/security/"] == ("it-security", "suggested", "engage", "suggested")
    assert tags["/guides/first-approval-flow/"][2:] == ("delight", "suggested")
    assert tags["/finance/"][:2] == ("finance", "suggested")
    with skb.sessions() as session:
        security = session.get(Content, content_id(skb, "/security/"))
        assert 0.4 <= security.persona_confidence <= 1 and 0.4 <= security.stage_confidence <= 1


def test_the_content_page_shows_suggested_tags_and_the_form(marketer, skb):
    page = marketer.get(f"/content/{content_id(skb, '/security/')}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "(suggested)" in text and 'name="csrf_token"' in text
    assert 'action="/content/' in text and 'id="c-persona"' in text and '<option value="it-security" selected>' in text
    listing = marketer.get("/content").get_data(as_text=True)
    assert "(suggested)" in listing


def test_a_marketer_sets_tags_with_the_form_and_the_api(marketer, skb):
    finance = content_id(skb, "/finance/")
    response = marketer.form(f"/content/{finance}/tags", {"persona": "procurement", "stage": "none"})
    assert response.status_code == 303
    with skb.sessions() as session:
        c = session.get(Content, finance)
        assert (c.persona, c.persona_source, c.stage, c.stage_source) == ("procurement", "marketer", None, "marketer")
        assert c.persona_confidence == 1.0
    page = marketer.get(f"/content/{finance}").get_data(as_text=True)
    assert "Saved the persona and stage." in page

    guide = content_id(skb, "/guides/first-approval-flow/")
    response = marketer.api("PATCH", f"/api/v1/content/{guide}", json={"persona": "Operations"})
    assert response.status_code == 200
    assert response.get_json()["persona"] == "operations" and response.get_json()["persona_source"] == "marketer"
    assert response.get_json()["stage_source"] == "suggested"  # left alone: not in the body
    response = marketer.api("PATCH", f"/api/v1/content/{guide}", json={"stage": None})
    with skb.sessions() as session:
        c = session.get(Content, guide)
        assert (c.persona, c.persona_source, c.stage, c.stage_source) == ("operations", "marketer", None, "marketer")
    # a token works as well (no CSRF), and the GET shows the sources
    headers = api_token(skb, "mo@acme.test", "marketer")
    response = marketer.application.test_client().patch(f"/api/v1/content/{guide}", json={"stage": "delight"},
                                                        headers=headers)
    assert response.status_code == 200 and response.get_json()["stage"] == "delight"
    item = marketer.api("GET", f"/api/v1/content/{guide}").get_json()
    assert (item["persona_source"], item["stage"], item["stage_source"]) == ("marketer", "delight", "marketer")


@pytest.mark.parametrize("body, message", [
    ({"persona": "astronaut"}, "unknown persona 'astronaut'; valid personas: it-security"),
    ({"stage": "orbit"}, "unknown stage 'orbit'"),
    ({"persona": 5}, "persona must be a configured persona name"),
    ({"persona": ["finance"]}, "persona must be a configured persona name"),
    ({"owner": "x"}, "unknown field 'owner'"),
])
def test_bad_tags_through_the_api_are_400_with_a_message(marketer, skb, body, message):
    response = marketer.api("PATCH", f"/api/v1/content/{content_id(skb, '/security/')}", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_bad_tags_through_the_form_are_400_and_change_nothing(marketer, skb):
    security = content_id(skb, "/security/")
    response = marketer.form(f"/content/{security}/tags", {"persona": "astronaut", "stage": "engage"})
    assert response.status_code == 400
    assert "unknown persona" in response.get_data(as_text=True)
    assert tags_by_path(skb)["/security/"][1] == "suggested"


def test_missing_content_is_404_and_reps_are_refused(marketer, rep, skb):
    assert marketer.api("PATCH", "/api/v1/content/999999", json={"persona": "finance"}).status_code == 404
    assert marketer.form("/content/999999/tags", {"persona": "finance"}).status_code == 404
    security = content_id(skb, "/security/")
    assert rep.api("PATCH", f"/api/v1/content/{security}", json={"persona": "finance"}).status_code == 403
    assert rep.form(f"/content/{security}/tags", {"persona": "finance"}).status_code == 403
    response = rep.application.test_client().patch(f"/api/v1/content/{security}", json={"persona": "finance"},
                                                   headers=api_token(skb, "rex@acme.test", "rep"))
    assert response.status_code == 403
    assert tags_by_path(skb)["/security/"][:2] == ("it-security", "suggested")


def test_the_coverage_matrix_counts_content_in_its_cell(skb):
    with skb.sessions() as session:
        matrix = coverage_matrix(session, skb.settings)
        expected: dict[tuple, int] = {}
        for c in session.scalars(select(Content).where(Content.status == "live")):
            expected[(c.persona, c.stage)] = expected.get((c.persona, c.stage), 0) + 1
    cells = {(cell["persona"], cell["stage"]): cell["contents"] for row in matrix["rows"] for cell in row["cells"]}
    assert cells[("it-security", "engage")] >= 1
    assert {key: count for key, count in cells.items() if count} == expected
    assert matrix["total"]["contents"] == sum(expected.values())


# -- changes: each test on its own crawled knowledge base ----------------------------------------------------
def test_a_marketers_tag_survives_a_recrawl_and_a_resuggest_while_changed_pages_are_resuggested(make_kb):
    with LocalServer() as server:
        serve(server, PAGES)
        kb = crawled_kb(make_kb, server, "recrawl")
        security = content_id(kb, "/security/")
        set_content_tags(kb, security, {"persona": "finance"})  # a marketer disagrees with the model
        with pytest.raises(ValidationError):
            set_content_tags(kb, security, {"persona": "astronaut"})
        # both pages change: the security page keeps the marketer's persona, its stage is suggested anew;
        # the finance page turns into a how-to guide and its suggestion follows
        serve(server, {**PAGES, "/security/": (SECURITY[0], SECURITY[1] + " Updated for 2026."),
                       "/finance/": ("Invoices: a how-to for customers", HOW_TO[1])})
        crawl_site(kb, "acme")
        tags = tags_by_path(kb)
        assert tags["/security/"] == ("finance", "marketer", "engage", "suggested")
        assert tags["/finance/"][2:] == ("delight", "suggested")
        suggest_content_tags(kb)
        assert tags_by_path(kb) == tags


def test_changing_the_personas_resuggests_suggested_tags_and_keeps_the_marketers(make_kb):
    with LocalServer() as server:
        serve(server, PAGES)
        kb = crawled_kb(make_kb, server, "personas")
    guide = content_id(kb, "/guides/first-approval-flow/")
    set_content_tags(kb, guide, {"persona": "it-security"})  # a marketer's, even if odd
    personas = [p for p in setting_value(kb.settings, "personas") if p["name"] != "it-security"]
    set_overrides(kb, {"personas": personas}, user_id=None)
    tags = tags_by_path(kb)
    assert tags["/security/"][0] != "it-security"  # no longer configured: suggested anew
    assert tags["/guides/first-approval-flow/"][:2] == ("it-security", "marketer")
    reset_override(kb, "personas")
    assert tags_by_path(kb)["/security/"][:2] == ("it-security", "suggested")


# -- the bundled demo site ---------------------------------------------------------------------------------
def test_the_demo_crawl_tags_most_content(demo_kb):
    with demo_kb.sessions() as session:
        contents = list(session.scalars(select(Content).where(Content.status == "live")))
    tagged = [c for c in contents if c.persona and c.stage]
    assert len(tagged) >= len(contents) / 2
    by_path = {urlparse(c.canonical_url).path: c for c in contents}
    assert by_path["/security/"].persona == "it-security" and by_path["/security/"].stage == "engage"
    assert by_path["/blog/scim-provisioning-with-okta/"].persona == "it-security"
    assert all(c.persona_source in (None, "suggested") for c in contents)
