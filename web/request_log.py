"""One structured log line per request, and a request id that ties a user's report to it.

Each request gets an id (the caller's ``X-Request-ID`` when it looks like one, e.g. from a proxy, else a
new random one), echoed in the ``X-Request-ID`` response header. When the response is ready, logger
``web.request`` records method, path (no query string: it may hold search terms), status, duration in
ms and the user id; :mod:`kb.logging_setup` writes it as a JSON line. This replaces gunicorn's access
log, which knows nothing of users or request ids.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("web.request")
HEADER = "X-Request-ID"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id() -> str:
    """The current request's id."""
    return g.get("request_id", "")


def init_app(app: Flask) -> None:
    """Install the hooks; call first, so the id exists before any other hook runs (or fails)."""

    @app.before_request
    def start_request_log() -> None:
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _ACCEPTED_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request_log(response: Response) -> Response:
        rid = g.get("request_id") or uuid.uuid4().hex
        response.headers[HEADER] = rid
        started = g.get("request_started")
        user = g.get("user")
        log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "request_id": rid,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "user_id": getattr(user, "id", None),
            },
        )
        return response
