"""The product in a real browser: Debian's Chromium (Playwright) against the app served on 127.0.0.1.

One knowledge base for the module: a copy of the session's crawled demo (so these tests may write),
with the demo's prospect questions imported, served by a real threaded HTTP server. Screenshots of
the main pages go to ``KB_SCREENSHOTS`` (default: the test's temporary folder) to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.chromium import CHROMIUM_FLAGS, chromium_path
from tests.support.demo_copy import writable_demo
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
    from web import create_app

    kb = writable_demo(demo_kb, tmp_path_factory.mktemp("browser") / "kb", embedder)
    kb.demo_base_url = demo_kb.demo_base_url
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


def topic_asked(kb, wording):
    from sqlalchemy import select

    from kb.models import Question, Topic

    with kb.sessions() as db:
        return db.scalar(select(Topic).join(Question, Question.topic_id == Topic.id).where(Question.text == wording))


def usage_kinds(kb):
    from sqlalchemy import select

    from kb.models import UsageEvent

    with kb.sessions() as db:
        return [row.kind for row in db.scalars(select(UsageEvent))]


def test_a_rep_copies_a_link_and_asks_a_question_that_is_a_gap(browser, site, shots):
    page = log_in(browser, site, "aisha.khan@fernbrook.example")
    page.get_by_label("Search content").fill("Do you support SSO with Okta?")
    page.get_by_role("button", name="Search").click()
    first = page.locator(".result").first
    first.get_by_role("button", name="Copy link").click()
    first.get_by_role("button", name="Copied").wait_for()  # the button confirms
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == first.locator("a.result-title").get_attribute("href") and copied.startswith(site.kb.demo_base_url)
    page.wait_for_function("1")  # let the background event post land
    for _ in range(50):
        if "copy_link" in usage_kinds(site.kb):
            break
        page.wait_for_timeout(100)
    assert "copy_link" in usage_kinds(site.kb)

    page.get_by_role("link", name="Ask").click()
    page.get_by_label("What did the prospect ask?").fill("Will you sign a HIPAA BAA?")
    page.get_by_role("button", name="Ask", exact=True).click()
    notice = page.get_by_text("Nothing answers this yet")
    notice.wait_for()
    assert "1 other rep asked this" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "ask-gap.png"), full_page=True)
    topic = topic_asked(site.kb, "Will you sign a HIPAA BAA?")
    assert topic.ask_count == 2 and topic.rep_count == 2


def test_a_marketer_triages_the_gap_and_runs_the_review(browser, site, shots):
    topic = topic_asked(site.kb, "Will you sign a HIPAA BAA?")
    page = log_in(browser, site, "jordan.lee@fernbrook.example")
    page.get_by_role("link", name="Backlog").click()
    row = page.locator(f'tr[data-topic-id="{topic.id}"]')
    assert "2" in row.locator("td.num").nth(1).inner_text()  # the asks, both reps
    page.screenshot(path=str(shots / "backlog.png"), full_page=True)
    row.get_by_label(f"Select topic #{topic.id}").check()
    page.get_by_label("Assign to").select_option("jordan.lee@fernbrook.example")
    page.get_by_label("Stage").last.select_option("engage")
    page.get_by_role("button", name="Apply to selected").click()
    page.get_by_text("1 updated").wait_for()
    triaged = topic_asked(site.kb, "Will you sign a HIPAA BAA?")
    assert triaged.owner_id is not None and triaged.stage == "engage" and triaged.stage_source == "marketer"

    status = page.get_by_label(f"Status of topic #{topic.id}", exact=True)  # the inline edit (JavaScript)
    status.select_option("published")  # not allowed from "new": refused, reverted, explained
    page.locator(f'tr[data-topic-id="{topic.id}"] .inline-message.error').wait_for()
    assert status.input_value() == "new" and topic_asked(site.kb, "Will you sign a HIPAA BAA?").status == "new"
    status.select_option("triaged")
    page.locator(f'tr[data-topic-id="{topic.id}"] .inline-message.ok').wait_for()
    assert topic_asked(site.kb, "Will you sign a HIPAA BAA?").status == "triaged"

    page.goto(f"{site.url}/topics/{topic.id}")
    assert "Will you sign a HIPAA BAA?" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "topic.png"), full_page=True)
    page.get_by_role("link", name="Coverage").click()
    page.screenshot(path=str(shots / "coverage.png"), full_page=True)

    page.get_by_role("link", name="Review").click()
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    page.get_by_role("link", name="Start meeting mode").first.click()
    page.get_by_label("Write it").check()
    page.get_by_label("Owner").select_option("jordan.lee@fernbrook.example")
    page.get_by_label("Note").fill("Draft a HIPAA FAQ for the security page")
    page.screenshot(path=str(shots / "meeting.png"), full_page=True)
    page.get_by_role("button", name="Save and next").click()
    page.get_by_role("link", name="Back to the agenda").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export Markdown").click()
    markdown = Path(download.value.path()).read_text()
    assert "Draft a HIPAA FAQ for the security page" in markdown and "Write it" in markdown
