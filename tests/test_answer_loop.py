"""Closing the loop end to end: a real site on 127.0.0.1 is crawled, re-crawled after an answering page
appears (the open topic becomes "possibly answered"), a marketer confirms or rejects, the reps who asked
are notified, and when the page disappears the topic is reopened and they are told again.

Topics are made by intake (``submit_question``); further asks are attached as rows so the tests do not
depend on the duplicate model's calibration. The real model embeds and searches everything.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ingest.crawler import crawl_site
from kb.answer_loop import recheck_topics
from kb.cli import cli
from kb.cli.crawling import render_summary
from kb.demand import refresh_demand
from kb.errors import ConflictError, NotFoundError
from kb.models import Content, Notification, Question, Topic, TopicEvent, TopicRejection, utcnow
from kb.question_input import QuestionInput
from kb.questions import submit_question
from kb.suggestion_decisions import confirm_suggestion, reject_suggestion
from kb.users import add_user, user_for_asker
from tests.support.http_server import Route

FILLER = (
    "Acme is the spend management platform for growing companies: purchase requests, approvals, "
    "budgets and invoices in one place, with reporting that finance teams trust every month. "
)
PAGES = {
    "/pricing/": ("Pricing plans",
                  "The Growth plan costs 49 dollars per user per month, billed annually, with a 14 day free "
                  "trial. The Enterprise plan adds audit logs and a dedicated success manager."),
    "/blog/three-way-matching/": ("Three-way matching explained",
                                  "Three-way matching compares the purchase order, the goods receipt and the "
                                  "supplier invoice before a payment is released."),
}
SSO_PAGE = ("/blog/sso-with-okta/", "Single sign-on with Okta",
            "Yes: Acme supports single sign-on (SSO) with Okta over SAML 2.0. An Okta administrator adds the "
            "Acme app from the Okta integration network, assigns users, and they sign in with their Okta "
            "account. Single sign-on with Okta is available on every plan.")
SSO_GUIDE = ("/docs/okta-sso-setup/", "Setting up Okta single sign-on",
             "How to set up single sign-on with Okta for Acme: in Okta, add the Acme SAML application, copy the "
             "metadata URL into Acme's security settings and assign the people who should sign in with Okta.")
RESIDENCY_PAGE = ("/blog/eu-data-residency/", "EU data residency",
                  "Acme stores customer data in the European Union: in Frankfurt or Dublin, as you choose. Data "
                  "never leaves the EU, backups included, and our data processing agreement says so.")
SSO_QUESTION = "Do you support single sign-on with Okta?"
RESIDENCY_QUESTION = "Where is our data stored? Can it stay in the EU?"


def article(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>'
            f"<main><article><h1>{title}</h1><p>{body}</p><h2>About Acme</h2><p>{FILLER}</p></article></main>"
            "</body></html>")


class Site:
    """A small company site on the local server whose pages (and sitemap) a test can change between crawls."""

    def __init__(self, server) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.pages: dict[str, tuple[str, str]] = dict(PAGES)
        server.add("/robots.txt", Route(f"User-agent: *\nAllow: /\nSitemap: {server.base_url}/sitemap.xml\n",
                                        content_type="text/plain"))
        self.publish()

    def publish(self) -> None:
        for path in list(self.server.routes):
            if path not in ("/robots.txt", "/sitemap.xml") and path not in self.pages and path != "/":
                del self.server.routes[path]  # gone: the server answers 404
        for path, (title, body) in self.pages.items():
            self.server.add(path, Route(article(title, body)))
        self.server.add("/", Route(article("Acme home", "Welcome to Acme. " + FILLER)))
        urls = "".join(f"<url><loc>{self.server.base_url}{p}</loc></url>" for p in ["/", *self.pages])
        self.server.add("/sitemap.xml", Route(
            f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>", content_type="application/xml"))

    def add(self, page: tuple[str, str, str]) -> None:
        path, title, body = page
        self.pages[path] = (title, body)
        self.publish()

    def remove(self, path: str) -> None:
        del self.pages[path]
        self.publish()


@pytest.fixture
def site(local_server):
    return Site(local_server)


@pytest.fixture
def kb(make_kb, site):
    return make_kb({
        # An explicit threshold: these tests are about the loop, not about the calibration of the day.
        "questions": {"answer_threshold": 0.5},
        "sites": [{"name": "acme", "base_url": site.server.base_url + "/", "allow_private_addresses": True}],
    })


def add_topic(kb, title: str, asks: list[tuple[str, str]], *, via_intake: bool = True) -> int:  # type: ignore[no-untyped-def]
    """A gap topic with questions ``(asker e-mail, wording)``.

    The first ask goes through intake (the topic is exactly what intake makes of a gap);
    the others are attached as rows with their real vectors, as if intake had matched them to it, so the
    test does not hang on the duplicate model's calibration.
    """
    first = 0
    if via_intake:
        result = submit_question(kb, QuestionInput(asks[0][1], asked_by=asks[0][0],
                                                   asked_at=utcnow() - timedelta(hours=len(asks))))
        assert result.decision == "gap", result.to_dict()
        topic_id, first = result.topic["id"], 1
    with kb.transaction() as session:
        if not via_intake:
            topic = Topic(title=title, status="new")
            session.add(topic)
            session.flush()
            topic_id = topic.id
        for i, (email, text) in enumerate(asks[first:], first):
            session.add(Question(topic_id=topic_id, text=text, asked_by=user_for_asker(session, email),
                                 asked_at=utcnow() - timedelta(hours=len(asks) - i), decision="gap",
                                 embedding=kb.embedder.embed_query(text).tobytes(),
                                 embedding_model=kb.embedder.model_name, dedup_key=f"{topic_id}-{i}-{email}"))
        refresh_demand(session, session.get(Topic, topic_id), kb.settings.backlog)
    return topic_id


def topic_state(kb, topic_id: int) -> Topic:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return session.get(Topic, topic_id)


def actions(kb, topic_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return list(session.scalars(select(TopicEvent.action).where(TopicEvent.topic_id == topic_id)
                                    .order_by(TopicEvent.id)))


def notifications(kb, kind: str | None = None) -> list[tuple[str, int | None, str]]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id))
        return [(n.kind, n.topic_id, n.message) for n in rows if kind is None or n.kind == kind]


def content_id(kb, path: str) -> int:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return session.scalar(select(Content.id).where(Content.canonical_url.endswith(path)))


def test_a_crawl_that_adds_an_answer_closes_the_loop_and_losing_the_page_reopens_it(kb, site):
    first = crawl_site(kb, "acme")
    sso = add_topic(kb, SSO_QUESTION, [("ana@example.com", SSO_QUESTION),
                                       ("bo@example.com", "Can our team log in through Okta SSO?"),
                                       ("ana@example.com", "does acme work with okta single sign on")])
    pricing_gap = add_topic(kb, "Do you offer a discount for nonprofits?",
                            [("cy@example.com", "Do you offer a discount for nonprofits?")])
    assert first.loop is not None and first.loop.suggested == []  # nothing answered SSO yet

    site.add(SSO_PAGE)
    second = crawl_site(kb, "acme")
    assert second.counts["new"] == 1
    assert second.loop.suggested_ids == [sso]  # the nonprofit question stays a gap
    change = second.loop.suggested[0]
    assert change.content_title == "Single sign-on with Okta" and change.confidence >= 0.5
    assert (change.ask_count, change.search_count) == (3, 0)
    assert second.to_dict()["loop"]["suggested"] == 1
    assert f"1 possibly answered (#{sso})" in render_summary(second)
    topic = topic_state(kb, sso)
    assert topic.suggested_content_id == content_id(kb, SSO_PAGE[0]) and topic.status == "new"
    assert topic.suggested_passage_id and topic.suggested_at is not None
    assert actions(kb, sso)[-1] == "suggested"
    assert topic_state(kb, pricing_gap).suggested_content_id is None

    with kb.transaction() as session:
        marketer = add_user(session, "mia@example.com", role="marketer")
        confirmed = confirm_suggestion(kb, session, sso, user=marketer)
        # The page appeared after the topic was created: it was written for it.
        assert confirmed.status == "published"
    topic = topic_state(kb, sso)
    assert topic.answer_content_id == content_id(kb, SSO_PAGE[0]) and topic.closed_at is not None
    assert topic.suggested_content_id is None
    assert actions(kb, sso)[-1] == "confirmed"
    answered = notifications(kb, "answered")
    assert len(answered) == 2  # ana asked twice, bo once: one notification per rep
    assert all(t == sso and "Single sign-on with Okta" in m and "/blog/sso-with-okta/" in m for _, t, m in answered)

    # Re-crawling with nothing changed leaves the answer alone.
    assert crawl_site(kb, "acme").loop.reopened == []

    site.remove(SSO_PAGE[0])
    third = crawl_site(kb, "acme")
    assert third.counts["retired"] == 1
    assert third.loop.reopened_ids == [sso]
    assert third.loop.reopened[0].reason == "answer_retired"
    topic = topic_state(kb, sso)
    assert topic.status == "new" and topic.answer_content_id is None and topic.closed_at is None
    assert actions(kb, sso)[-1] == "reopened"
    reopened = notifications(kb, "reopened")
    assert len(reopened) == 2 and all("open again" in m for _, _, m in reopened)


def test_a_rejected_suggestion_is_never_made_again_but_other_content_still_can_be(kb, site):
    crawl_site(kb, "acme")
    sso = add_topic(kb, SSO_QUESTION, [("ana@example.com", SSO_QUESTION)])
    site.add(SSO_PAGE)
    assert crawl_site(kb, "acme").loop.suggested_ids == [sso]
    rejected = content_id(kb, SSO_PAGE[0])

    with kb.transaction() as session:
        reject_suggestion(kb, session, sso)
    with kb.transaction() as session, pytest.raises(ConflictError, match="no suggested answer"):
        reject_suggestion(kb, session, sso)
    with kb.sessions() as session:
        assert session.scalars(select(TopicRejection.content_id)).all() == [rejected]
    assert actions(kb, sso)[-1] == "rejected" and topic_state(kb, sso).suggested_content_id is None

    # The rejected page changes: the topic is searched again and the rejected page is skipped.
    site.add((SSO_PAGE[0], SSO_PAGE[1], SSO_PAGE[2] + " Okta SCIM provisioning is supported too."))
    changed = crawl_site(kb, "acme")
    assert changed.counts["changed"] == 1
    assert sso not in changed.loop.suggested_ids and topic_state(kb, sso).suggested_content_id is None
    assert recheck_topics(kb).suggested == []  # a full re-check agrees

    # A second answering page is a new candidate: it gets its own confidence, with the rejected one left out.
    site.add(SSO_GUIDE)
    guide = crawl_site(kb, "acme")
    assert guide.loop.suggested_ids == [sso]
    assert topic_state(kb, sso).suggested_content_id == content_id(kb, SSO_GUIDE[0]) != rejected


def test_a_changed_answer_that_no_longer_answers_reopens_and_a_stale_suggestion_is_withdrawn(kb, site):
    crawl_site(kb, "acme")
    sso = add_topic(kb, SSO_QUESTION, [("ana@example.com", SSO_QUESTION)])
    residency = add_topic(kb, RESIDENCY_QUESTION, [("bo@example.com", RESIDENCY_QUESTION)])
    site.add(SSO_PAGE)
    site.add(RESIDENCY_PAGE)
    assert set(crawl_site(kb, "acme").loop.suggested_ids) == {sso, residency}
    with kb.transaction() as session:
        confirm_suggestion(kb, session, sso)

    # The SSO page is rewritten about something else; the residency page disappears.
    site.add((SSO_PAGE[0], "Office locations", "Acme has offices in Berlin, Lisbon and Toronto. " * 3))
    site.remove(RESIDENCY_PAGE[0])
    after = crawl_site(kb, "acme")
    assert after.loop.reopened_ids == [sso]
    assert after.loop.reopened[0].reason == "answer_no_longer_matches"
    assert topic_state(kb, sso).status == "new" and "reopened" in actions(kb, sso)
    assert [c.topic_id for c in after.loop.withdrawn] == [residency]
    assert topic_state(kb, residency).suggested_content_id is None
    assert actions(kb, residency)[-1] == "suggestion_withdrawn"
    assert [n[0] for n in notifications(kb)] == ["answered", "reopened"]


def test_existing_content_confirmed_through_the_cli_and_api(kb, site, cli_model, tmp_path, monkeypatch):
    site.add(SSO_PAGE)
    crawl_site(kb, "acme")
    # Asked after the page was crawled: confirming makes it "answered by existing content".
    # Rows, not intake: intake would call these answered at once; here they are gaps from before (say the
    # threshold was higher then), which the re-check now finds answered by existing content.
    sso = add_topic(kb, SSO_QUESTION, [("ana@example.com", SSO_QUESTION), ("bo@example.com", SSO_QUESTION)],
                    via_intake=False)
    other = add_topic(kb, "Is there an Okta single sign-on setup guide?", [("cy@example.com", "Okta SSO guide?")],
                      via_intake=False)
    with kb.transaction() as session:
        add_user(session, "mia@example.com", role="marketer")

    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{kb.settings.instance_dir}"\n[questions]\nanswer_threshold = 0.5\n')
    monkeypatch.chdir(tmp_path)
    run = CliRunner()

    def cli_kb(*args: str):  # type: ignore[no-untyped-def]
        return run.invoke(cli, ["--config", str(config), *args])

    recheck = cli_kb("topics", "recheck", "--json")
    assert recheck.exit_code == 0, recheck.output
    assert sso in [t["topic_id"] for t in json.loads(recheck.stdout)["suggested_topics"]]

    assert cli_kb("topics", "confirm", str(sso), "--as", "nobody@example.com").exit_code == 3
    done = cli_kb("topics", "confirm", str(sso), "--as", "mia@example.com", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["status"] == "answered_existing" and data["answer"]["title"] == "Single sign-on with Okta"
    assert (data["ask_count"], data["rep_count"], data["search_count"]) == (2, 2, 0)
    again = cli_kb("topics", "confirm", str(sso))
    assert again.exit_code == 4 and "no suggested answer" in again.stderr

    listed = cli_kb("notifications", "--as", "ana@example.com", "--json")
    rows = json.loads(listed.stdout)
    assert [r["kind"] for r in rows] == ["answered"] and not rows[0]["read"]
    assert cli_kb("notifications", "read", str(rows[0]["id"]), "--as", "bo@example.com").exit_code == 3
    assert cli_kb("notifications", "read", str(rows[0]["id"]), "--as", "ana@example.com").exit_code == 0
    assert json.loads(cli_kb("notifications", "--as", "ana@example.com", "--unread", "--json").stdout) == []

    from tests.support.web_client import logged_in
    from web import create_app

    app = create_app(kb)
    rep = logged_in(app, kb, "rep-only@example.com", "rep")
    assert rep.api("post", f"/api/v1/topics/{other}/reject").status_code == 403  # reps cannot triage
    client = logged_in(app, kb, "mia@example.com", "marketer")
    assert client.api("post", f"/api/v1/topics/{other}/reject", json={"as": "ghost@example.com"}).status_code == 400
    assert client.api("post", f"/api/v1/topics/{other}/reject", data="[1]",
                      content_type="application/json").status_code == 400
    assert topic_state(kb, other).suggested_content_id is not None
    response = client.api("post", f"/api/v1/topics/{other}/reject")
    assert response.status_code == 200 and response.get_json()["suggestion"] is None
    rejected_again = cli_kb("topics", "reject", str(other), "--as", "mia@example.com")
    assert rejected_again.exit_code == 4 and "no suggested answer" in rejected_again.stderr
    with kb.sessions() as session:
        rejection = session.scalars(select(TopicRejection)).one()
        assert rejection.topic_id == other and rejection.user_id is not None
    assert client.api("post", f"/api/v1/topics/{other}/confirm").status_code == 409
    assert client.api("post", "/api/v1/topics/99999/confirm").status_code == 404
    with kb.sessions() as session, pytest.raises(NotFoundError):
        confirm_suggestion(kb, session, 99999)
