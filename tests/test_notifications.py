"""Notifications: one per rep who asked, readable in the app, and e-mailed through a real SMTP server.

The SMTP server is aiosmtpd listening on 127.0.0.1 (a real socket, a real SMTP conversation with login).
Content is stored directly (no crawl): confirming a suggestion needs a topic, its askers and live content.
"""

from __future__ import annotations

import socket
import sqlite3
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from kb.content import PageRecord, PassageInput, store_page
from kb.errors import NotFoundError
from kb.models import Notification, Question, Topic
from kb.notifications import deliver_pending, list_notifications, mark_read
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.suggestion_decisions import confirm_suggestion
from kb.users import add_user, get_user, user_for_asker

PASSWORD = "s3cret-for-tests"
# Login over plain SMTP is fine on 127.0.0.1 in a test; aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses one address."""

    def __init__(self, db_path=None) -> None:  # type: ignore[no-untyped-def]
        self.messages: list[Message] = []
        self.db_path = db_path
        self.database_free_while_sending: list[bool] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802
        if address.startswith("bounce"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        if self.db_path is not None:  # is the confirming transaction still holding the database?
            probe = sqlite3.connect(self.db_path, timeout=0.2)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                self.database_free_while_sending.append(True)
            except sqlite3.OperationalError:
                self.database_free_while_sending.append(False)
            finally:
                probe.close()
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


def check_login(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"kb" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=check_login,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    yield inbox, port
    controller.stop()


def answered_topic(kb, askers: list[str]) -> int:  # type: ignore[no-untyped-def]
    """A topic asked by ``askers`` (e-mails, repeats allowed) with a suggested page waiting for a marketer."""
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="acme", base_url="https://www.acme.test/"))
        _, content = store_page(session, site.id, PageRecord(
            canonical_url="https://www.acme.test/blog/sso-with-okta/", content_hash="h1",
            title="Single sign-on with Okta", kind="blog",
            passages=[PassageInput(text="Acme supports single sign-on with Okta over SAML.")]))
        topic = Topic(title="Do you support SSO with Okta?")
        session.add(topic)
        session.flush()
        for i, email in enumerate(askers):
            session.add(Question(topic_id=topic.id, text="Okta SSO?", asked_by=user_for_asker(session, email),
                                 dedup_key=f"q{i}"))
        session.flush()
        topic.suggested_content_id = content.id
        topic.suggested_passage_id = content.passages[0].id
        topic.suggested_confidence = 0.9
        return topic.id


def confirm(kb, topic_id: int) -> None:  # type: ignore[no-untyped-def]
    with kb.transaction() as session:
        confirm_suggestion(kb, session, topic_id)


def stored(kb) -> list[Notification]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_confirming_emails_every_rep_who_asked_after_the_transaction(make_kb, smtp_server, monkeypatch):
    inbox, port = smtp_server
    monkeypatch.setenv("KB_SMTP_PASSWORD", PASSWORD)
    kb = make_kb({"mail": {"smtp_host": "127.0.0.1", "smtp_port": port, "username": "kb",
                           "sender": "kb@acme.test"}})
    inbox.db_path = kb.settings.instance_dir / "kb.sqlite"
    topic_id = answered_topic(kb, ["ana@example.com", "bo@example.com", "ana@example.com"])

    confirm(kb, topic_id)

    assert sorted(m["To"] for m in inbox.messages) == ["ana@example.com", "bo@example.com"]
    message = inbox.messages[0]
    assert message["From"] == "kb@acme.test" and "has an answer" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "Single sign-on with Okta" in body and "https://www.acme.test/blog/sso-with-okta/" in body
    assert inbox.database_free_while_sending == [True, True]  # sent after commit, not inside the transaction
    rows = stored(kb)
    assert len(rows) == 2 and all(n.emailed_at is not None and n.email_error is None for n in rows)
    assert deliver_pending(kb).sent == 0  # nothing is sent twice


def test_a_refused_recipient_is_recorded_and_the_others_still_get_mail(make_kb, smtp_server, monkeypatch):
    inbox, port = smtp_server
    monkeypatch.setenv("KB_SMTP_PASSWORD", PASSWORD)
    kb = make_kb({"mail": {"smtp_host": "127.0.0.1", "smtp_port": port, "username": "kb"}})
    topic_id = answered_topic(kb, ["bounce@example.com", "ana@example.com"])
    confirm(kb, topic_id)
    by_user = {n.user_id: n for n in stored(kb)}
    with kb.sessions() as session:
        bounced = by_user[get_user(session, "bounce@example.com").id]
        fine = by_user[get_user(session, "ana@example.com").id]
    assert "550" in bounced.email_error and bounced.emailed_at is None
    assert fine.emailed_at is not None and [m["To"] for m in inbox.messages] == ["ana@example.com"]


def test_a_wrong_password_or_a_dead_server_never_undoes_the_confirmation(make_kb, smtp_server, monkeypatch):
    _, port = smtp_server
    monkeypatch.setenv("KB_SMTP_PASSWORD", "wrong")
    kb = make_kb({"mail": {"smtp_host": "127.0.0.1", "smtp_port": port, "username": "kb"}})
    confirm(kb, answered_topic(kb, ["ana@example.com"]))
    (row,) = stored(kb)
    assert row.emailed_at is None and "SMTPAuthenticationError" in row.email_error

    dead = make_kb({"mail": {"smtp_host": "127.0.0.1", "smtp_port": free_port()}}, name="dead")
    topic_id = answered_topic(dead, ["ana@example.com"])
    confirm(dead, topic_id)
    (row,) = stored(dead)
    assert row.emailed_at is None and "ConnectionRefusedError" in row.email_error
    with dead.sessions() as session:
        assert session.get(Topic, topic_id).status == "answered_existing"


def test_in_app_only_without_smtp_and_reading_is_per_user(make_kb):
    kb = make_kb()
    confirm(kb, answered_topic(kb, ["ana@example.com", "bo@example.com"]))
    assert all(n.emailed_at is None and n.email_error is None for n in stored(kb))  # no SMTP: in the app only
    with kb.transaction() as session:
        ana, bo = get_user(session, "ana@example.com"), get_user(session, "bo@example.com")
        (mine,) = list_notifications(session, ana, unread_only=True)
        assert mine.kind == "answered" and mine.topic_id is not None and mine.question_id is not None
        with pytest.raises(NotFoundError):
            mark_read(session, bo, [mine.id])  # not bo's
        mark_read(session, ana, [mine.id])
        assert list_notifications(session, ana, unread_only=True) == []
        assert len(list_notifications(session, ana)) == 1
        add_user(session, "mia@example.com", role="marketer")
        assert list_notifications(session, get_user(session, "mia@example.com")) == []
