"""Test clients that talk to the app the way a browser or a script does.

The app sets ``Secure`` ``__Host-`` cookies and checks the Referer of HTTPS form posts (Flask-WTF's
strict mode), so a browser-like test client speaks HTTPS to ``localhost`` and sends a same-origin
Referer; logging in goes through the real login form with its CSRF token.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

BASE = "https://localhost"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class BrowserClient(FlaskClient):
    """HTTPS with a same-origin Referer by default; ``csrf`` holds the token of the last page read."""

    csrf: str | None = None

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        kwargs.setdefault("base_url", BASE)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Referer", BASE + "/")
        kwargs["headers"] = headers
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html":
            found = _CSRF.search(response.get_data(as_text=True))
            if found:
                self.csrf = found.group(1)
        return response

    def form(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        """POST a form with the CSRF token of a freshly loaded page."""
        if self.csrf is None:
            self.get("/login")
        return self.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def api(self, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        """Call the JSON API with the session cookie and the CSRF header, as the pages' script does."""
        if self.csrf is None:
            self.get("/login")
        headers = {"X-CSRFToken": self.csrf, **(kwargs.pop("headers", None) or {})}
        return self.open(path, method=method.upper(), headers=headers, **kwargs)


def browser(app: Flask) -> BrowserClient:
    app.test_client_class = BrowserClient
    return app.test_client()  # type: ignore[return-value]


def make_user(kb, email: str, role: str = "rep", *, password: str = PASSWORD, name: str = "") -> int:  # type: ignore[no-untyped-def]
    """A user who can log in (the password is set the way an invitation sets it)."""
    from kb.login import set_password
    from kb.users import add_user, find_user

    with kb.transaction() as db:
        user = find_user(db, email) or add_user(db, email, role=role, name=name)
        user.role = role
        set_password(db, user, password)
        return user.id


def logged_in(app: Flask, kb, email: str, role: str = "rep") -> BrowserClient:  # type: ignore[no-untyped-def]
    """A browser client logged in as ``email`` (created with ``role`` if needed) through the login form."""
    make_user(kb, email, role)
    client = browser(app)
    response = client.form("/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client.get("/account")  # logging in starts a fresh session: read the CSRF token that belongs to it
    return client


def api_token(kb, email: str, role: str = "rep") -> dict[str, str]:  # type: ignore[no-untyped-def]
    """``Authorization`` headers with a fresh API token of ``email`` (created with ``role`` if needed)."""
    from kb.api_tokens import create_token
    from kb.users import add_user, find_user

    with kb.transaction() as db:
        user = find_user(db, email) or add_user(db, email, role=role)
        _row, secret = create_token(db, user, "tests")
    return {"Authorization": f"Bearer {secret}"}
