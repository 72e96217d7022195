"""Crash safety of the crawler (checklist D-5, D-6): real `kb crawl` processes killed with SIGKILL.

A fixture site on 127.0.0.1 (sections, articles reached only through links, a sitemap, a duplicate, a
tracking-parameter alias; ETag + 304 answers; a small delay per page so kills land mid-crawl) is crawled
once without interruption as the reference. Then a fresh knowledge base is crawled by `kb crawl`
subprocesses killed with SIGKILL at random moments, each followed by a restart; a last run finishes.
The final database must equal the reference: same URLs, content hashes, aliases and passages, no
duplicates, nothing lost, every passage embedded, the saved index in step, ``PRAGMA integrity_check`` ok.

D-5 (re-crawl is idempotent: same ids, unchanged pages not re-embedded, a changed page's old vectors gone)
runs in process on the same site.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest.crawler import crawl_site
from kb import indexing
from kb.models import Content, ContentAlias, CrawlRun, Passage
from tests.support.http_server import LocalServer
from tests.support.kb_processes import KB_BIN, kb_env, shared_models, write_config

# The suite runs a few cycles (each is a `kb` start-up and a partial crawl); the target, 20 cycles,
# is the command recorded in BENCHMARKS.md: KB_CRASH_CYCLES=20 pytest -s tests/test_crash_safety.py -k kill_9
CYCLES = int(os.environ.get("KB_CRASH_CYCLES", "4"))
PAGE_DELAY = 0.04  # seconds per page served: kills land between, and during, page stores

TOPICS = ["pricing", "security", "onboarding", "integrations"]
FILLER = ("Acme helps revenue teams find the right answer for every prospect question, with playbooks, "
          "battle cards and case studies kept in one searchable place. ")


def _page(title: str, body: str, links: list[str]) -> str:
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<nav><ul><li><a href='/'>Home</a></li>{nav}</ul></nav><main><article><h1>{title}</h1>"
            f"<p>{body}</p><h2>Details</h2><p>{FILLER * 4}</p></article></main></body></html>")


def site_pages() -> dict[str, str]:
    """Path -> HTML: home -> 4 sections -> 4 articles each -> one deep page each (links only)."""
    pages = {"/": _page("Acme home", "Welcome to Acme. " * 10,
                        [f"/{t}/" for t in TOPICS] + ["/pricing/?utm_source=home"])}
    for t in TOPICS:
        pages[f"/{t}/"] = _page(f"All about {t}", f"Everything our team wrote about {t}. " * 8,
                                [f"/{t}/{n}/" for n in range(4)])
        for n in range(4):
            pages[f"/{t}/{n}/"] = _page(f"{t.title()} article {n}",
                                        f"Article {n} on {t}: how customers use {t} in week {n}. " * 6,
                                        [f"/{t}/{n}/deep/"])
            pages[f"/{t}/{n}/deep/"] = _page(f"{t.title()} deep dive {n}",
                                             f"A deep dive number {n} into {t} for experts. " * 6, [])
    pages["/security/copy/"] = pages["/security/0/"]  # identical text under a second URL
    pages["/security/"] = pages["/security/"].replace("</ul>", "<li><a href='/security/copy/'>copy</a></li></ul>")
    return pages


class FixtureSite:
    """The site on a real server; answers If-None-Match with 304 like a real web server."""

    def __init__(self) -> None:
        self.pages = site_pages()
        self.server = LocalServer()

    def etag(self, path: str) -> str:
        return f'"{abs(hash(self.pages[path])) % 10**12}"'

    def handle(self, handler) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        path = handler.path.split("?", 1)[0]
        time.sleep(PAGE_DELAY)
        if path == "/robots.txt":
            self._send(handler, 200, f"User-agent: *\nAllow: /\nSitemap: {self.server.base_url}/sitemap.xml\n",
                       "text/plain")
        elif path == "/sitemap.xml":
            locs = "".join(f"<url><loc>{self.server.base_url}/{t}/</loc></url>" for t in TOPICS)
            self._send(handler, 200, '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                                     f'sitemap/0.9">{locs}</urlset>', "application/xml")
        elif path in self.pages:
            tag = self.etag(path)
            if handler.headers.get("If-None-Match") == tag:
                self._send(handler, 304, "", "text/html", {"ETag": tag})
            else:
                self._send(handler, 200, self.pages[path], "text/html; charset=utf-8", {"ETag": tag})
        else:
            self._send(handler, 404, "<html><body>Not found</body></html>", "text/html")

    @staticmethod
    def _send(handler, status: int, body: str, content_type: str, headers: dict | None = None) -> None:  # noqa: ANN001
        data = body.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        if status != 304:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if status != 304 and handler.command != "HEAD":
            handler.wfile.write(data)

    def __enter__(self) -> FixtureSite:
        self.server.start()
        for path in [*self.pages, "/robots.txt", "/sitemap.xml"]:
            self.server.add(path, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def fixture_site():
    with FixtureSite() as site:
        yield site


def site_settings(site: FixtureSite) -> dict:
    return {"name": "acme", "base_url": site.server.base_url + "/", "allow_private_addresses": True}


def site_config(folder: Path, site: FixtureSite) -> Path:
    """A config for `kb` processes (embedding every 3 pages, so kills land in embedding batches too)."""
    return write_config(folder, '[crawl]\ndelay_seconds = 0.0\nembed_batch_pages = 3\n'
                                f'[[sites]]\nname = "acme"\nbase_url = "{site.server.base_url}/"\n'
                                'allow_private_addresses = true\n', models=shared_models())


def start_crawl(config: Path) -> subprocess.Popen:
    return subprocess.Popen([KB_BIN, "--config", str(config), "crawl", "acme"], env=kb_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def crawl_to_end(config: Path) -> float:
    began = time.monotonic()
    proc = start_crawl(config)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return time.monotonic() - began


def signature(db: Path) -> dict:
    """What must not depend on crashes: contents, aliases and passages (ids may differ)."""
    con = sqlite3.connect(db)
    try:
        contents = {row[0]: row[1:] for row in con.execute(
            "SELECT canonical_url, content_hash, status, title FROM contents")}
        aliases = sorted(con.execute(
            "SELECT a.url, c.canonical_url FROM content_aliases a JOIN contents c ON c.id = a.content_id"))
        passages = sorted(con.execute(
            "SELECT c.canonical_url, p.ordinal, p.text, p.embedded FROM passages p "
            "JOIN contents c ON c.id = p.content_id"))
        duplicate_passages = con.execute(
            "SELECT count(*) FROM (SELECT content_id, ordinal FROM passages GROUP BY 1, 2 HAVING count(*) > 1)"
        ).fetchone()[0]
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    return {"contents": contents, "aliases": aliases, "passages": passages,
            "duplicate_passages": duplicate_passages, "integrity": integrity}


def index_in_step(folder: Path, embedder) -> bool:  # noqa: ANN001
    """The saved dense index holds exactly the database's embedded passages."""
    from kb.index import DenseIndex
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    kb = KnowledgeBase(load_settings(folder / "config.toml", env={}), embedder=embedder)
    try:
        loaded = DenseIndex.load(kb.dense_index_dir)
        assert loaded is not None, "no saved index"
        with kb.sessions() as session:
            return indexing.matches_database(loaded[1], session, loaded[1].model, loaded[1].dimension)
    finally:
        kb.close()


