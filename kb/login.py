"""Logging in: password checks with rate limiting, and the server-side sessions a login opens.

A session is a row keyed by the hash of a random token the browser holds in its (signed) cookie. The
row is what makes the session real: logging out deletes it, and disabling a user or changing a
password deletes all of theirs, so a copied cookie stops working on the next request (ASVS 7.4).
Failed attempts are rows too, so the limit holds across workers and restarts; the client address is
stored only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kb.errors import RateLimitedError, ValidationError
from kb.models import LoginAttempt, LoginSession, User, utcnow
from kb.passwords import check_password_rules, hash_password, needs_rehash, verify_password
from kb.secret_tokens import new_token, token_hash
from kb.settings import WebSettings
from kb.users import normalise_email

BAD_LOGIN = "wrong e-mail address or password"  # the same words for an unknown user (ASVS 6.3.8)
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (no write per request)


@dataclass(frozen=True)
class LoginPolicy:
    idle: timedelta
    absolute: timedelta
    max_failures: int
    window: timedelta

    @classmethod
    def from_settings(cls, web: WebSettings) -> LoginPolicy:
        return cls(idle=timedelta(minutes=web.session_idle_minutes), absolute=timedelta(hours=web.session_max_hours),
                   max_failures=web.login_max_failures, window=timedelta(minutes=web.login_window_minutes))


def client_key(address: str | None, secret: str) -> str:
    """A stable keyed hash of a client address: enough to count attempts, useless to anyone reading the table."""
    return hashlib.sha256(f"{secret}|{address or '-'}".encode()).hexdigest()[:32]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)  # SQLite returns naive UTC


def check_rate_limit(session: Session, email: str, client: str, policy: LoginPolicy) -> None:
    """Raise RateLimitedError when the account or the client has too many recent failures.

    Per account *and* per client: rotating the client address does not reset the account's count, and
    one client cannot walk through many accounts. Nothing is locked for good: the window slides.
    """
    since = utcnow() - policy.window
    for column, value, limit in ((LoginAttempt.email, email, policy.max_failures),
                                 (LoginAttempt.client, client, policy.max_failures * 4)):
        failures = session.execute(
            select(func.count(), func.min(LoginAttempt.at))
            .where(column == value, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
        ).one()
        if failures[0] >= limit:
            retry = _aware(failures[1]) + policy.window - utcnow()
            raise RateLimitedError("too many failed logins; try again later", max(1, math.ceil(retry.total_seconds())))


def authenticate(session: Session, email: str, password: str, *, client: str, policy: LoginPolicy) -> User | None:
    """The active user with this e-mail and password, or None (the failure is recorded: commit the session,
    then answer :data:`BAD_LOGIN`, the same words for an unknown user and a wrong password).

    Raises RateLimitedError before checking anything when there were too many failures.
    """
    try:
        email = normalise_email(email)
    except ValidationError:
        email = (email or "").strip().lower()[:320]
    check_rate_limit(session, email, client, policy)
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password or "")
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(email=email, client=client, success=ok))
    if not ok or user is None:
        session.flush()
        return None
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - policy.window))
    return user


def start_session(session: Session, user: User, *, user_agent: str = "") -> str:
    """Open a login session; returns the token for the cookie (only its hash is stored)."""
    token = new_token()
    session.add(LoginSession(token_hash=token_hash(token), user_id=user.id, user_agent=user_agent[:300]))
    session.flush()
    return token


def session_user(session: Session, token: str | None, policy: LoginPolicy) -> User | None:
    """The user of a live session, or None (unknown, ended, idle too long, too old, or the user disabled)."""
    if not token:
        return None
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    if row is None:
        return None
    now = utcnow()
    if now - _aware(row.last_seen_at) > policy.idle or now - _aware(row.created_at) > policy.absolute:
        session.delete(row)
        return None
    if not row.user.active:
        return None
    if now - _aware(row.last_seen_at) > SEEN_EVERY:
        row.last_seen_at = now
    return row.user


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))


def end_all_sessions(session: Session, user_id: int) -> int:
    """End every session of a user (password changed, user disabled); returns how many."""
    return session.execute(delete(LoginSession).where(LoginSession.user_id == user_id)).rowcount or 0


def set_password(session: Session, user: User, new_password: str) -> None:
    """Set a password (rules checked) and end the user's other sessions and nothing else."""
    check_password_rules(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    end_all_sessions(session, user.id)
    session.flush()


def change_password(session: Session, user: User, current: str, new_password: str) -> None:
    """A user changing their own password must know the current one."""
    if not verify_password(user.password_hash, current or ""):
        raise ValidationError("the current password is wrong")
    set_password(session, user, new_password)
