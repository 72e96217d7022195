"""SQLite under concurrent writers: connection pragmas (D-1), no "database is locked" (D-2), no network disk (D-3).

D-2 runs two real processes of eight threads each, writing what a busy instance writes at once (crawler
upserts of the same pages, usage events, new users) for a few seconds, and then checks that no write
failed and every acknowledged one is in the database. The write transactions' ``BEGIN IMMEDIATE``
(kb.db) is what makes that hold: a deferred transaction that reads, then writes, fails at once with
"database is locked" when another connection wrote in between.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from kb import content as store
from kb.db import check_local_filesystem, make_engine, network_filesystem, upgrade
from kb.errors import SettingsError
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Passage, UsageEvent, User
from kb.settings import SiteSettings, load_settings
from kb.sites import add_site

ROOT = Path(__file__).resolve().parents[1]
PAGES = 12  # URLs every crawler thread of both processes upserts: they collide all the time
WRITE_SECONDS = 3.0


def sqlite_kb(folder: Path) -> KnowledgeBase:
    """A knowledge base on a SQLite file in ``folder`` (always SQLite, whatever database the run tests)."""
    return KnowledgeBase(load_settings(None, env={}, overrides={"instance_path": str(folder)}))


def test_pooled_connections_have_wal_busy_timeout_foreign_keys_and_synchronous(tmp_path):
    """D-1: read back from a connection the pool hands out (pragmas are per connection)."""
    kb = sqlite_kb(tmp_path)
    try:
        for _ in range(2):  # the second checkout is a pooled connection, not a fresh one
            with kb.sessions() as session:
                pragma = {name: session.execute(text(f"PRAGMA {name}")).scalar()
                          for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
            assert pragma == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1,
                              "synchronous": 1}  # 1 = NORMAL: documented (README) as may lose last commits on power loss
    finally:
        kb.close()


def test_write_transactions_take_the_write_lock_first_and_reads_do_not(tmp_path):
    kb = sqlite_kb(tmp_path)
    other = sqlite3.connect(tmp_path / "kb.sqlite", timeout=0, isolation_level=None)
    try:
        with kb.sessions() as session:
            session.execute(select(func.count()).select_from(User)).scalar()
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock...
            other.execute("ROLLBACK")
        with kb.transaction() as session:
            session.execute(select(func.count()).select_from(User)).scalar()  # only a read so far, yet...
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # ...the write transaction already holds the lock
    finally:
        other.close()
        kb.close()


def _crawler_thread(kb: KnowledgeBase, site_id: int, worker: str, until: float, done: dict, errors: list) -> None:
    n = 0
    while time.time() < until:
        n += 1
        url = f"https://example.com/p/{n % PAGES}/"
        passages = [store.PassageInput(text=f"{worker} version {n} part {i}") for i in range(3)]
        record = store.PageRecord(canonical_url=url, content_hash=f"{worker}-{n}", passages=passages, title=url,
                                  other_urls=[url + "?utm_source=x"])
        try:
            with kb.transaction() as session:
                store.store_page(session, site_id, record)
            done["pages"] += 1
        except Exception as exc:  # every failure is the test's finding
            errors.append(f"store_page: {exc}")


def _usage_thread(kb: KnowledgeBase, worker: str, until: float, done: dict, errors: list) -> None:
    from kb.usage_events import record_event

    while time.time() < until:
        try:
            stored = record_event(kb, "search", user_id=None, query=f"{worker} query {done['events']}")
        except Exception as exc:
            errors.append(f"record_event: {exc}")
            continue
        if stored is None:  # record_event logs and drops an event the database refused
            errors.append("record_event: not recorded")
        else:
            done["events"] += 1


def _ui_thread(kb: KnowledgeBase, worker: str, until: float, done: dict, errors: list) -> None:
    from kb.users import add_user, user_for_asker

    n = 0
    while time.time() < until:
        n += 1
        try:
            with kb.transaction() as session:
                add_user(session, f"{worker}-{n}@example.com", name="Rep")
                user_for_asker(session, "shared.asker@example.com")  # the same new asker from every thread
            done["users"] += 1
        except Exception as exc:
            errors.append(f"add_user: {exc}")


def write_for(folder: str, site_id: str, seconds: str, worker: str, go_file: str) -> None:
    """One writer process (arguments from its command line): eight threads (3 crawler, 3 usage, 2 UI) for
    ``seconds``; prints counts as JSON."""
    kb = sqlite_kb(Path(folder))
    kb.engine  # connect and check the schema before the clock starts  # noqa: B018
    print("ready", flush=True)
    while not Path(go_file).exists():
        time.sleep(0.01)
    until = time.time() + float(seconds)
    errors: list[str] = []
    threads, counts = [], []
    for i in range(8):
        done = {"pages": 0, "events": 0, "users": 0}
        counts.append(done)
        name = f"{worker}-t{i}"
        if i < 3:
            target, args = _crawler_thread, (kb, int(site_id), name, until, done, errors)
        elif i < 6:
            target, args = _usage_thread, (kb, name, until, done, errors)
        else:
            target, args = _ui_thread, (kb, name, until, done, errors)
        threads.append(threading.Thread(target=target, args=args))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kb.close()
    total = {key: sum(c[key] for c in counts) for key in ("pages", "events", "users")}
    print(json.dumps({**total, "errors": errors[:20], "error_count": len(errors)}), flush=True)


def test_two_processes_of_eight_threads_write_without_database_is_locked(tmp_path):
    """D-2 (bounded to a few seconds here; `kb bench` territory for longer runs)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    upgrade(engine)
    from kb.db import make_sessionmaker

    with make_sessionmaker(engine)() as session:
        site_id = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
        session.commit()
    engine.dispose()
    go = tmp_path / "go"
    code = "import sys; from tests.test_sqlite_concurrency import write_for; write_for(*sys.argv[1:])"
    workers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(site_id), str(WRITE_SECONDS),
                                 f"w{i}", str(go)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()[-3000:]
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["errors"] for r in results] == [[], []], results
    assert all(r["pages"] and r["events"] and r["users"] for r in results), results

    kb = sqlite_kb(tmp_path)
    try:
        with kb.sessions() as session:
            assert session.scalar(select(func.count()).select_from(UsageEvent)) == sum(r["events"] for r in results)
            # every add_user committed, plus the one shared asker
            assert session.scalar(select(func.count()).select_from(User)) == sum(r["users"] for r in results) + 1
            assert session.scalar(select(func.count()).select_from(Content)) == PAGES  # one row per URL
            assert session.scalar(select(func.count()).select_from(Passage)) == 3 * PAGES  # no passage doubled
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        kb.close()


