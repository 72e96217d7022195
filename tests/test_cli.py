"""The ``kb`` command line, driven through click's CliRunner against real files and a real site.

Every invocation reads a config.toml written under tmp_path (instance folder inside tmp_path, no crawl
delay). ``load_embedder`` is patched to hand out the session's already-loaded model, so commands embed
and search with the real all-MiniLM-L6-v2 without loading it a second time.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kb.cli import cli
from tests.support.http_server import LocalServer, Route

CONFIG = """\
instance_path = "instance"

[crawl]
delay_seconds = 0.0
"""

TEXT = (
    "Acme helps finance teams approve purchases faster with clear budgets, automated three way matching "
    "and real time visibility into every subscription the company pays for across all of its offices. "
)


def page(title: str, body: str, links: tuple[str, ...] = ()) -> str:
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><nav><ul>{nav}</ul></nav><main><article><h1>{title}</h1><p>{body}</p><p>{TEXT}</p>"
        "</article></main></body></html>"
    )


class Kb:
    """Runs ``kb --config <tmp config> ...`` in-process."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, config: bool = True, env: dict[str, str] | None = None) -> Result:
        argv = (["--config", str(self.config)] if config else []) + list(args)
        return self.runner.invoke(cli, argv, env=env, catch_exceptions=True)

    def ok(self, *args: str, **kwargs) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str, **kwargs):
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)


def assert_clean_error(result: Result, exit_code: int, needle: str) -> str:
    """A user mistake: the given exit code, one 'error: ...' line on stderr, no traceback anywhere."""
    assert result.exit_code == exit_code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # handled, not crashed
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def kb_cli(tmp_path, monkeypatch, embedder, cli_model) -> Kb:
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml from the repository
    config = tmp_path / "conf" / "config.toml"
    config.parent.mkdir()
    config.write_text(CONFIG, encoding="utf-8")
    return Kb(config)


