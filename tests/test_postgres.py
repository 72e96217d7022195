"""PostgreSQL as a first-class backend: the migration chain, the content upserts and the races (D-4).

Runs on a throwaway PostgreSQL server (tests/support/postgres.py; KBTEST_POSTGRES_URL for an existing
one) and skips, saying why, where none can start. The rest of the database tests run on PostgreSQL
too in `make test` (KBTEST_DATABASE=postgresql; see tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kb import content as store
from kb.db import current_revision, head_revision, make_engine, make_sessionmaker, upgrade
from kb.models import Content, ContentAlias, PageLog, Passage, User
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.users import user_for_asker
from tests.conftest import TEST_DATABASE
from tests.support.http_server import Route
from tests.test_storage import record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pg_engine(postgres_databases):
    url = postgres_databases.create()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    postgres_databases.drop(url)


def test_the_migration_chain_runs_on_postgresql_and_matches_the_models(postgres_databases):
    """Every migration from an empty database, then Alembic's autogenerate finds no difference to the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kb.models import Base

    url = postgres_databases.create(migrated=False)
    engine = make_engine(url)
    try:
        assert engine.dialect.name == "postgresql"
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
        postgres_databases.drop(url)


def test_store_page_new_unchanged_changed_and_aliases_on_postgresql(pg_engine):
    with make_sessionmaker(pg_engine)() as session:
        site = add_site(session, SiteSettings(name="blog", base_url="https://example.com/"))
        session.commit()
        rec = record(text="one|two", other_urls=["https://example.com/a?utm_source=x"])
        assert store.store_page(session, site.id, rec)[0] == "new"
        session.commit()
        assert store.store_page(session, site.id, rec)[0] == "unchanged"
        outcome, content = store.store_page(session, site.id, record(text="one|three|four"))
        session.commit()
        assert outcome == "changed"
        assert [p.text for p in content.passages] == ["one", "three", "four"]
        assert [a.url for a in content.aliases] == ["https://example.com/a?utm_source=x"]
        assert store.store_page(session, site.id, record(url="https://example.com/a?utm_source=x",
                                                         text="one|three|four"))[0] == "duplicate"
        assert session.scalar(select(func.count()).select_from(Content)) == 1


def test_a_new_asker_arriving_twice_at_once_is_one_user(pg_engine):
    """The second transaction's INSERT waits for the first one's row, then finds it: no unique-key error."""
    factory = make_sessionmaker(pg_engine)
    first = factory()
    first.begin()
    mine = user_for_asker(first, "new.rep@example.com")
    found: list[object] = []
    other = threading.Thread(target=lambda: _ask_in_own_transaction(factory, found))
    other.start()
    time.sleep(0.3)  # let the second transaction reach the unique index and wait there
    first.commit()
    other.join(timeout=30)
    assert found == [mine.id]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    first.close()


def _ask_in_own_transaction(factory, found):
    with factory() as session, session.begin():
        found.append(user_for_asker(session, "New.Rep@example.com").id)


def race_site(server) -> str:
    """Forty linked pages (plus tracking-parameter spellings of the same URLs), each answered a little slowly
    so that two crawls started together overlap from start to end."""
    pages = 40
    for n in range(pages):
        links = "".join(f'<li><a href="/p/{(n + k) % pages}/{"?utm_source=x" if k % 2 else ""}">next {k}</a></li>'
                        for k in range(1, 6))
        body = (f"<!doctype html><html><head><title>Page {n}</title></head><body><main><article>"
                f"<h1>Page {n}</h1><p>{f'Page {n} explains feature {n} of the platform in detail. ' * 12}</p>"
                f"<ul>{links}</ul></article></main></body></html>")
        server.add(f"/p/{n}/", _slowly(Route(body)))
    home = "".join(f'<a href="/p/{n}/">{n}</a> ' for n in range(pages))
    server.add("/", Route(f"<!doctype html><html><head><title>Home</title></head><body><main><h1>Home</h1>"
                          f"<p>{'The home page of the race site links every page. ' * 5}</p>{home}</main></body></html>"))
    server.add("/robots.txt", Route("User-agent: *\nAllow: /\n", content_type="text/plain"))
    return server.base_url + "/"


def _slowly(route: Route):
    def handler(request) -> None:
        time.sleep(0.02)
        body = route.body_bytes()
        request.send_response(200)
        request.send_header("Content-Type", route.content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
    return handler


def test_two_crawlers_racing_on_one_site_store_one_row_per_canonical_url(postgres_databases, local_server, tmp_path):
    """D-4: two real crawler processes crawl the same site into one PostgreSQL database at the same time."""
    site_url = race_site(local_server)
    url = postgres_databases.create()
    crawlers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.postgres_crawl", url, site_url, str(tmp_path / f"c{i}")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    results = [c.communicate(timeout=300) for c in crawlers]
    for crawler, (out, err) in zip(crawlers, results, strict=True):
        assert crawler.returncode == 0, err[-3000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            urls = session.scalars(select(Content.canonical_url)).all()
            assert len(urls) == len(set(urls)) == 41  # home + 40 pages, once each
            aliases = session.scalars(select(ContentAlias.url)).all()
            assert len(aliases) == len(set(aliases)) and not set(aliases) & set(urls)
            per_content = session.execute(
                select(Passage.content_id, Passage.ordinal, func.count()).group_by(Passage.content_id, Passage.ordinal)
                .having(func.count() > 1)).all()
            assert per_content == []  # no passage stored twice by the two crawls
            assert session.scalar(select(func.count()).select_from(Passage).where(Passage.embedded.is_(False))) == 0
            failed = session.scalars(select(PageLog.url).where(PageLog.outcome == "failed")).all()
            assert failed == []
            # both crawls fetched every page, and each page was "new" to exactly one of them
            assert all(s["fetched"] >= 41 for s in summaries), summaries
            assert sum(s["counts"].get("new", 0) for s in summaries) == 41, summaries
    finally:
        engine.dispose()
        postgres_databases.drop(url)


@pytest.mark.database
def test_make_kb_uses_the_database_the_run_selected(make_kb):
    """The `make test` PostgreSQL pass really puts make_kb's knowledge bases on PostgreSQL."""
    kb = make_kb()
    assert kb.engine.dialect.name == TEST_DATABASE


def test_text_with_a_nul_character_is_a_validation_error_not_a_driver_error(pg_engine):
    """PostgreSQL refuses NUL in text (SQLite stores it): input carrying one is a 400, never a 500."""
    from kb.errors import ValidationError

    with make_sessionmaker(pg_engine)() as session:
        with pytest.raises(ValidationError, match="NUL"):
            session.execute(select(Content).where(Content.title == "pricing\x00")).all()
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Content)) == 0  # the session goes on


def test_an_id_beyond_postgresqls_integer_is_a_validation_error(pg_engine):
    """SQLite's integers are 64-bit, PostgreSQL's INTEGER 32: a huge id from a URL is bad input there, not a 500."""
    from kb.errors import ValidationError

    with make_sessionmaker(pg_engine)() as session, pytest.raises(ValidationError, match="out of range"):
        session.get(Content, 100000000001)
