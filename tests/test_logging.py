"""Structured logs (issue 8): JSON lines from the CLI and the web app, one per request with its id."""

from __future__ import annotations

import io
import json
import logging

from click.testing import CliRunner

from kb.cli import cli
from kb.logging_setup import JsonFormatter, configure_logging
from tests.support.index_pages import add_page
from tests.support.web_client import api_token, browser
from web import create_app


def test_json_lines_carry_the_standard_fields_extras_and_exceptions_on_one_line():
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    try:
        logger = logging.getLogger("kb.test")
        logger.info("crawled %s pages", 3, extra={"site": "demo"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
        configure_logging("json", stream=stream)  # configuring again replaces, never doubles, the handler
        logger.warning("once")
    finally:
        logging.getLogger().removeHandler(handler)
        for extra in [h for h in logging.getLogger().handlers if h.get_name() == "kb"]:
            logging.getLogger().removeHandler(extra)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["message"] == "crawled 3 pages" and first["site"] == "demo" and first["level"] == "INFO"
    assert first["logger"] == "kb.test" and first["timestamp"].endswith("+00:00") and first["pid"] > 0
    assert "ValueError: boom" in second["exc_info"] and second["level"] == "ERROR"
    assert third["message"] == "once"


def test_text_format_is_readable():
    record = logging.LogRecord("kb", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    assert json.loads(JsonFormatter().format(record))["message"] == "hello you"
    stream = io.StringIO()
    handler = configure_logging("text", stream=stream)
    try:
        logging.getLogger("kb.test").info("plain line")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "INFO kb.test: plain line" in stream.getvalue()


def test_every_request_gets_an_id_and_one_structured_line(make_kb, caplog):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta")
    app = create_app(kb, {"TESTING": True})
    client = browser(app)
    headers = api_token(kb, "rep@log.test")
    with kb.sessions() as session:
        from kb.users import find_user

        user_id = find_user(session, "rep@log.test").id
    caplog.set_level(logging.INFO, logger="web.request")
    response = client.get("/api/v1/search?q=okta", headers=headers)
    assert response.status_code == 200
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32
    record = [r for r in caplog.records if r.name == "web.request"][-1]
    assert (record.request_id, record.method, record.path, record.status, record.user_id) == (
        rid, "GET", "/api/v1/search", 200, user_id)
    assert record.duration_ms >= 0
    line = json.loads(JsonFormatter().format(record))
    assert {"request_id", "method", "path", "status", "duration_ms", "user_id"} <= set(line)
    assert "okta" not in line["path"]  # the query string (search terms) stays out of the logs

    echoed = client.get("/healthz", headers={"X-Request-ID": "from-the-proxy-1234"})
    assert echoed.headers["X-Request-ID"] == "from-the-proxy-1234"
    assert [r for r in caplog.records if r.name == "web.request"][-1].user_id is None
    refused = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert refused.headers["X-Request-ID"] != "bad id <script>" and len(refused.headers["X-Request-ID"]) == 32


def test_cli_log_format_json_writes_json_lines_on_stderr(tmp_path, monkeypatch, cli_model):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('instance_path = "instance"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "--log-format", "json", "reindex"])
    try:
        assert result.exit_code == 0, (result.output, result.exception)
        lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        published = [line for line in lines if line["logger"] == "kb.knowledge_base"]
        assert published and published[0]["message"].startswith("search index version 1 published")
        assert result.stdout.startswith("index rebuilt")  # the command's own output is unchanged
    finally:
        for handler in [h for h in logging.getLogger().handlers if h.get_name() == "kb"]:
            logging.getLogger().removeHandler(handler)
