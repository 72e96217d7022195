"""Notifications: telling the reps who asked when their question got an answer (or lost it).

A notification is always an in-app record (``kb notifications``); when ``mail.smtp_host`` is set it is
also e-mailed. E-mail is sent by :func:`deliver_pending` *after* the transaction that created the
notifications has committed, so a slow or dead SMTP server never holds the database open and never
undoes a marketer's confirmation: a failed send is written to ``email_error`` and that is all.

Each notification is claimed before it is sent (a conditional UPDATE that only one process can win),
so two processes delivering at the same time never e-mail a rep twice.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from kb.errors import NotFoundError
from kb.models import Content, Notification, Question, Topic, User, utcnow
from kb.settings import MailSettings
from kb.timed_links import moment_link
from kb.users import get_user

log = logging.getLogger(__name__)

KINDS = ("answered", "reopened", "link_opened")  # link_opened: a prospect first opened a tracked link
_SENDING = "sending"  # the claim marker written to email_error while a message is on its way
SMTP_TIMEOUT_SECONDS = 15.0


def content_link(content: Content, start_seconds: float | None = None) -> str:
    """Where to send the rep: the page, at the passage's second for recordings (as search hits do)."""
    return moment_link(content.canonical_url, start_seconds, media_url=content.media_url,
                       media_platform=content.media_platform)


def askers(session: Session, topic: Topic) -> dict[int, int]:
    """Every distinct rep who asked a question of ``topic`` -> the id of their latest question."""
    rows = session.execute(
        select(Question.asked_by_id, Question.id)
        .where(Question.topic_id == topic.id, Question.asked_by_id.is_not(None))
        .order_by(Question.asked_at, Question.id)
    ).all()
    return {user_id: question_id for user_id, question_id in rows}  # later rows win: the latest question


def notify_askers(
    session: Session, topic: Topic, kind: str, message: str, *, content_id: int | None = None
) -> list[Notification]:
    """One notification per distinct asker of ``topic`` (not per question: five asks, one message)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    created = [
        Notification(user_id=user_id, topic_id=topic.id, question_id=question_id, content_id=content_id,
                     kind=kind, message=message)
        for user_id, question_id in askers(session, topic).items()
    ]
    session.add_all(created)
    session.flush()
    return created


def notify_link_opened(session: Session, user_id: int, message: str, *, content_id: int | None = None) -> Notification:
    """Tell a rep their tracked link was opened for the first time (kb.link_visits calls it once per link)."""
    notification = Notification(user_id=user_id, content_id=content_id, kind="link_opened", message=message)
    session.add(notification)
    session.flush()
    return notification


def list_notifications(session: Session, user: User, unread_only: bool = False) -> list[Notification]:
    """A user's notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc())))


def mark_read(session: Session, user: User, ids: Iterable[int]) -> list[Notification]:
    """Mark the user's own notifications read; an id that is not theirs is not found (never someone else's)."""
    wanted = sorted(set(ids))
    found = {n.id: n for n in session.scalars(
        select(Notification).where(Notification.id.in_(wanted), Notification.user_id == user.id)
    )}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise NotFoundError(f"no notification {', '.join(missing)} for {user.email}")
    now = utcnow()
    for notification in found.values():
        if notification.read_at is None:
            notification.read_at = now
    session.flush()
    return [found[i] for i in wanted]


def user_notifications(kb, email: str, *, unread_only: bool = False) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """The notifications of the user with ``email`` (unknown: not found), as dicts, newest first."""
    with kb.sessions() as session:
        return [notification_dict(n) for n in list_notifications(session, get_user(session, email), unread_only)]


