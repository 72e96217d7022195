"""The one place where errors become HTTP responses: JSON under /api, HTML elsewhere.

Typed ``KBError``s carry their status; HTTP errors keep theirs; anything else is a generic 500
with no stack trace, SQL or secret in the body (it is logged instead).
"""

from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import StatementError
from werkzeug.exceptions import HTTPException

from kb.errors import KBError, RateLimitedError


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _respond(status: int, code: str, message: str):  # type: ignore[no-untyped-def]
    if _wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        return response
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # before routing is possible (e.g. an untrusted Host): the page cannot build links
        return make_response(f"{status}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"})


def init_app(app: Flask) -> None:
    @app.errorhandler(KBError)
    def handle_kb_error(exc: KBError):  # type: ignore[no-untyped-def]
        response = _respond(exc.http_status, exc.code, exc.message)
        if isinstance(exc, RateLimitedError):
            response = make_response(response)
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = (exc.name or "error").lower().replace(" ", "_")
        return _respond(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OverflowError)
    @app.errorhandler(StatementError)
    def handle_number_too_large(exc: Exception):  # type: ignore[no-untyped-def]
        # An id beyond 64 bits in a body or query cannot reach the database (SQLite refuses it): the request is wrong.
        if isinstance(exc, OverflowError) or isinstance(getattr(exc, "orig", None), OverflowError):
            return _respond(400, "invalid", "a number in the request is too large")
        return handle_unexpected(exc)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s", request.path)
        return _respond(500, "internal_error", "Something went wrong on our side; it has been logged.")
