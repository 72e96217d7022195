"""Users: adding, listing, changing roles, disabling; finding the asker of an imported question by e-mail.

A user is an e-mail address with a role, so every question and every backlog change can say who did it;
passwords, sessions and tokens are :mod:`kb.login`, :mod:`kb.invitations` and :mod:`kb.api_tokens`.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import ROLES, User
from kb.sql_dialect import insert_if_absent

# Deliberately loose (one @, a dot in the domain, no spaces): the address is an identifier here, not a
# mailbox we verify; the web issue's sign-up flow is where deliverability matters.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased; raises ValidationError when it is not an e-mail address."""
    value = (email or "").strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValidationError(f"not an e-mail address: {email!r}")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    return role


def add_user(session: Session, email: str, *, name: str = "", role: str = "rep") -> User:
    """Create a user; an e-mail address already in use is a conflict.

    The insert is ``ON CONFLICT DO NOTHING``: two admins adding the same address at once get one user and
    one 409, not a unique-index error (a 500).
    """
    email = normalise_email(email)
    check_role(role)
    user_id = insert_if_absent(session, User, "email", {"email": email, "name": name.strip(), "role": role})
    if user_id is None:
        raise ConflictError(f"a user with e-mail {email} already exists")
    return session.get(User, user_id)


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user(session: Session, email_or_id: str | int) -> User:
    """A user by id or e-mail, or NotFoundError."""
    if isinstance(email_or_id, int) or str(email_or_id).isdigit():
        user = session.get(User, int(email_or_id))
    else:
        user = find_user(session, str(email_or_id))
    if user is None:
        raise NotFoundError(f"no user {email_or_id}")
    return user


def user_for_asker(session: Session, email: str | None) -> User | None:
    """The user who asked, created as a rep on first sight (imports name reps who never logged in)."""
    if not email or not email.strip():
        return None
    found = find_user(session, email)
    if found is None:  # ON CONFLICT: two questions from a new asker arriving at once make one user
        insert_if_absent(session, User, "email", {"email": normalise_email(email), "role": "rep"})
        found = find_user(session, email)
    return found


def list_users(session: Session, *, role: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.email)
    if role:
        stmt = stmt.where(User.role == check_role(role))
    return list(session.scalars(stmt))


def set_role(session: Session, email_or_id: str | int, role: str) -> User:
    """Change a role; the last active admin cannot be demoted (someone must be able to manage users)."""
    user = get_user(session, email_or_id)
    check_role(role)
    if user.role == "admin" and role != "admin":
        admins = session.scalar(select(func.count()).where(User.role == "admin", User.active.is_(True)))
        if admins <= 1:
            raise ConflictError(f"{user.email} is the last admin; make someone else admin first")
    user.role = role
    session.flush()
    return user


def set_active(session: Session, email_or_id: str | int, active: bool) -> User:
    """Enable or disable a user. Disabling ends their sessions at once and stops their API tokens (which
    check ``active`` on every use); the last active admin cannot be disabled."""
    from kb.login import end_all_sessions  # kb.login builds on this module

    user = get_user(session, email_or_id)
    if not active and user.role == "admin" and user.active:
        admins = session.scalar(select(func.count()).where(User.role == "admin", User.active.is_(True)))
        if admins <= 1:
            raise ConflictError(f"{user.email} is the last admin; make someone else admin first")
    user.active = active
    if not active:
        end_all_sessions(session, user.id)
    session.flush()
    return user
