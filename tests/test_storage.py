"""Storage: migrations, SQLite pragmas, and content upserts (new / changed / unchanged / duplicate / retired)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kb import content as store
from kb.db import current_revision, head_revision, make_engine, make_sessionmaker, upgrade
from kb.models import Content, ContentAlias, Passage, Site
from kb.settings import SiteSettings
from kb.sites import add_site


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        yield session
    engine.dispose()


@pytest.fixture
def site(session):
    site = add_site(session, SiteSettings(name="blog", base_url="https://example.com/"))
    session.commit()
    return site


def record(url="https://example.com/a", text="alpha beta gamma", **kw):
    passages = [store.PassageInput(text=t, heading_path=("H",), ordinal=i) for i, t in enumerate(text.split("|"))]
    return store.PageRecord(canonical_url=url, content_hash=kw.pop("hash", text), passages=passages,
                            title=kw.pop("title", "A"), **kw)


def test_migrations_reach_head_and_pragmas_are_set(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'kb.sqlite'}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def _insert_row(conn, table: str, **values) -> int:
    """Insert a row giving every NOT NULL column without a default a plain value of its type."""
    for _, name, kind, notnull, default, primary in conn.exec_driver_sql(f"PRAGMA table_info({table})"):
        if notnull and default is None and not primary and name not in values:
            kind = kind.upper()
            values[name] = (0 if kind.startswith(("INT", "BOOL", "FLOAT", "REAL", "NUMERIC")) else
                            "2026-01-01 00:00:00" if kind.startswith(("DATE", "TIME")) else
                            "[]" if kind == "JSON" else "x")
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    return conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values())).lastrowid


def test_upgrading_a_filled_database_keeps_every_row(tmp_path):
    """Migrations that copy a table (SQLite batch mode) must not cascade-delete the rows pointing at it:
    a knowledge base crawled at 0005 keeps its sites, contents and passages on the way to head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    upgrade(engine, "0005")
    with engine.begin() as conn:  # rows written as the 0005 schema had them (today's models have more columns)
        site_id = _insert_row(conn, "sites", name="blog", base_url="https://example.com/")
        content_id = _insert_row(conn, "contents", site_id=site_id, canonical_url="https://example.com/a")
        for ordinal in range(3):
            _insert_row(conn, "passages", content_id=content_id, ordinal=ordinal, text=f"passage {ordinal}")
    factory = make_sessionmaker(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Content)) == 1
        assert session.scalar(select(func.count()).select_from(Passage)) == 3
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # switched back on for the pool
    engine.dispose()


def test_migrations_match_the_models(tmp_path):
    """A model change without its migration fails here (Alembic autogenerate finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kb.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_new_then_unchanged_then_changed(session, site):
    outcome, content = store.store_page(session, site.id, record(text="one|two"))
    session.commit()
    assert outcome == "new"
    first_ids = [p.id for p in content.passages]
    assert len(first_ids) == 2

    outcome, same = store.store_page(session, site.id, record(text="one|two"))
    session.commit()
    assert outcome == "unchanged" and same.id == content.id
    assert [p.id for p in session.scalars(select(Passage).order_by(Passage.id))] == first_ids

    outcome, changed = store.store_page(session, site.id, record(text="one|three|four"))
    session.commit()
    assert outcome == "changed" and changed.id == content.id
    texts = session.scalars(select(Passage.text).order_by(Passage.ordinal)).all()
    assert texts == ["one", "three", "four"]
    assert not set(first_ids) & set(session.scalars(select(Passage.id)).all())  # old passages replaced


def test_other_urls_become_aliases_and_find_the_same_content(session, site):
    rec = record(other_urls=["https://example.com/a?utm_source=x", "https://example.com/old-a"])
    store.store_page(session, site.id, rec)
    session.commit()
    outcome, content = store.store_page(session, site.id, record(url="https://example.com/old-a"))
    assert outcome == "duplicate"  # fetched under its alias with the same text: still one content
    assert session.scalar(select(func.count()).select_from(Content)) == 1
    assert {a.url for a in content.aliases} == {"https://example.com/a?utm_source=x", "https://example.com/old-a"}


def test_identical_text_under_two_urls_is_stored_once(session, site):
    store.store_page(session, site.id, record(url="https://example.com/a", hash="same"))
    outcome, content = store.store_page(session, site.id, record(url="https://example.com/b", hash="same"))
    session.commit()
    assert outcome == "duplicate"
    assert content.canonical_url == "https://example.com/a"
    assert session.scalar(select(ContentAlias.url)) == "https://example.com/b"
    assert session.scalar(select(func.count()).select_from(Content)) == 1


def test_alias_that_diverges_becomes_its_own_content(session, site):
    store.store_page(session, site.id, record(url="https://example.com/a", hash="same"))
    store.store_page(session, site.id, record(url="https://example.com/b", hash="same"))
    outcome, content = store.store_page(session, site.id, record(url="https://example.com/b", hash="new text"))
    session.commit()
    assert outcome == "new" and content.canonical_url == "https://example.com/b"
    assert session.scalar(select(func.count()).select_from(ContentAlias)) == 0
    outcome, _ = store.store_page(session, site.id, record(url="https://example.com/a", hash="same"))
    assert outcome == "unchanged"


def test_moved_page_keeps_its_content_under_the_new_url(session, site):
    _, first = store.store_page(session, site.id, record(url="https://example.com/old", hash="v1"))
    session.commit()
    outcome, moved = store.store_page(
        session, site.id, record(url="https://example.com/new", hash="v1", other_urls=["https://example.com/old"]))
    session.commit()
    assert outcome == "unchanged" and moved.id == first.id
    assert moved.canonical_url == "https://example.com/new"
    assert [a.url for a in moved.aliases] == ["https://example.com/old"]


def test_retire_removes_passages_and_revive_restores(session, site):
    store.store_page(session, site.id, record())
    session.commit()
    retired = store.retire(session, ["https://example.com/a"], 404, "http_404")
    session.commit()
    assert retired.status == "retired"
    assert session.scalar(select(func.count()).select_from(Passage)) == 0
    outcome, content = store.store_page(session, site.id, record())
    session.commit()
    assert outcome == "changed" and content.status == "live"
    assert session.scalar(select(func.count()).select_from(Passage)) == 1


def test_deleting_a_site_cascades(session, site):
    store.store_page(session, site.id, record())
    session.commit()
    session.delete(session.get(Site, site.id))
    session.commit()
    assert session.scalar(select(func.count()).select_from(Passage)) == 0


def test_head_revision_from_file_names_agrees_with_alembic():
    from alembic.script import ScriptDirectory

    from kb.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config(None))
    assert head_revision() == script.get_current_head()
    # every revision id is its file's number, so the file names give the order
    for revision in script.walk_revisions():
        assert revision.path.split("/")[-1].startswith(f"{revision.revision}_")