@pytest.fixture
def site():
    with LocalServer() as s:
        s.add("/robots.txt", Route("User-agent: *\nDisallow: /internal/\n", content_type="text/plain"))
        s.add("/sitemap.xml", Route(
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{s.base_url}/pricing/</loc></url></urlset>", content_type="application/xml"))
        s.add("/", page("Acme home", "Welcome to Acme, spend management for growing companies.",
                        links=("/blog/okta-sso/", "/blog/implementation/", "/missing/", "/internal/")))
        s.add("/blog/okta-sso/", page(
            "Single sign-on with Okta",
            "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace, and SCIM "
            "provisioning of users and groups on the Enterprise plan."))
        s.add("/blog/implementation/", page(
            "How long does implementation take",
            "A typical implementation takes four to six weeks from kickoff to go-live, including data "
            "migration from your ERP and training for approvers."))
        s.add("/pricing/", page(
            "Pricing plans",
            "The Growth plan costs 49 dollars per user per month, billed annually, with a 14 day free trial."))
        s.add("/internal/", page("Internal", "SECRET discount floor."))
        yield s


# -- init and sites ------------------------------------------------------------------------------------
def test_init_creates_the_database_and_prints_its_url(kb_cli, tmp_path):
    result = kb_cli.ok("init")
    db_file = tmp_path / "conf" / "instance" / "kb.sqlite"  # relative to the config file's folder
    assert db_file.is_file() and db_file.stat().st_size > 0
    assert f"database ready: sqlite:///{db_file}" in result.stdout
    assert "sites from config: none" in result.stdout
    assert kb_cli.ok("init").exit_code == 0  # idempotent


def test_sites_add_list_and_json(kb_cli):
    added = kb_cli.ok("sites", "add", "blog", "https://www.example.test/",
                      "--sitemap", "https://www.example.test/sitemap.xml", "--allow-private-addresses")
    assert "added site blog: https://www.example.test/" in added.stdout

    listed = kb_cli.ok("sites", "list").stdout
    assert "blog" in listed and "https://www.example.test/" in listed
    assert "[cli]" in listed and "(private addresses allowed)" in listed

    rows = kb_cli.json("sites", "list")
    assert rows == [{
        "name": "blog", "base_url": "https://www.example.test/",
        "sitemaps": ["https://www.example.test/sitemap.xml"], "feeds": [], "include": [], "exclude": [],
        "allowed_hosts": [], "page_budget": 0, "delay_seconds": -1.0, "max_depth": -1,
        "allow_private_addresses": True, "transcripts": [], "source": "cli",
    }]


def test_duplicate_site_name_is_a_conflict(kb_cli):
    kb_cli.ok("sites", "add", "blog", "https://www.example.test/")
    result = kb_cli("sites", "add", "blog", "https://other.example.test/")
    line = assert_clean_error(result, 4, "already exists")
    assert line == "error: a site named 'blog' already exists"
    assert [r["base_url"] for r in kb_cli.json("sites", "list")] == ["https://www.example.test/"]


@pytest.mark.parametrize("url", ["ftp://x", "not a url", "https://user:pw@example.test/"])
def test_bad_site_url_is_refused(kb_cli, url):
    assert_clean_error(kb_cli("sites", "add", "bad", url), 2, "base URL")
    assert kb_cli.json("sites", "list") == []


def test_site_declared_in_config_is_listed_with_source_config(kb_cli):
    kb_cli.config.write_text(CONFIG + '\n[[sites]]\nname = "docs"\nbase_url = "https://docs.example.test/"\n'
                             'exclude = ["^/drafts/"]\n', encoding="utf-8")
    assert "sites from config: docs" in kb_cli.ok("init").stdout
    rows = kb_cli.json("sites", "list")
    assert [(r["name"], r["source"], r["exclude"]) for r in rows] == [("docs", "config", ["^/drafts/"])]
    assert "[config]" in kb_cli.ok("sites", "list").stdout


# -- crawl, health, search, reindex ---------------------------------------------------------------------
def test_crawl_pages_search_and_reindex(kb_cli, site):
    base = site.base_url
    kb_cli.ok("sites", "add", "acme", base + "/", "--sitemap", base + "/sitemap.xml", "--allow-private-addresses")

    summaries = kb_cli.json("crawl", "acme")
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["site"] == "acme"
    assert summary["counts"] == {"new": 4, "failed": 1, "skipped": 1}
    assert summary["reasons"] == {"http_404": 1, "robots_disallowed": 1}
    assert summary["fetched"] == 5  # 4 pages + the 404; /internal/ never requested
    assert "/internal/" not in site.requested_paths()
    assert summary["passages_embedded"] >= 4 and summary["index_total"] == summary["passages_embedded"]

    failed = kb_cli.json("pages", "--status", "failed")
    assert [(r["url"], r["outcome"], r["reason"], r["http_status"]) for r in failed] == [
        (base + "/missing/", "failed", "http_404", 404)]
    both = kb_cli.json("pages", "--status", "skipped,failed")
    assert {r["reason"] for r in both} == {"http_404", "robots_disallowed"}
    human = kb_cli.ok("pages", "--status", "failed")
    assert "http_404" in human.stdout and base + "/missing/" in human.stdout
    assert "1 URLs" in human.stderr

    found = kb_cli.json("search", "Can users sign in with Okta SAML?")
    assert 0 <= found["confidence"] <= 1 and found["mode"] == "hybrid"
    hits = found["results"]
    assert hits[0]["url"] == base + "/blog/okta-sso/"
    assert hits[0]["title"] == "Single sign-on with Okta"
    assert "SAML single sign-on" in hits[0]["snippet"]
    assert "<mark>" in hits[0]["snippet_html"]
    assert 0 < hits[0]["score"] <= 1 and hits[0]["score"] > hits[-1]["score"]
    assert kb_cli.json("search", "How many weeks until go-live?", "--k", "1")["results"][0]["url"] == (
        base + "/blog/implementation/")
    # KB_SECTION__KEY overrides reach the command
    assert len(kb_cli.json("search", "pricing", env={"KB_SEARCH__DEFAULT_K": "2"})["results"]) == 2
    text = kb_cli.ok("search", "What does the Growth plan cost?").stdout
    assert "confident" in text.splitlines()[0]
    assert text.splitlines()[1].startswith("1. Pricing plans") and base + "/pricing/" in text

    report = kb_cli.json("reindex")
    assert report["total"] == summary["index_total"] and report["rebuilt"] is True
    assert report["embedded"] == 0  # vectors come from the database, nothing re-embedded
    assert "index rebuilt" in kb_cli.ok("reindex").stdout

    human_crawl = kb_cli.ok("crawl", "acme").stdout  # second crawl, human summary
    assert "crawl of acme finished" in human_crawl and "http_404: 1" in human_crawl


def test_pages_with_unknown_status_is_refused(kb_cli):
    kb_cli.ok("init")
    assert_clean_error(kb_cli("pages", "--status", "bogus"), 2, "unknown status bogus")


def test_crawl_unknown_site_is_not_found(kb_cli):
    kb_cli.ok("init")
    assert_clean_error(kb_cli("crawl", "nope"), 3, "no site named 'nope'")


def test_crawl_without_sites_is_a_clear_error(kb_cli):
    assert_clean_error(kb_cli("crawl"), 1, "no sites to crawl")


def test_empty_search_query_is_refused(kb_cli):
    assert_clean_error(kb_cli("search", ""), 2, "the search query is empty")
    assert_clean_error(kb_cli("search", "   "), 2, "the search query is empty")


@pytest.mark.parametrize("k", ["0", "-1", "101"])
def test_search_k_out_of_range_is_refused(kb_cli, k):
    assert_clean_error(kb_cli("search", "x", "--k", k), 2, "k must be between 1 and 100")


# -- configuration ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (CONFIG + "bogus_key = 1\n", "unknown setting 'crawl.bogus_key'"),
        ("instance_path = 'x'\n[nonsense]\nx = 1\n", "unknown setting 'nonsense'"),
        ("[crawl]\ndelay_seconds = 'fast'\n", "setting 'crawl.delay_seconds' must be a number"),
        ("[search]\nmax_k = 'many'\n", "setting 'search.max_k' must be an integer"),
        ("[web]\nport = true\n", "setting 'web.port' must be an integer"),
        ("[crawl\ndelay_seconds = 0\n", "is not valid TOML"),
        ("[[sites]]\nname = 'x'\nbase_url = 'ftp://x'\n", "base URL must be an http(s) URL"),
    ],
    ids=["unknown-key", "unknown-section", "wrong-type-float", "wrong-type-int", "bool-for-int",
         "invalid-toml", "bad-config-site"],
)
def test_broken_config_stops_with_one_line(kb_cli, text, needle):
    kb_cli.config.write_text(text, encoding="utf-8")
    result = kb_cli("sites", "list")
    assert result.exit_code != 0
    assert_clean_error(result, result.exit_code, needle)


