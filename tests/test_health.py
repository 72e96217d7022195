"""``/healthz`` and ``/readyz``: public, answered before the login check, honest about the database,
migrations and the index (issue 8)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.support.index_pages import add_page
from tests.support.web_client import browser
from web import create_app


def test_healthz_answers_without_login_session_or_database(make_kb):
    kb = make_kb()
    app = create_app(kb, {"TESTING": True})
    client = browser(app)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers  # no session started for a probe
    kb.engine.dispose()
    kb.__dict__["engine"] = create_engine("sqlite:////nonexistent-folder/kb.sqlite")  # the database is gone
    kb.__dict__.pop("sessions", None)
    assert client.get("/healthz", headers={"Authorization": "Bearer nonsense"}).status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"].startswith("unreachable")


def test_readyz_reports_each_check_and_loads_the_index_on_the_first_probe(make_kb):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta")
    app = create_app(kb, {"TESTING": True})
    client = browser(app)
    assert kb.loaded_index_version is None

    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "index": "ok"}}
    assert kb.loaded_index_version == 1 and kb.dense_index().count == 1


def test_readyz_is_503_when_migrations_are_behind_or_the_database_is_gone(make_kb):
    kb = make_kb()
    kb.indexes()
    app = create_app(kb, {"TESTING": True})
    client = browser(app)
    with kb.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    body = client.get("/readyz").get_json()
    assert body["status"] == "not ready" and body["checks"]["migrations"].startswith("database at 0008")

    with kb.engine.begin() as conn:
        conn.execute(text("DROP TABLE index_state"))  # the database no longer answers the index query
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"].startswith("unreachable")