def mark_user_read(kb, email: str, ids: Iterable[int]) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Mark the notifications ``ids`` of the user with ``email`` read; the changed notifications as dicts."""
    with kb.transaction() as session:
        return [notification_dict(n) for n in mark_read(session, get_user(session, email), ids)]


def notification_dict(notification: Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "topic_id": notification.topic_id,
        "question_id": notification.question_id,
        "content_id": notification.content_id,
        "message": notification.message,
        "created_at": notification.created_at.isoformat() if notification.created_at else None,
        "read": notification.read_at is not None,
        "emailed_at": notification.emailed_at.isoformat() if notification.emailed_at else None,
        "email_error": notification.email_error,
    }


# -- e-mail ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed}


def deliver_pending(kb, ids: Collection[int] | None = None) -> DeliveryReport:  # type: ignore[no-untyped-def]
    """E-mail the notifications not yet sent (only ``ids`` when given); call it after committing.

    Does nothing when no SMTP server is configured. Never raises for a mail problem: the error is
    recorded on each notification it concerns and logged.
    """
    mail: MailSettings = kb.settings.mail
    if not mail.smtp_host:
        return DeliveryReport()
    if ids is not None and not ids:
        return DeliveryReport()
    claimed = _claim(kb, ids)
    if not claimed:
        return DeliveryReport()
    results: dict[int, str | None] = {}
    try:
        with _connect(mail, kb.settings.smtp_password) as smtp:
            for notification_id, address, kind, message in claimed:
                try:
                    smtp.send_message(_email(mail, address, kind, message))
                    results[notification_id] = None
                except (smtplib.SMTPException, ValueError) as exc:  # this one refused: the others still go
                    results[notification_id] = _describe(exc)
    except (OSError, smtplib.SMTPException) as exc:  # connection, TLS or login failed: nothing more goes
        error = _describe(exc)
        log.warning("notification e-mail failed: %s", error)
        for notification_id, *_ in claimed:
            results.setdefault(notification_id, error)
    _finish(kb, results)
    failed = sum(1 for error in results.values() if error)
    return DeliveryReport(sent=len(results) - failed, failed=failed)


def deliver_after_commit(kb, session: Session, notifications: Sequence[Notification]) -> None:  # type: ignore[no-untyped-def]
    """E-mail ``notifications`` once ``session`` has committed; a rollback sends nothing.

    Whoever creates notifications inside a caller's transaction (confirming a suggestion) uses this so the
    SMTP conversation happens after the database is released, whatever the caller does next.
    """
    if not kb.settings.mail.smtp_host or not notifications:
        return
    ids = [notification.id for notification in notifications]

    def send(_session: Session) -> None:
        try:
            deliver_pending(kb, ids)
        except Exception:  # the confirmation is committed; a delivery problem must not look like its failure
            log.exception("delivering notifications %s failed", ids)

    event.listen(session, "after_commit", send, once=True)


def _claim(kb, ids: Collection[int] | None) -> list[tuple[int, str, str, str]]:  # type: ignore[no-untyped-def]
    """Mark pending notifications as being sent (one process wins each) and return what to send."""
    with kb.transaction() as session:
        stmt = (
            select(Notification.id, User.email, Notification.kind, Notification.message)
            .join(User, User.id == Notification.user_id)
            .where(Notification.emailed_at.is_(None), Notification.email_error.is_(None), User.active.is_(True))
        )
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(list(ids)))
        pending = session.execute(stmt.order_by(Notification.id)).all()
        claimed = []
        for notification_id, email, kind, message in pending:
            won = session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.emailed_at.is_(None),
                       Notification.email_error.is_(None))
                .values(email_error=_SENDING)
            ).rowcount
            if won:
                claimed.append((notification_id, email, kind, message))
    return claimed


def _finish(kb, results: dict[int, str | None]) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with kb.transaction() as session:
        for notification_id, error in results.items():
            notification = session.get(Notification, notification_id)
            if notification is None:
                continue
            if error is None:
                notification.emailed_at, notification.email_error = now, None
            else:
                notification.email_error = error[:2000]


def _connect(mail: MailSettings, password: str | None) -> smtplib.SMTP:
    smtp = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if mail.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if mail.username:
            smtp.login(mail.username, password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


SUBJECTS = {"answered": "Your question has an answer", "reopened": "Your question is open again",
            "link_opened": "Your prospect opened your link"}


def _email(mail: MailSettings, to: str, kind: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = to
    message["Subject"] = f"[Smarketing KB] {SUBJECTS.get(kind, 'Notification')}"
    message.set_content(text + "\n\n-- Smarketing KB\n")  # the text names the content and its link
    return message


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()