def test_config_that_is_not_utf8_is_a_clear_error(kb_cli):
    kb_cli.config.write_bytes(b'instance_path = "caf\xe9"\n')  # cp1252 "café"
    assert_clean_error(kb_cli("sites", "list"), 2, "config.toml")


def test_missing_config_file_is_a_clear_error(kb_cli, tmp_path):
    result = kb_cli("--config", str(tmp_path / "missing.toml"), "init", config=False)
    assert_clean_error(result, 2, "config file not found")
    assert not (tmp_path / "instance").exists()


def test_kb_config_environment_variable_is_honoured(kb_cli, tmp_path):
    other = tmp_path / "elsewhere" / "config.toml"
    other.parent.mkdir()
    other.write_text('instance_path = "inst2"\n[crawl]\ndelay_seconds = 0.0\n', encoding="utf-8")
    result = kb_cli.ok("init", config=False, env={"KB_CONFIG": str(other)})
    db_file = other.parent / "inst2" / "kb.sqlite"
    assert db_file.is_file()
    assert f"sqlite:///{db_file}" in result.stdout
    broken = kb_cli("init", config=False, env={"KB_CONFIG": str(tmp_path / "nope.toml")})
    assert_clean_error(broken, 2, "config file not found")


# -- evaluation -------------------------------------------------------------------------------------------
def test_eval_extraction_json(kb_cli, tmp_path):
    data = tmp_path / "bench"
    (data / "html").mkdir(parents=True)
    articles = {
        "a1": ("Okta single sign-on",
               "Acme supports SAML single sign-on with Okta and SCIM provisioning for every customer. " * 4),
        "a2": ("Implementation timeline",
               "A typical implementation takes four to six weeks from kickoff to the go-live date. " * 4),
    }
    truth = {}
    for item_id, (title, body) in articles.items():
        html = (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> <a href='/blog'>Blog</a>"
                f"</nav><article><h1>{title}</h1><p>{body}</p></article><footer>Copyright Acme</footer></body></html>")
        with gzip.open(data / "html" / f"{item_id}.html.gz", "wb") as fh:
            fh.write(html.encode("utf-8"))
        truth[item_id] = {"articleBody": body, "url": f"https://acme.test/{item_id}"}
    (data / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")

    result = kb_cli.json("eval", "extraction", str(data))
    assert result["pages"] == 2
    assert {"precision", "recall", "f1", "accuracy", "failures"} <= set(result)
    assert result["failures"] == []
    assert 0.8 <= result["precision"] <= 1 and 0.8 <= result["recall"] <= 1 and 0.8 <= result["f1"] <= 1
    text = kb_cli.ok("eval", "extraction", str(data), "--limit", "1").stdout
    assert text.startswith("pages 1: precision")
    missing = kb_cli("eval", "extraction", str(tmp_path / "no-such-dir"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output


# -- help -------------------------------------------------------------------------------------------------
def walk(command: click.Command, path: str = "kb"):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


def test_every_command_and_group_has_help_text(kb_cli):
    commands = list(walk(cli))
    assert len(commands) > 10
    missing = [path for path, command in commands if not (command.help or "").strip()]
    assert missing == []
    for path, _ in commands:
        result = kb_cli(*path.split()[1:], "--help", config=False)
        assert result.exit_code == 0, path
        assert "Usage:" in result.stdout
