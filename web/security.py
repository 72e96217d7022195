"""Transport and browser hardening: cookie flags, secret key, trusted hosts, proxy headers, response headers.

Everything here is configuration of Flask and Werkzeug (ProxyFix, TRUSTED_HOSTS, cookie options) plus
one after-request hook for the headers OWASP ASVS 3.4 asks for; no hand-rolled security logic.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from kb.durable_files import create_once
from kb.knowledge_base import KnowledgeBase

# Pages load only our own script and styles; nothing may frame us or rewrite the base URL.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def secret_key(kb: KnowledgeBase) -> str:
    """``KB_SECRET_KEY``, else a key generated once and kept (mode 0600) in the instance folder,
    so restarting the app does not log everybody out."""
    if kb.settings.secret_key:
        return kb.settings.secret_key
    path = Path(kb.settings.instance_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        create_once(path, secrets.token_hex(32).encode())  # workers booting together keep the first one written
    return path.read_text().strip()


def configure(app: Flask, kb: KnowledgeBase) -> None:
    web = kb.settings.web
    secure = web.secure_cookies
    app.config.update(
        SECRET_KEY=secret_key(kb),
        # __Host- pins the cookie to this host and path / (it requires Secure, so only then).
        SESSION_COOKIE_NAME="__Host-kb_session" if secure else "kb_session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_FORM_MEMORY_SIZE=256 * 1024,
        MAX_FORM_PARTS=500,
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )
    if web.trusted_hosts:
        app.config["TRUSTED_HOSTS"] = list(web.trusted_hosts)
    if web.behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "application/json" or "Set-Cookie" in headers:
            headers.setdefault("Cache-Control", "no-store")
        return response
