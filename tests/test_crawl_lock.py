"""The crawl lock and scheduled crawls (issue 8 part 2) with real processes.

Two crawls of one site never overlap: a lease row claimed atomically, held by a heartbeat, taken over
when its holder stopped heart-beating or (same machine) its process is gone after ``kill -9``. The web
app's "Crawl now" respects it (409 "a crawl of this site is running"). ``kb crawl --every`` crawls due
sites and stops cleanly on SIGTERM after the current page.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kb import crawl_locks
from kb.crawl_schedule import due_times, parse_every, site_ids
from kb.errors import ConflictError, ValidationError
from kb.models import CrawlLock, CrawlRun, PageLog, Site, utcnow
from kb.settings import SiteSettings, load_settings
from kb.sites import add_site
from tests.support.kb_processes import KB_BIN, kb_env, shared_models, write_config
from tests.support.web_client import logged_in

ROOT = Path(__file__).resolve().parent.parent


def page(title: str, links: list[str] = ()) -> str:
    nav = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    body = f"{title}: how our customers use the platform to close deals faster and with less risk. " * 8
    return f"<html><head><title>{title}</title></head><body><nav>{nav}</nav><main><h1>{title}</h1><p>{body}</p>" \
           "</main></body></html>"


@pytest.fixture(scope="module")
def models():
    return shared_models()


@pytest.fixture
def instance(tmp_path, local_server, models):
    """A config file for `kb` processes with one site "acme" on the local server; returns its path."""
    config = write_config(tmp_path, '[crawl]\ndelay_seconds = 0.0\n'
                                    f'[[sites]]\nname = "acme"\nbase_url = "{local_server.base_url}/"\n'
                                    "allow_private_addresses = true\n", models=models)
    local_server.add("/robots.txt", "User-agent: *\nAllow: /\n")
    return config


def open_kb(config: Path, embedder=None):  # noqa: ANN001
    from kb.knowledge_base import KnowledgeBase

    return KnowledgeBase(load_settings(config, env={}), embedder=embedder)


def init(config: Path) -> None:
    """What `kb init` does (database at head, config sites loaded), in process to save a start-up."""
    from kb.sites import sync_config_sites

    kb = open_kb(config)
    try:
        with kb.transaction() as session:
            sync_config_sites(session, kb.settings.sites)
    finally:
        kb.close()


HOLDER = """
import sys, time
from kb import crawl_locks
from kb.knowledge_base import KnowledgeBase
from kb.settings import load_settings
kb = KnowledgeBase(load_settings(sys.argv[1], env={}))
try:
    lease = crawl_locks.acquire(kb, int(sys.argv[2]))
except Exception as exc:
    print("conflict", exc, flush=True)
    sys.exit(4)
