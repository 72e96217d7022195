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
