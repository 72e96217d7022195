"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can serve: database, migrations, index).

Load balancers and service managers call these every few seconds, without a login: both are public in
:mod:`web.access_rules` and answered before the login check runs (no session lookup, no CSRF, no database
work for ``/healthz``), so a probe never touches the sessions table and a database outage still gets a
``/healthz`` 200 and a ``/readyz`` 503 with the reason.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, request

from kb.readiness import readiness
from web.context import knowledge_base

bp = Blueprint("health", __name__)
ENDPOINTS = ("health.healthz", "health.readyz")


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """200 while the process answers at all."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """200 when ready, else 503 with each check's reason."""
    report = readiness(knowledge_base())
    body = {"status": "ready" if report.ready else "not ready", "checks": report.checks}
    return jsonify(body), 200 if report.ready else 503


def init_app(app: Flask) -> None:
    """Register the probes; call before the login check is installed so this hook runs ahead of it."""
    app.register_blueprint(bp)

    @app.before_request
    def answer_probes_first():  # type: ignore[no-untyped-def]
        if request.endpoint in ENDPOINTS:
            return current_app.view_functions[request.endpoint]()
        return None