def test_processes_starting_together_on_a_fresh_database_migrate_it_once(tmp_path):
    """Web workers and a crawl starting at once: each migration waits for the write lock, the later ones
    find the schema at head (with deferred transactions they failed with "table already exists")."""
    from kb.db import current_revision, head_revision

    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    code = "import sys; from kb.db import ensure_schema, make_engine; ensure_schema(make_engine(sys.argv[1]))"
    starts = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    for process in starts:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


MOUNTS = r"""sysfs /sys sysfs rw,nosuid 0 0
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt/team nfs4 rw,relatime,vers=4.2 0 0
//nas/share /mnt/smb cifs rw,relatime 0 0
me@host:/data /home/me/remote fuse.sshfs rw,nosuid 0 0
/dev/sdb1 /mnt/team/local\040disk ext4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


@pytest.mark.parametrize(("path", "expected"), [
    ("/mnt/team/kb/kb.sqlite", "nfs4"),
    ("/mnt/smb/kb.sqlite", "cifs"),
    ("/home/me/remote/instance/kb.sqlite", "fuse.sshfs"),
    ("/mnt/team/local disk/kb.sqlite", None),  # a local disk mounted inside the NFS share: the deepest mount wins
    ("/mnt/teamwork/kb.sqlite", None),  # a prefix of the name is not the mount
    ("/srv/kb/kb.sqlite", None),
    ("/tmp/kb.sqlite", None),
])
def test_network_filesystems_are_recognised_from_the_mounts_table(path, expected):
    assert network_filesystem(Path(path), MOUNTS) == expected


def test_a_database_on_a_network_filesystem_is_refused(tmp_path):
    """D-3: refuse to start, naming the way out; the real check passes on the test machine's tmp."""
    mounts = tmp_path / "mounts"
    mounts.write_text(f"server:/export {tmp_path} nfs rw 0 0\n")
    with pytest.raises(SettingsError, match="network file system .nfs.*PostgreSQL"):
        check_local_filesystem(tmp_path / "kb.sqlite", mounts)
    check_local_filesystem(tmp_path / "kb.sqlite")  # /proc/mounts of this machine: a local disk
    check_local_filesystem(tmp_path / "kb.sqlite", tmp_path / "no-such-mounts-file")
