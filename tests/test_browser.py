"""The product in a real browser: Debian's Chromium (Playwright) against the app served on 127.0.0.1.

One knowledge base for the module: a copy of the session's crawled demo (so these tests may write),
with the demo's prospect questions imported, served by a real threaded HTTP server. Screenshots of
the main pages go to ``KB_SCREENSHOTS`` (default: the test's temporary folder) to be looked at.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from tests.support.chromium import CHROMIUM_FLAGS, chromium_path
from tests.support.live_app import LiveApp
from tests.support.web_client import PASSWORD, make_user

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("KB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def site(demo_kb, tmp_path_factory, embedder):
    from kb.demo.session import import_demo_questions
    from kb.knowledge_base import KnowledgeBase
    from web import create_app

    folder = tmp_path_factory.mktemp("browser") / "instance"
    shutil.copytree(demo_kb.settings.instance_dir, folder)
    kb = KnowledgeBase(dataclasses.replace(demo_kb.settings, instance_path=str(folder)), embedder=embedder)
    import_demo_questions(kb)
    make_user(kb, "aisha.khan@fernbrook.example", "rep", name="Aisha Khan")
    make_user(kb, "jordan.lee@fernbrook.example", "marketer", name="Jordan Lee")
    with LiveApp(create_app(kb)) as live:
        live.kb = kb
        yield live
    kb.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def log_in(browser, site, email):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    page.goto(f"{site.url}/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/")
    return page


def test_a_rep_logs_in_and_searches(browser, site, shots):
    page = log_in(browser, site, "aisha.khan@fernbrook.example")
    page.screenshot(path=str(shots / "search-empty.png"), full_page=True)
    page.get_by_label("Search content").fill("Do you support SSO with Okta?")
    page.get_by_role("button", name="Search").click()
    first = page.locator(".result").first
    first.wait_for()
    assert "SSO" in first.inner_text() or "Okta" in first.inner_text()
    page.screenshot(path=str(shots / "search-results.png"), full_page=True)