def test_kill_9_at_random_points_then_restart_ends_like_an_uninterrupted_crawl(tmp_path, fixture_site, embedder):
    reference = tmp_path / "reference"
    seconds = crawl_to_end(site_config(reference, fixture_site))
    expected = signature(reference / "instance" / "kb.sqlite")
    assert len(expected["contents"]) == 1 + 4 + 16 + 16  # every page reached; the copy is an alias
    assert expected["integrity"] == "ok" and expected["duplicate_passages"] == 0

    crashed = tmp_path / "crashed"
    config = site_config(crashed, fixture_site)
    seed = int(os.environ.get("KB_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    kills, window = 0, seconds
    for _ in range(3 * CYCLES):  # until CYCLES runs were killed (some finish before their kill moment)
        if kills == CYCLES:
            break
        began = time.monotonic()
        proc = start_crawl(config)
        try:
            proc.wait(timeout=rng.uniform(0.1, window))
            window = 0.9 * (time.monotonic() - began)  # it finished first: restarts are quicker, aim earlier
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)  # reaped: a dead holder's lock is then taken over at once
    began = time.monotonic()
    crawl_to_end(config)  # the run that is allowed to finish
    print(f"\ncrash cycles {CYCLES}: {kills} killed with SIGKILL (seed {seed}); clean crawl {seconds:.1f} s, "
          f"final restart {time.monotonic() - began:.1f} s")

    got = signature(crashed / "instance" / "kb.sqlite")
    assert got["integrity"] == "ok", f"seed {seed}"
    assert got["duplicate_passages"] == 0, f"seed {seed}"
    assert set(got["contents"]) == set(expected["contents"]), f"seed {seed}: URL sets differ"
    assert got == expected, f"seed {seed}"
    assert all(row[3] for row in got["passages"]), "every passage embedded"
    assert index_in_step(crashed, embedder), f"seed {seed}"
    assert kills == CYCLES, f"only {kills} of {CYCLES} runs were killed (seed {seed})"
    con = sqlite3.connect(crashed / "instance" / "kb.sqlite")
    try:  # the dead runs are not left "running" forever: the next crawl's lock take-over closed them
        running = con.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'").fetchone()[0]
    finally:
        con.close()
    assert running == 0


# -- D-5: crawling the same site again is idempotent ------------------------------------------------
def _state(kb) -> tuple[dict[str, int], dict[int, list[int]]]:  # noqa: ANN001
    with kb.sessions() as session:
        contents = dict(session.execute(select(Content.canonical_url, Content.id)).all())
        passages: dict[int, list[int]] = {}
        for cid, pid in session.execute(select(Passage.content_id, Passage.id).order_by(Passage.id)):
            passages.setdefault(cid, []).append(pid)
    return contents, passages


def test_recrawl_keeps_ids_reembeds_only_the_changed_page_and_drops_its_old_vectors(make_kb, fixture_site):
    kb = make_kb({"sites": [site_settings(fixture_site)]})
    crawl_site(kb, "acme")
    contents, passages = _state(kb)
    with kb.sessions() as session:
        aliases = set(session.scalars(select(ContentAlias.url)))

    again = crawl_site(kb, "acme")  # nothing changed
    assert again.passages_embedded == 0 and again.counts["new"] == again.counts["changed"] == 0
    assert _state(kb) == (contents, passages)

    path = "/onboarding/2/"
    original = fixture_site.pages[path]
    fixture_site.pages[path] = original.replace("Article 2 on onboarding", "Revised onboarding article two")
    try:
        changed = crawl_site(kb, "acme")
    finally:
        fixture_site.pages[path] = original
    url = fixture_site.server.url(path)
    after_contents, after_passages = _state(kb)
    assert after_contents == contents  # same content ids for every page
    with kb.sessions() as session:
        assert set(session.scalars(select(ContentAlias.url))) == aliases
    cid = contents[url]
    old_ids = set(passages[cid])
    assert not old_ids & set(after_passages[cid])  # the changed page got new passages...
    assert changed.passages_embedded == len(after_passages[cid])  # ...and only they were embedded
    assert {c: p for c, p in after_passages.items() if c != cid} == {c: p for c, p in passages.items() if c != cid}
    index_ids = set(kb.dense_index().ids().tolist())
    assert not old_ids & index_ids  # the old vectors are gone from the index
    assert set(after_passages[cid]) <= index_ids
    with kb.sessions() as session:
        statuses = list(session.scalars(select(CrawlRun.status)))
    assert statuses == ["completed"] * 3
