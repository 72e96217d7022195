"""Usage capture and reports in a real browser: Debian's Chromium (Playwright) on the app served on 127.0.0.1.

A rep searches and clicks a result: the page's script reports the click in the background (fetch with
keepalive) while the browser follows the link, and the click is in the database. A marketer opens the
usage reports and the coverage heatmap's usage view (screenshots under ``KB_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from kb.models import UsageEvent
from tests.support.chromium import CHROMIUM_FLAGS, chromium_path
from tests.support.live_app import LiveApp
from tests.support.web_client import make_user
from tests.test_browser import log_in
from tests.test_rep_pages import store_pages, user_id

pytestmark = pytest.mark.slow
SSO_URL_PATH = "/blog/sso-with-okta/"


@pytest.fixture(scope="module")
def live(make_module_kb):
    from web import create_app

    kb = make_module_kb(name="usage-browser")
    store_pages(kb)
    make_user(kb, "rae@acme.test", "rep")
    make_user(kb, "mo@acme.test", "marketer")
    with LiveApp(create_app(kb)) as server:
        server.kb = kb
        yield server


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("KB_SCREENSHOTS") or tmp_path_factory.mktemp("usage-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def clicks(kb, user: int) -> list[UsageEvent]:
    with kb.sessions() as session:
        return list(session.scalars(select(UsageEvent).where(UsageEvent.kind == "click",
                                                             UsageEvent.user_id == user)))


def test_a_click_on_a_result_is_recorded_without_holding_the_link(chromium, live):
    page = log_in(chromium, live, "rae@acme.test")
    # The result links point at the (unreachable) acme.test site: answer them here so the navigation completes.
    page.route("https://www.acme.test/**", lambda route: route.fulfill(status=200, body="<p>the post</p>",
                                                                     content_type="text/html"))
    page.goto(f"{live.url}/?q=single+sign-on+with+Okta")
    link = page.locator("a.result-title").first
    assert link.get_attribute("href").endswith(SSO_URL_PATH)
    link.click()
    page.wait_for_url("https://www.acme.test/**")
    rae = user_id(live.kb, "rae@acme.test")
    deadline = time.monotonic() + 10  # the beacon is asynchronous: wait for it to land, never for a fixed time
    while not clicks(live.kb, rae) and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = clicks(live.kb, rae)
    assert event.query == "single sign-on with Okta" and event.passage_id is not None
    with live.kb.sessions() as session:
        searches = list(session.scalars(select(UsageEvent).where(UsageEvent.kind == "search",
                                                                 UsageEvent.user_id == rae)))
    assert [s.query for s in searches] == ["single sign-on with Okta"]
    assert event.content_id == searches[0].detail["results"][0]
    page.context.close()


def test_a_marketer_reads_the_usage_reports(chromium, live, shots):
    page = log_in(chromium, live, "mo@acme.test")
    page.get_by_role("link", name="Usage").click()
    assert page.get_by_role("heading", name="Content scorecard").is_visible()
    page.screenshot(path=str(shots / "usage-scorecard.png"), full_page=True)
    page.get_by_role("link", name="Unused").click()
    assert page.get_by_role("heading", name="Unused content").is_visible()
    page.screenshot(path=str(shots / "usage-unused.png"), full_page=True)
    page.goto(f"{live.url}/coverage?measure=usage")
    assert page.locator(".measure-switch [aria-current=true]").inner_text() == "Usage"
    page.screenshot(path=str(shots / "coverage-usage.png"), full_page=True)
    page.get_by_role("link", name="Review").click()
    assert page.get_by_role("heading", name="Top content this week").is_visible()
    page.screenshot(path=str(shots / "review-usage.png"), full_page=True)
    page.context.close()
