"""`kb links create/list/revoke` and `kb bench links` against real files, the real app and a real server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.knowledge_base import KnowledgeBase
from kb.settings import SiteSettings, load_settings
from kb.sites import add_site
from kb.users import add_user
from web import create_app

BASE = "https://www.acme.test"
PAGE = BASE + "/pricing/"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture
def setup(tmp_path, cli_model):
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n\n[web]\nbase_url = "https://kb.acme.test"\n')
    kb = KnowledgeBase(load_settings(config, env={}), embedder=cli_model)
    with kb.transaction() as session:
        add_site(session, SiteSettings(name="acme", base_url=BASE))
        add_user(session, "rep@acme.test")
    yield config, kb
    kb.close()


def run(config, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={"KB_USER": ""}, catch_exceptions=True)


def test_cli_create_prints_a_working_link(setup):
    config, kb = setup
    result = run(config, "links", "create", PAGE, "--label", "Acme deal", "--as", "rep@acme.test")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://kb.acme.test/l/") and len(url.rsplit("/", 1)[1]) >= 22
    response = create_app(kb).test_client().get(url.removeprefix("https://kb.acme.test"),
                                                headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == PAGE

    timed = json.loads(run(config, "links", "create", BASE + "/videos/demo", "--at", "93.7", "--as", "rep@acme.test",
                           "--json").stdout)
    assert timed["items"][0]["destination"] == BASE + "/videos/demo#t=93" and timed["label"] is None

    listed = run(config, "links", "list", "--as", "rep@acme.test")
    assert listed.exit_code == 0 and "1 open" in listed.stdout and "Acme deal" in listed.stdout
    revoked = run(config, "links", "revoke", str(timed["id"]))
    assert revoked.exit_code == 0 and "revoked link" in revoked.stdout
    assert json.loads(run(config, "links", "list", "--as", "rep@acme.test", "--json").stdout)["links"][0]["active"] \
        is False


@pytest.mark.parametrize("url", ["https://evil.example/", "javascript:alert(1)", "//evil.example"])
def test_cli_refuses_off_site_destinations_with_one_clean_line(setup, url):
    config, _kb = setup
    result = run(config, "links", "create", url, "--as", "rep@acme.test")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ")


def test_cli_needs_an_owner(setup):
    config, _kb = setup
    assert run(config, "links", "create", PAGE).exit_code == 2  # usage error: say --as
    assert run(config, "links", "create", PAGE, "--as", "nobody@acme.test").exit_code != 0


def test_bench_links_counts_every_request(cli_model):
    from kb.bench_links import bench_links

    result = bench_links(requests=40, concurrency=4, warmup=5, workers=1)
    assert result["errors"] == 0 and result["warmup_errors"] == 0
    assert result["counts_match"] and result["open_count"] == 45
    assert result["latency_ms"]["p50"] > 0
