"""Who is calling: the session cookie (pages, and the API from our own pages) or an API token (scripts).

Runs before every request: identify the user (the role is read from the database every time, so a
demotion or a disabled account takes effect on the next request), check the route's rule in
:mod:`web.access_rules`, and demand a CSRF token on every write that rides on the cookie. Requests
with an ``Authorization: Bearer`` token carry no cookie authority, so they need no CSRF token; an API
token in the query string is refused outright (it would land in logs and browser history).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from kb.api_tokens import token_user
from kb.errors import AuthenticationError, PermissionDeniedError, ValidationError
from kb.login import LoginPolicy, session_user
from kb.models import User
from web.access_rules import PUBLIC, RULES, allows
from web.context import knowledge_base

csrf = CSRFProtect()
SESSION_KEY = "sid"
QUERY_TOKEN_NAMES = ("access_token", "api_token", "token", "api_key", "key")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class CurrentUser:
    """The caller, copied out of the database session that identified them."""

    id: int
    email: str
    name: str
    role: str
    via_token: bool = False

    @property
    def label(self) -> str:
        return self.name or self.email

    @classmethod
    def of(cls, user: User, *, via_token: bool = False) -> CurrentUser:
        return cls(user.id, user.email, user.name, user.role, via_token)


def current_user() -> CurrentUser | None:
    return g.get("user")


def require_user() -> CurrentUser:
    """The caller of a route whose rule demands a login (the before-request check guarantees one)."""
    user = current_user()
    if user is None:
        raise AuthenticationError("log in first")
    return user


def login_policy() -> LoginPolicy:
    return LoginPolicy.from_settings(knowledge_base().settings.web)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if header:
        raise AuthenticationError("use 'Authorization: Bearer <token>'")
    return None


def _identify() -> None:
    if _is_api() and any(name in request.args for name in QUERY_TOKEN_NAMES):
        raise ValidationError("send API tokens in the Authorization header, never in the URL")
    kb = knowledge_base()
    bearer = _bearer_token() if _is_api() else None
    with kb.transaction() as db:
        if bearer is not None:
            user = token_user(db, bearer)
            if user is None:
                raise AuthenticationError("the API token is unknown or revoked")
            g.user = CurrentUser.of(user, via_token=True)
            return
        user = session_user(db, session.get(SESSION_KEY), login_policy())
        g.user = CurrentUser.of(user) if user is not None else None
    if g.user is None and SESSION_KEY in session:
        session.pop(SESSION_KEY)  # ended or expired: forget it so the browser stops sending it


def _authorise():  # type: ignore[no-untyped-def]
    required = RULES.get(request.endpoint or "")
    if request.endpoint is None:
        return None  # no route matched: the 404/405 handlers answer
    user = current_user()
    if required is None:
        current_app.logger.error("route %s has no access rule; refused", request.endpoint)
        raise PermissionDeniedError("this route has no access rule")
    if required != PUBLIC and user is None:
        if _is_api() or request.method != "GET":
            raise AuthenticationError("log in or send an API token")
        return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
    if not allows(user.role if user else None, required):
        raise PermissionDeniedError(f"this needs the {required} role")
    if request.method in WRITE_METHODS and not (user is not None and user.via_token):
        csrf.protect()
    return None


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked in _authorise, after we know how they log in
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life (which the server ends)
    csrf.init_app(app)

    @app.before_request
    def identify_and_authorise():  # type: ignore[no-untyped-def]
        _identify()
        return _authorise()

    @app.context_processor
    def inject_user() -> dict[str, object]:
        user = current_user()
        return {"current_user": user, "can": lambda level: allows(user.role if user else None, level)}
