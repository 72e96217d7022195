"""Logging in and out, invitations, and a user's own account (password, API tokens)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from kb.api_tokens import create_token, list_tokens, revoke_token, token_dict
from kb.errors import KBError, RateLimitedError
from kb.invitations import accept_invitation, invitation_user
from kb.login import BAD_LOGIN, authenticate, change_password, client_key, end_session, start_session
from kb.models import User
from web.auth import SESSION_KEY, login_policy, require_user
from web.context import knowledge_base

bp = Blueprint("account", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no '//' or backslash tricks) may follow a login."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return url_for("pages.search_page")


def _open_session(user_id: int) -> None:
    kb = knowledge_base()
    with kb.transaction() as db:
        token = start_session(db, db.get(User, user_id), user_agent=request.user_agent.string or "")  # type: ignore[arg-type]
    session.clear()  # a new session id after login: nothing planted before survives (ASVS 7.2.4)
    session[SESSION_KEY] = token


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("account/login.html", next=next_url, email="")
    kb = knowledge_base()
    email = request.form.get("email", "")[:320]
    try:
        with kb.transaction() as db:  # commits the attempt, failed or not: the rate limit counts it
            user = authenticate(db, email, request.form.get("password", "")[:1024],
                                client=client_key(request.remote_addr, current_app.secret_key),
                                policy=login_policy())
            user_id = user.id if user else None
    except RateLimitedError as exc:
        page = render_template("account/login.html", next=next_url, email=email, error=exc.message)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    if user_id is None:
        return render_template("account/login.html", next=next_url, email=email, error=BAD_LOGIN), 401
    _open_session(user_id)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    with knowledge_base().transaction() as db:
        end_session(db, session.get(SESSION_KEY))
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("account.login"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):  # type: ignore[no-untyped-def]
    kb = knowledge_base()
    if request.method == "GET":
        with kb.sessions() as db:
            email = invitation_user(db, token[:100]).email
        return render_template("account/invitation.html", email=email, token=token)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        with kb.sessions() as db:
            email = invitation_user(db, token[:100]).email
        return render_template("account/invitation.html", email=email, token=token,
                               error="the two passwords differ"), 400
    try:
        with kb.transaction() as db:
            user_id = accept_invitation(db, token[:100], password).id
    except KBError as exc:
        if exc.http_status == 404:
            raise
        with kb.sessions() as db:
            email = invitation_user(db, token[:100]).email
        return render_template("account/invitation.html", email=email, token=token, error=exc.message), 400
    _open_session(user_id)
    flash("Welcome! Your password is set.")
    return redirect(url_for("pages.search_page"))


def _account_page(status: int = 200, *, error: str | None = None,  # type: ignore[no-untyped-def]
                  new_token: str | None = None):
    me = require_user()
    with knowledge_base().sessions() as db:
        tokens = [token_dict(row) for row in list_tokens(db, db.get(User, me.id))]  # type: ignore[arg-type]
    return render_template("account/settings.html", tokens=tokens, error=error, new_token=new_token), status


@bp.get("/account")
def settings():  # type: ignore[no-untyped-def]
    return _account_page()


@bp.post("/account/password", endpoint="change_password")
def change_password_view():  # type: ignore[no-untyped-def]
    me = require_user()
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm", ""):
        return _account_page(400, error="the two new passwords differ")
    try:
        with knowledge_base().transaction() as db:
            user = db.get(User, me.id)
            change_password(db, user, request.form.get("current_password", ""), new)  # type: ignore[arg-type]
            token = start_session(db, user, user_agent=request.user_agent.string or "")  # type: ignore[arg-type]
    except KBError as exc:
        return _account_page(400, error=exc.message)
    session.clear()  # every other session ended with the change; this browser gets a fresh one
    session[SESSION_KEY] = token
    flash("Password changed. You were logged out everywhere else.")
    return redirect(url_for("account.settings"))


@bp.post("/account/tokens", endpoint="create_token")
def create_token_view():  # type: ignore[no-untyped-def]
    me = require_user()
    try:
        with knowledge_base().transaction() as db:
            _row, secret = create_token(db, db.get(User, me.id), request.form.get("name", ""))  # type: ignore[arg-type]
    except KBError as exc:
        return _account_page(400, error=exc.message)
    return _account_page(201, new_token=secret)


@bp.post("/account/tokens/<int:token_id>/revoke", endpoint="revoke_token")
def revoke_token_view(token_id: int):  # type: ignore[no-untyped-def]
    me = require_user()
    with knowledge_base().transaction() as db:
        revoke_token(db, db.get(User, me.id), token_id)  # type: ignore[arg-type]
    flash("Token revoked.")
    return redirect(url_for("account.settings"))
