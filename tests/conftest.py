"""Shared fixtures. Heavy resources (the embedding model) are loaded once per session."""

from __future__ import annotations

import os

import pytest

from tests.support.http_server import LocalServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `kb` sets it (kb.cli.main)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The database the knowledge bases of `make_kb` / `make_module_kb` use: "sqlite" (a file per KB) or "postgresql"
# (a fresh database per KB on the server at KBTEST_POSTGRES_URL, or on a throwaway server the session starts).
# Read once here: tests that clear the environment (cli_model) must not change it half-way.
# `make test` runs the "database" tests a second time with KBTEST_DATABASE=postgresql.
TEST_DATABASE = os.environ.get("KBTEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get("KBTEST_POSTGRES_URL", "")
# Test modules whose knowledge bases come from make_kb / make_module_kb: they run on both databases.
DATABASE_TEST_MODULES = frozenset({
    "test_admin", "test_answer_loop", "test_auth", "test_backlog", "test_content_tags", "test_crawl",
    "test_crawl_lock", "test_crawl_policy", "test_health", "test_index", "test_index_versions",
    "test_marketing_pages", "test_notifications", "test_openapi", "test_rep_pages", "test_review",
    "test_review_web", "test_route_matrix", "test_runtime_settings", "test_search_evidence", "test_tagging",
    "test_template_filters", "test_topic_matching", "test_topic_merge", "test_tracked_links", "test_usage_events",
    "test_usage_pages", "test_usage_reports", "test_usage_signal", "test_web",
})


# Database tests about SQLite itself: they open the SQLite file with sqlite3 (probes, dumps, a held lock) or run
# `kb` on a config.toml of their own that names no database. The PostgreSQL pass skips them, saying so.
SQLITE_ONLY_TESTS = frozenset({
    "tests/test_answer_loop.py::test_existing_content_confirmed_through_the_cli_and_api",
    "tests/test_crawl_policy.py::test_xxe_sitemap_never_leaks_local_files",
    "tests/test_notifications.py::test_confirming_emails_every_rep_who_asked_after_the_transaction",
    "tests/test_review_web.py::test_kb_review_prints_the_agenda",
    "tests/test_search_evidence.py::test_search_still_works_quickly_when_evidence_cannot_be_written",
})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in DATABASE_TEST_MODULES:
            item.add_marker(pytest.mark.database)
        if TEST_DATABASE != "sqlite" and item.nodeid.split("[")[0] in SQLITE_ONLY_TESTS:
            item.add_marker(pytest.mark.skip(reason="about the SQLite file itself (sqlite3 or a SQLite-only config)"))


@pytest.fixture(scope="session")
def postgres_databases():
    """Fresh migrated PostgreSQL databases (tests.support.postgres.DatabaseFactory): on KBTEST_POSTGRES_URL's
    server, or on a throwaway server started for the session; skips (saying why) when none can start."""
    from tests.support.postgres import DatabaseFactory, PostgresUnavailable, TemporaryPostgres

    if POSTGRES_URL:
        factory = DatabaseFactory(POSTGRES_URL)
        yield factory
        factory.close()
        return
    try:
        server = TemporaryPostgres().__enter__()
    except PostgresUnavailable as exc:
        if TEST_DATABASE == "postgresql":
            pytest.fail(f"KBTEST_DATABASE=postgresql but PostgreSQL cannot start: {exc}")
        pytest.skip(f"PostgreSQL cannot start here: {exc}")
    factory = DatabaseFactory(server.url)
    try:
        yield factory
    finally:
        factory.close()
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def kb_databases(request):
    """Where `make_kb` puts a knowledge base's database: None for a SQLite file in its instance folder."""
    if TEST_DATABASE == "sqlite":
        return None
    if TEST_DATABASE != "postgresql":
        pytest.fail(f"KBTEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")
    return request.getfixturevalue("postgres_databases")


@pytest.fixture
def local_server():
    """A fresh real HTTP server on 127.0.0.1 for one test."""
    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 model, loaded once for the whole test session."""
    from kb.embedding import SentenceTransformerEmbedder
    from kb.settings import EmbeddingSettings

    return SentenceTransformerEmbedder(EmbeddingSettings())


@pytest.fixture
def cli_model(monkeypatch, embedder):
    """`kb` commands run in process use the session's model (no second load) and see no KB_* variables
    of the environment running the tests. Every knowledge base loads its model through
    ``kb.embedding.load_embedder``, so that is the one place to patch."""
    import kb.embedding

    for name in [n for n in os.environ if n.startswith("KB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(kb.embedding, "load_embedder", lambda *args, **kwargs: embedder)
    return embedder


def _kb_factory(folder_for, embedder, created, databases=None):
    """A function (overrides=None, *, name="kb") -> KnowledgeBase on a fresh SQLite file in ``folder_for(name)``
    (or a fresh PostgreSQL database from ``databases``), sharing the session's model, with no crawl delay;
    every one made is closed by the fixture."""
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    urls = {}  # instance folder -> its PostgreSQL database: a second KB on one folder is a restart, as on SQLite

    def factory(overrides=None, *, name="kb"):
        folder = folder_for(name)
        base = {"instance_path": str(folder), "crawl": {"delay_seconds": 0.0}}
        if databases is not None:
            if folder not in urls:
                urls[folder] = databases.create()
            base["database"] = {"url": urls[folder]}
        for key, value in (overrides or {}).items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        kb = KnowledgeBase(load_settings(None, env={}, overrides=base), embedder=embedder)
        created.append(kb)
        return kb

    return factory


def _close_all(created, databases):
    for kb in created:
        kb.close()
    if databases is not None:
        for url in {kb.settings.database.url for kb in created if kb.settings.database.url.startswith("postgresql")}:
            databases.drop(url)


@pytest.fixture
def make_kb(tmp_path, embedder, kb_databases):
    """Build a KnowledgeBase on a fresh SQLite file under tmp_path (or a fresh PostgreSQL database),
    sharing the session's model."""
    created = []
    yield _kb_factory(lambda name: tmp_path / name, embedder, created, kb_databases)
    _close_all(created, kb_databases)


@pytest.fixture(scope="module")
def make_module_kb(tmp_path_factory, embedder, kb_databases):
    """``make_kb`` for module-scoped fixtures: knowledge bases that the tests of one module share."""
    created = []
    yield _kb_factory(lambda name: tmp_path_factory.mktemp(name) / "kb", embedder, created, kb_databases)
    _close_all(created, kb_databases)


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory, embedder):
    """The bundled demo website served on 127.0.0.1 and crawled once for the whole session (read-only)."""
    from ingest.crawler import crawl_site
    from kb.demo.server import DemoSiteServer
    from kb.demo.session import demo_knowledge_base
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    folder = tmp_path_factory.mktemp("demo")
    with DemoSiteServer() as site:
        settings = load_settings(None, env={}, overrides={"instance_path": str(folder)})
        kb = demo_knowledge_base(settings, site.base_url)
        kb = KnowledgeBase(kb.settings, embedder=embedder)
        summary = crawl_site(kb, "demo")
        kb.demo_base_url = site.base_url
        kb.demo_summary = summary
        yield kb
    kb.close()
