"""Invitations: a one-time link with which a new user (or one locked out) sets their own password.

Admins never choose or see passwords (no default passwords, ASVS 6.3.2): inviting someone creates the
user without a password and a token that is valid for a few days and once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kb.errors import NotFoundError
from kb.login import set_password
from kb.models import Invitation, User, utcnow
from kb.secret_tokens import new_token, token_hash

VALID_FOR = timedelta(days=7)


def create_invitation(session: Session, user: User, *, created_by: int | None = None) -> str:
    """A fresh invitation for ``user`` (earlier unused ones stop working); returns the token for the link."""
    now = utcnow()
    session.execute(update(Invitation).where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
                    .values(used_at=now))
    token = new_token()
    session.add(Invitation(user_id=user.id, token_hash=token_hash(token), created_by_id=created_by,
                           expires_at=now + VALID_FOR))
    session.flush()
    return token


def invitation_user(session: Session, token: str) -> User:
    """The user a live invitation is for; NotFoundError when it is unknown, used or expired."""
    row = session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token or "")))
    now = utcnow()
    if row is None or row.used_at is not None or not row.user.active:
        raise NotFoundError("this invitation link is not valid (used, replaced or mistyped)")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    if expires < now:
        raise NotFoundError("this invitation link has expired; ask an admin for a new one")
    return row.user


def accept_invitation(session: Session, token: str, password: str) -> User:
    """Set the invited user's password (rules checked) and use the invitation up."""
    user = invitation_user(session, token)
    set_password(session, user, password)
    session.execute(update(Invitation).where(Invitation.token_hash == token_hash(token)).values(used_at=utcnow()))
    return user
