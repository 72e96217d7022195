"""Index versions across processes (issue 8): a refresh publishes a version in the database; other knowledge
bases on the same instance (web workers) notice it, reload the saved files and swap them in atomically."""

from __future__ import annotations

import threading

from kb import index_versions
from kb.index import MANIFEST_FILE
from kb.index_locks import WRITER_LOCK, FolderLock
from kb.readiness import readiness
from tests.support.index_pages import add_page, retire_page

FOLLOW_AT_ONCE = {"serve": {"index_check_seconds": 0.0}}


def published_version(kb) -> int:
    with kb.sessions() as session:
        return index_versions.published(session).version


def test_a_refresh_publishes_a_version_and_another_worker_reloads_it(make_kb):
    writer = make_kb()
    add_page(writer, "https://example.com/a", "single sign-on with Okta")
    writer.refresh_index()
    assert published_version(writer) == 1

    worker = make_kb(FOLLOW_AT_ONCE)  # same instance folder and database: another process would do the same
    assert [h.url for h in worker.search("Okta single sign-on").hits] == ["https://example.com/a"]
    assert worker.loaded_index_version == 1

    add_page(writer, "https://example.com/b", "data residency in the EU, hosted in Frankfurt")
    writer.refresh_index()
    assert published_version(writer) == 2
    assert "https://example.com/b" in [h.url for h in worker.search("where is data hosted in the EU").hits]
    assert worker.loaded_index_version == 2 and readiness(worker).ready

    retire_page(writer, "https://example.com/b")
    writer.refresh_index()
    assert "https://example.com/b" not in [h.url for h in worker.search("data residency Frankfurt").hits]
    assert worker.dense_index().count == 1


def test_a_published_version_whose_files_are_damaged_is_refused_and_the_old_index_serves(make_kb):
    writer = make_kb()
    add_page(writer, "https://example.com/a", "single sign-on with Okta")
    writer.refresh_index()
    worker = make_kb(FOLLOW_AT_ONCE)
    worker.indexes()

    add_page(writer, "https://example.com/b", "SOC 2 Type II report")
    writer.refresh_index()
    manifest = writer.settings.index_dir / MANIFEST_FILE
    manifest.write_text("{damaged")  # e.g. a disk error after publishing

    hits = worker.search("Okta").hits  # no error: the served version answers
    assert [h.url for h in hits] == ["https://example.com/a"]
    assert worker.loaded_index_version == 1
    report = readiness(worker)
    assert not report.ready and "serving version 1" in report.checks["index"]

    writer.refresh_index(rebuild=True)  # the next refresh repairs the files and publishes again
    assert worker.search("SOC 2 report").hits[0].url == "https://example.com/b"
    assert worker.loaded_index_version == published_version(writer) == 3


def test_searches_during_refreshes_see_the_old_or_the_new_index_never_an_error(make_kb):
    writer = make_kb()
    add_page(writer, "https://example.com/a", "single sign-on with Okta")
    writer.refresh_index()
    worker = make_kb(FOLLOW_AT_ONCE)
    worker.indexes()
    errors: list[BaseException] = []
    counts: set[int] = set()
    done = threading.Event()

    def hammer() -> None:
        while not done.is_set():
            try:
                response = worker.search("Okta single sign-on")
                assert response.hits and response.hits[0].url == "https://example.com/a"
                counts.add(worker.dense_index().count)
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(exc)
                return

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(6):
            add_page(writer, f"https://example.com/p{n}", f"page {n} about pricing tier {n}")
            writer.refresh_index(rebuild=n % 2 == 0)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert worker.search("pricing tier 5").hits and worker.dense_index().count == 7
    assert len(counts) > 1  # the hammering really crossed swaps


def test_a_second_writer_waits_for_the_first(make_kb, tmp_path):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "alpha")
    other = FolderLock(kb.settings.index_dir, WRITER_LOCK)
    assert other.acquire(blocking=False)
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (kb.refresh_index(), finished.set()))
    thread.start()
    try:
        assert not finished.wait(0.5)  # blocked on the lock, not racing the other writer
    finally:
        other.release()
    thread.join(30)
    assert finished.is_set() and published_version(kb) == 1
