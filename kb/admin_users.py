"""Managing users from the admin pages and API: the list, invitations, role and active changes.

Built on :mod:`kb.users` (the rules: unique e-mail, known roles, the last admin stays an admin) and
:mod:`kb.invitations` (one-time links with which a user sets their own password; admins never see or
choose passwords). Changes take effect on the affected user's next request, because every request reads
the role and the active flag from the database, and disabling ends their sessions at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from kb.demand import as_utc
from kb.errors import ConflictError, ValidationError
from kb.invitations import create_invitation
from kb.models import Invitation, LoginSession, User, utcnow
from kb.users import add_user, get_user, set_active, set_role

CHANGE_FIELDS = ("role", "active")
MAX_NAME = 200


def _user_dict(user: User, *, pending: bool = False, last_login: Any = None) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "active": user.active,
            "has_password": user.password_hash is not None, "invitation_pending": pending,
            "last_login": as_utc(last_login).isoformat() if last_login else None,
            "created_at": as_utc(user.created_at).isoformat() if user.created_at else None}


def user_rows(kb: Any, *, limit: int | None = None, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Users by e-mail (a page of them) and how many there are in all.

    ``last_login`` is the start of their newest live session (sessions end at logout, so it is empty for
    someone who logged out); ``invitation_pending`` means an unused, unexpired invitation exists.
    """
    with kb.sessions() as session:
        total = session.scalar(select(func.count()).select_from(User)) or 0
        stmt = select(User).order_by(User.email).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        users = list(session.scalars(stmt))
        ids = [u.id for u in users]
        logins = dict(session.execute(select(LoginSession.user_id, func.max(LoginSession.created_at))
                                      .where(LoginSession.user_id.in_(ids)).group_by(LoginSession.user_id)).all())
        pending = set(session.scalars(select(Invitation.user_id).where(
            Invitation.user_id.in_(ids), Invitation.used_at.is_(None), Invitation.expires_at > utcnow())))
        return [_user_dict(u, pending=u.id in pending, last_login=logins.get(u.id)) for u in users], total


def invite_user(kb: Any, email: str, *, name: str = "", role: str = "rep",
                invited_by: int | None = None) -> tuple[dict[str, Any], str]:
    """Create a user without a password and an invitation; returns the user and the token for the link."""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValidationError(f"name must be text of at most {MAX_NAME} characters")
    if not isinstance(email, str) or not isinstance(role, str):
        raise ValidationError("email and role must be text")
    with kb.transaction() as session:
        user = add_user(session, email, name=name, role=role)
        token = create_invitation(session, user, created_by=invited_by)
        return _user_dict(user, pending=True), token


def reinvite_user(kb: Any, user_id: int, *, invited_by: int | None = None) -> tuple[dict[str, Any], str]:
    """A fresh invitation (earlier links stop working): for someone who lost the link or their password."""
    with kb.transaction() as session:
        user = get_user(session, user_id)
        if not user.active:
            raise ConflictError(f"{user.email} is disabled: enable them before inviting them again")
        token = create_invitation(session, user, created_by=invited_by)
        return _user_dict(user, pending=True), token


def change_user(kb: Any, user_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change a user's role and/or active flag (the last active admin stays one: ConflictError)."""
    unknown = sorted(set(changes) - set(CHANGE_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(CHANGE_FIELDS)}")
    if "role" in changes and not isinstance(changes["role"], str):
        raise ValidationError("'role' must be text")
    if "active" in changes and not isinstance(changes["active"], bool):
        raise ValidationError("'active' must be true or false")
    with kb.transaction() as session:
        user = get_user(session, user_id)
        if "role" in changes:
            set_role(session, user.id, changes["role"])
        if "active" in changes:
            set_active(session, user.id, changes["active"])
        return _user_dict(user)
