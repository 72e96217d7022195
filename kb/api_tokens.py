"""API tokens for ``/api/v1``: created by their user, shown once, stored hashed, revocable.

A token acts as its user with the user's current role (read on every request), so demoting or
disabling the user changes what the token may do at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.errors import NotFoundError, ValidationError
from kb.models import ApiToken, User, utcnow
from kb.secret_tokens import new_token, token_hash

PREFIX = "skb_"
MAX_TOKENS_PER_USER = 20


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the secret, which is never shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("give the token a name of 1 to 100 characters (what uses it)")
    live = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))).all()
    if len(live) >= MAX_TOKENS_PER_USER:
        raise ValidationError(f"at most {MAX_TOKENS_PER_USER} live tokens per user; revoke one first")
    secret = new_token(PREFIX)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    return row, secret


def token_user(session: Session, secret: str) -> User | None:
    """The active user a live token belongs to, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo))).total_seconds() > 60:
        row.last_used_at = now
    return row.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (someone else's is 'not found', not 'forbidden')."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": row.created_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "revoked": row.revoked_at is not None}