print("held", flush=True)
time.sleep(float(sys.argv[3]))
lease.release()
print("released", flush=True)
"""


def hold_in_process(config: Path, site_id: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(config), str(site_id), str(seconds)],
                            env=kb_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def site_id_of(kb, name: str = "acme") -> int:  # noqa: ANN001
    with kb.sessions() as session:
        return session.scalar(select(Site.id).where(Site.name == name))


# -- the lock -----------------------------------------------------------------------------------------
@pytest.mark.database  # the lease SQL runs on SQLite and PostgreSQL alike
def test_a_claimed_lock_refuses_a_second_claim_until_released(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        sid = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
    lease = crawl_locks.acquire(kb, sid)
    with pytest.raises(ConflictError, match="a crawl of this site is running"):
        crawl_locks.acquire(kb, sid)
    assert crawl_locks.holder_of(kb, sid) == lease.holder
    assert lease.heartbeat() and not lease.lost.is_set()
    lease.release()
    assert crawl_locks.holder_of(kb, sid) is None
    with crawl_locks.acquire(kb, sid):
        pass


@pytest.mark.database  # the lease SQL runs on SQLite and PostgreSQL alike
def test_a_lease_without_heartbeat_is_taken_over_and_its_run_marked_interrupted(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        sid = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
    old = crawl_locks.acquire(kb, sid, heartbeat_seconds=3600)
    with kb.transaction() as session:
        session.add(CrawlRun(site_id=sid, status="running"))
        # a holder on another machine that stopped heart-beating three minutes ago
        session.get(CrawlLock, sid).heartbeat_at = utcnow() - timedelta(minutes=3)
    new = crawl_locks.acquire(kb, sid)
    try:
        assert new.holder != old.holder
        assert not old.heartbeat() and old.lost.is_set()  # the old holder learns it lost the lock
        with kb.sessions() as session:
            assert session.scalar(select(CrawlRun.status)) == "interrupted"
        with pytest.raises(ConflictError):  # the new holder is alive: no take-over
            crawl_locks.acquire(kb, sid)
    finally:
        new.release()
        old.release()  # a no-op: the row is not its own any more


def test_kill_9_of_the_holding_process_frees_the_lock_at_once(instance):
    init(instance)
    kb = open_kb(instance)
    try:
        sid = site_id_of(kb)
        holder = hold_in_process(instance, sid, 120)
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConflictError, match="a crawl of this site is running"):
            crawl_locks.acquire(kb, sid)
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
        with crawl_locks.acquire(kb, sid):  # no waiting for the lease to expire: the process is gone
            pass
    finally:
        kb.close()


def test_processes_racing_for_the_lock_get_it_one_at_a_time(instance):
    init(instance)
    kb = open_kb(instance)
    try:
        sid = site_id_of(kb)
    finally:
        kb.close()
    racers = [hold_in_process(instance, sid, 8) for _ in range(3)]
    results = [r.communicate(timeout=60) for r in racers]
    outputs = [out.split()[0] if out else err for out, err in results]
    assert outputs.count("held") == 1, results
    assert outputs.count("conflict") == 2, results


def test_kb_crawl_and_crawl_now_refuse_a_site_whose_crawl_runs_elsewhere(instance, local_server, embedder):
    from web import create_app

    init(instance)
    local_server.add("/", page("Home"))
    kb = open_kb(instance, embedder)
    try:
        sid = site_id_of(kb)
        holder = hold_in_process(instance, sid, 120)
        assert holder.stdout.readline().strip() == "held"
        try:
            refused = subprocess.run([KB_BIN, "--config", str(instance), "crawl", "acme"], env=kb_env(),
                                     capture_output=True, text=True, timeout=120)
            assert refused.returncode == 4 and "a crawl of this site is running" in refused.stderr
            admin = logged_in(create_app(kb, {"TESTING": True}), kb, "boss@acme.test", "admin")
            response = admin.api("POST", f"/api/v1/sites/{sid}/crawl")
            assert response.status_code == 409
            assert "a crawl of this site is running" in response.get_json()["error"]["message"]
            assert admin.form(f"/admin/sites/{sid}/crawl").status_code == 409
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.communicate(timeout=30)
        with kb.sessions() as session:
            assert session.scalar(select(CrawlRun.id)) is None  # nothing crawled while it was held
    finally:
        kb.close()


# -- scheduled crawls ---------------------------------------------------------------------------------
def test_every_parses_durations():
    assert parse_every("6h") == timedelta(hours=6)
    assert parse_every("1h30m") == timedelta(minutes=90)
    assert parse_every(" 1D ") == timedelta(days=1)
    for bad in ("", "6", "h", "6x", "-1h", "0s", "6h garbage"):
        with pytest.raises(ValidationError):
            parse_every(bad)


@pytest.mark.database  # the lease SQL runs on SQLite and PostgreSQL alike
def test_a_site_is_due_every_interval_after_its_last_completed_crawl(make_kb):
    kb = make_kb()
    with kb.transaction() as session:
        sid = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
    sites = site_ids(kb, None)
    assert due_times(kb, sites, timedelta(hours=6))["blog"] <= utcnow()  # never crawled: due now
    with kb.transaction() as session:
        session.add(CrawlRun(site_id=sid, status="completed", started_at=utcnow() - timedelta(hours=1)))
        session.add(CrawlRun(site_id=sid, status="interrupted", started_at=utcnow()))
    due = due_times(kb, sites, timedelta(hours=6))["blog"]
    assert timedelta(hours=4, minutes=59) < due - utcnow() <= timedelta(hours=5)


def wait_for(predicate, timeout: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def runs(config: Path) -> list[str]:
    kb = open_kb(config)
    try:
        with kb.sessions() as session:
            return list(session.scalars(select(CrawlRun.status).order_by(CrawlRun.id)))
    finally:
        kb.close()


def test_crawl_every_crawls_then_sleeps_and_stops_cleanly_on_sigterm(instance, local_server):
    local_server.add("/", page("Home", ["/a/"]))
    local_server.add("/a/", page("Article A"))
    proc = subprocess.Popen([KB_BIN, "--config", str(instance), "crawl", "--every", "6h", "--site", "acme"],
                            env=kb_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: runs(instance) == ["completed"] and proc.poll() is None)
        time.sleep(1.0)  # it is now sleeping until the site is due again, not crawling in a loop
        assert runs(instance) == ["completed"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "crawl of acme finished" in out
    kb = open_kb(instance)
    try:
        assert crawl_locks.holder_of(kb, site_id_of(kb)) is None
    finally:
        kb.close()


def test_sigterm_mid_crawl_stops_after_the_current_page_and_the_next_crawl_completes(instance, local_server):
    def slow(title: str, links: list[str] = ()):  # noqa: ANN202
        html = page(title, links).encode()

        def handler(h) -> None:  # noqa: ANN001
            time.sleep(0.3)
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(html)))
            h.end_headers()
            h.wfile.write(html)
        return handler

    articles = [f"/a{n}/" for n in range(12)]
    local_server.add("/", slow("Home", articles))
    for path in articles:
        local_server.add(path, slow(f"Article {path}"))
    proc = subprocess.Popen([KB_BIN, "--config", str(instance), "crawl", "acme"], env=kb_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def pages_logged() -> int:
        kb = open_kb(instance)
        try:
            with kb.sessions() as session:
                return len(session.scalars(select(PageLog.id).where(PageLog.outcome == "new")).all())
        except Exception:  # the database is not created yet
            return 0
        finally:
            kb.close()

    try:
        wait_for(lambda: pages_logged() >= 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    stored = pages_logged()
    assert 2 <= stored < 13
    assert runs(instance) == ["stopped"]
    kb = open_kb(instance)
    try:
        assert crawl_locks.holder_of(kb, site_id_of(kb)) is None
    finally:
        kb.close()
    done = subprocess.run([KB_BIN, "--config", str(instance), "crawl", "acme"], env=kb_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert runs(instance) == ["stopped", "completed"]
    kb = open_kb(instance)
    try:
        with kb.sessions() as session:
            from kb.models import Content

            assert len(session.scalars(select(Content.id)).all()) == 13
    finally:
        kb.close()
