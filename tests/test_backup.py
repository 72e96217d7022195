"""`kb db upgrade / backup / restore` (D-14): an online backup taken while writers run restores to a sound
database, and the index rebuilt from it has exactly the restored passages. SQLite for real with writer
threads; PostgreSQL through pg_dump / pg_restore where the tools and a server are available."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from kb import content as store
from kb.backup import backup_database, restore_database
from kb.cli import cli
from kb.db import head_revision, make_engine, make_sessionmaker
from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Passage, UsageEvent
from kb.settings import SiteSettings, load_settings
from kb.sites import add_site
from kb.usage_events import record_event

TOPICS = ["single sign-on with Okta", "pricing per seat", "EU data residency", "SOC 2 report",
          "Salesforce integration", "approval workflows", "multi-currency invoices", "audit trail exports"]


def sqlite_kb(folder: Path, embedder=None) -> KnowledgeBase:
    return KnowledgeBase(load_settings(None, env={}, overrides={"instance_path": str(folder)}), embedder=embedder)


def page(n: int) -> store.PageRecord:
    topic = TOPICS[n % len(TOPICS)]
    passages = [store.PassageInput(text=f"Page {n}: how Acme handles {topic}, part {i}.") for i in range(2)]
    return store.PageRecord(canonical_url=f"https://example.com/p/{n}/", content_hash=f"h{n}", passages=passages,
                            title=f"{topic} ({n})")


class Writers:
    """Threads storing pages and usage events until stopped, counting what they committed."""

    def __init__(self, kb: KnowledgeBase, site_id: int, start: int) -> None:
        self.kb, self.site_id, self.next_page = kb, site_id, start
        self.events = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._pages), threading.Thread(target=self._events)]

    def _pages(self) -> None:
        while not self._stop.is_set():
            try:
                with self.kb.transaction() as session:
                    store.store_page(session, self.site_id, page(self.next_page))
                self.next_page += 1
                time.sleep(0.01)  # a crawler's pace: the restored pages are embedded for real afterwards
            except Exception as exc:
                self.errors.append(repr(exc))

    def _events(self) -> None:
        while not self._stop.is_set():
            if record_event(self.kb, "search", user_id=None, query="backup") is None:
                self.errors.append("event not recorded")
            else:
                self.events += 1
            time.sleep(0.002)

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def counts(kb: KnowledgeBase) -> dict[str, int]:
    with kb.sessions() as session:
        return {name: session.scalar(select(func.count()).select_from(model))
                for name, model in (("contents", Content), ("passages", Passage), ("events", UsageEvent))}


def test_sqlite_backup_while_writers_run_restores_sound_and_the_index_rebuild_matches(tmp_path, embedder):
    live = sqlite_kb(tmp_path / "live", embedder)
    with live.transaction() as session:
        site_id = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
        for n in range(20):
            store.store_page(session, site_id, page(n))
    with Writers(live, site_id, start=20) as writers:
        before = counts(live)
        report = backup_database(live.settings.database_url, tmp_path / "kb-backup.sqlite")
        during = counts(live)
    after = counts(live)
    assert writers.errors == []
    assert report.backend == "sqlite" and report.revision == head_revision()
    assert not list(tmp_path.glob(".kb-backup*"))  # no partial file left behind
    assert {p.name for p in tmp_path.iterdir()} >= {"kb-backup.sqlite"}
    assert not (tmp_path / "kb-backup.sqlite-wal").exists()  # one self-contained file

    restored = sqlite_kb(tmp_path / "restored", embedder)
    restore_database(restored.settings.database_url, tmp_path / "kb-backup.sqlite")
    got = counts(restored)
    for name in got:  # a snapshot from the moment of the backup: between the counts before and after it
        assert before[name] <= got[name] <= during[name] <= after[name], (name, before, got, during)
    with restored.sessions() as session:
        assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    index = restored.refresh_index(rebuild=True)
    assert index.total == got["passages"]  # every restored passage, embedded and searchable
    hits = restored.search("Okta single sign-on", k=3).hits
    assert hits and "Okta" in hits[0].title
    live.close()
    restored.close()


def test_restore_into_the_live_database_while_it_is_open(tmp_path, embedder):
    live = sqlite_kb(tmp_path / "live", embedder)
    with live.transaction() as session:
        site_id = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
        for n in range(5):
            store.store_page(session, site_id, page(n))
    backup_database(live.settings.database_url, tmp_path / "b.sqlite")
    with live.transaction() as session:
        for n in range(5, 9):
            store.store_page(session, site_id, page(n))
    assert counts(live)["contents"] == 9
    restore_database(live.settings.database_url, tmp_path / "b.sqlite")
    assert counts(live)["contents"] == 5  # the open engine sees the restored file
    live.close()


def test_refusals_are_clear(tmp_path):
    kb = sqlite_kb(tmp_path / "kb")
    kb.engine  # noqa: B018  (creates the database)
    url = kb.settings.database_url
    (tmp_path / "taken.sqlite").write_text("this is not a database; " * 50)
    with pytest.raises(ConflictError, match="already exists"):
        backup_database(url, tmp_path / "taken.sqlite")
    with pytest.raises(NotFoundError, match="no backup file"):
        restore_database(url, tmp_path / "missing.sqlite")
    with pytest.raises(ValidationError, match="not a SQLite database"):
        restore_database(url, tmp_path / "taken.sqlite")
    make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}").connect().close()  # a SQLite file, not a knowledge base
    with pytest.raises(ValidationError, match="not a knowledge base database"):
        restore_database(url, tmp_path / "other.sqlite")
    kb.close()


def test_kb_db_commands_upgrade_backup_and_restore(tmp_path, cli_model):
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')
    runner = CliRunner()

    def kb(*args: str):
        result = runner.invoke(cli, ["--config", str(config), *args], catch_exceptions=True)
        return result

    first = kb("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert f"from schema (empty) to {head_revision()}" in first.output
    assert f"already at schema {head_revision()}" in kb("db", "upgrade").output
    made = kb("db", "backup", str(tmp_path / "b.sqlite"))
    assert made.exit_code == 0 and "backed up the sqlite database" in made.output
    again = kb("db", "backup", str(tmp_path / "b.sqlite"))
    assert again.exit_code == 4 and "already exists" in again.output  # ConflictError's exit code
    back = kb("db", "restore", str(tmp_path / "b.sqlite"))
    assert back.exit_code == 0 and f"now at schema {head_revision()}" in back.output


def test_postgresql_round_trip_through_pg_dump(postgres_databases, tmp_path):
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore are not installed (Debian: postgresql-client)")
    url = postgres_databases.create()
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine, write=True)() as session, session.begin():
            site_id = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
            for n in range(6):
                store.store_page(session, site_id, page(n))
        report = backup_database(url, tmp_path / "kb.dump")
        assert report.backend == "postgresql" and report.revision == head_revision()
        with make_sessionmaker(engine, write=True)() as session, session.begin():
            for n in range(6, 10):
                store.store_page(session, site_id, page(n))
        engine.dispose()
        restore_database(url, tmp_path / "kb.dump")
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Content)) == 6
            assert session.scalar(select(func.count()).select_from(Passage)) == 12
            # sequences came back too: the next insert does not collide with a restored id
            store.store_page(session, site_id, page(42))
            session.commit()
    finally:
        engine.dispose()
        postgres_databases.drop(url)
