"""Crash safety of the search indexes (checklist section C, D-7 to D-12, as far as the index is concerned).

The database is the source of truth; the indexes are derived. These tests kill a saving process for real,
fill a real (tmpfs) disk, inject failures between the database commit, the index save and the version publish,
change the model under a saved index, and check the start-up invariant on the crawled demo.
"""

from __future__ import annotations

import errno
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from kb import index_versions, indexing
from kb.index import DenseIndex, ids_digest
from kb.keyword_index import KeywordIndex
from kb.models import Content
from tests.support.demo_copy import writable_demo
from tests.support.index_pages import add_page, retire_page
from tests.support.index_save_loop import BASE

ROOT = Path(__file__).resolve().parent.parent


def assert_startup_invariant(kb) -> None:  # type: ignore[no-untyped-def]
    """D-9: what a starting process serves equals the database: ids, counts, manifest, keyword index, version."""
    dense, keyword = kb.indexes()
    saved = DenseIndex.load(kb.dense_index_dir)
    assert saved is not None
    manifest = saved[1]
    with kb.sessions() as session:
        wanted = indexing.embedded_ids(session)
        published = index_versions.published(session)
    assert set(dense.ids().tolist()) == set(wanted.tolist())
    assert dense.count == dense._index.ntotal == len(wanted) == manifest.count
    assert manifest.ids_digest == ids_digest(wanted) == published.manifest["ids_digest"]
    assert manifest.model == kb.embedder.model_name and manifest.dimension == kb.embedder.dimension
    assert np.array_equal(np.sort(keyword.ids()), np.sort(wanted))
    assert kb.loaded_index_version == published.version


def test_d7_kill_9_during_index_saves_leaves_the_previous_or_the_new_index(tmp_path):
    rng = random.Random(7)
    folder = tmp_path / "index"
    for cycle in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.index_save_loop", str(folder)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        completed = int(proc.stdout.readline())  # at least one full save of this run
        # then die anywhere: inside the next save's data write, fsync, rename, manifest write or cleanup
        proc.stdout.close()
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        dense = DenseIndex.load(folder)
        keyword = KeywordIndex.load(folder / "keyword")
        assert dense is not None and keyword is not None, f"cycle {cycle}: an index did not load after kill -9"
        for count in (dense[0].count, keyword[0].count):
            assert count - BASE >= completed, f"cycle {cycle}: an index older than a completed save"
        assert sorted(dense[0].ids().tolist()) == list(range(1, dense[0].count + 1))  # a whole version, no mix
        data_files = [p.name for p in folder.glob("dense-*.faiss")]
        assert dense[1].file in data_files and len(data_files) <= 2  # at most one orphan of the killed save
        if cycle % 4 == 3:
            shutil.rmtree(folder)  # also crash into the very first save of a fresh folder


def test_d7_a_mismatch_at_startup_is_rebuilt_from_the_database(make_kb):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "alpha|beta")
    kb.refresh_index()
    saved = DenseIndex.load(kb.dense_index_dir)
    assert saved is not None
    (kb.dense_index_dir / saved[1].file).write_bytes(b"torn")  # checksum mismatch
    restarted = make_kb()
    assert_startup_invariant(restarted)


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 3 MB tmpfs (we run as root in CI); skipped with the reason where mounting is not allowed."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); "
                    "test_d8_enospc_during_save_keeps_the_old_index covers the same path with an injected ENOSPC")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def _index(rows: int, dimension: int = 256) -> DenseIndex:
    index = DenseIndex(dimension, "m")
    vectors = np.random.default_rng(rows).normal(size=(rows, dimension)).astype(np.float32)
    index.add(np.arange(1, rows + 1), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return index


def test_d8_disk_full_during_save_keeps_the_old_index(tiny_disk):
    folder = tiny_disk / "index"
    _index(1000).save(folder)  # ~1 MB
    with pytest.raises(OSError) as failure:
        _index(2500).save(folder)  # ~2.5 MB more than the disk has left beside the old one
    assert failure.value.errno == errno.ENOSPC
    loaded = DenseIndex.load(folder)
    assert loaded is not None and loaded[0].count == 1000
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]  # the partial file was removed
    _index(1500).save(folder)  # space is back: the next save works
    assert DenseIndex.load(folder)[0].count == 1500


def test_d8_enospc_during_save_keeps_the_old_index(make_kb, monkeypatch):
    """The same through the knowledge base, with ENOSPC injected into the file write (works anywhere)."""
    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta")
    kb.refresh_index()
    add_page(kb, "https://example.com/b", "SOC 2 Type II report")

    def disk_full(self, data):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", disk_full)
        with pytest.raises(OSError):
            kb.refresh_index()
    assert kb.search("Okta").hits[0].url == "https://example.com/a"  # the served index is untouched
    assert kb.loaded_index_version == 1
    kb.refresh_index()
    assert_startup_invariant(kb)


def test_d9_startup_invariant_on_the_crawled_demo(demo_kb, tmp_path, embedder):
    kb = writable_demo(demo_kb, tmp_path / "demo", embedder)
    try:
        assert_startup_invariant(kb)
    finally:
        kb.close()
    kb = writable_demo(demo_kb, tmp_path / "demo2", embedder)
    try:  # the database moved on while no index was saved (a crash): the restart repairs it
        with kb.sessions() as session:
            some_url = session.scalars(select(Content.canonical_url).where(Content.status == "live")).first()
        retire_page(kb, some_url)
        assert_startup_invariant(kb)
    finally:
        kb.close()


class Truncated:
    """The real model's vectors cut to 128 dimensions: another model name and dimension (a model change)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.model_name = inner.model_name + "+first128"
        self.dimension = 128

    def _cut(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.atleast_2d(vectors)[:, :128]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        return self._cut(self.inner.embed_passages(texts))

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        return self._cut(self.inner.embed_query(text))[0]


def test_d10_a_model_or_dimension_change_rebuilds_everything_never_mixing_vectors(make_kb, embedder):
    from dataclasses import replace

    from kb.knowledge_base import KnowledgeBase

    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta|pricing of the growth plan")
    kb.refresh_index()
    changed = KnowledgeBase(replace(kb.settings), embedder=Truncated(embedder))
    try:
        dense = changed.dense_index()  # the saved index is of the old model: a full rebuild, re-embedding all
        assert dense.model == changed.embedder.model_name and dense.dimension == 128 and dense.count == 2
        with changed.sessions() as session:
            assert indexing.stale_model_count(session, changed.embedder.model_name) == 0
        assert_startup_invariant(changed)
        add_page(changed, "https://example.com/b", "SOC 2 Type II report")
        report = changed.refresh_index()
        assert not report.rebuilt and report.added == 1  # afterwards incremental again, in the new model
        assert changed.search("Okta single sign-on").hits[0].url == "https://example.com/a"
    finally:
        changed.close()


def test_d12_failure_after_db_commit_before_index_save_is_repaired_and_deleted_docs_never_show(make_kb,
                                                                                              monkeypatch):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta")
    add_page(kb, "https://example.com/b", "Okta provisioning with SCIM")
    kb.refresh_index()
    retire_page(kb, "https://example.com/b")  # committed in the database ...

    def crash(self, folder):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed before the index was saved")

    with monkeypatch.context() as patch:
        patch.setattr(DenseIndex, "save", crash)
        with pytest.raises(RuntimeError):
            kb.refresh_index()  # ... but the index save never happened
    # the served index still holds b's vectors, yet search never returns retired content
    assert [h.url for h in kb.search("Okta SCIM provisioning").hits] == ["https://example.com/a"]
    restarted = make_kb()
    assert [h.url for h in restarted.search("Okta SCIM provisioning").hits] == ["https://example.com/a"]
    assert_startup_invariant(restarted)  # the next run repaired it


def test_d12_failure_after_index_save_before_publishing_is_repaired(make_kb, monkeypatch):
    kb = make_kb()
    add_page(kb, "https://example.com/a", "single sign-on with Okta")
    kb.refresh_index()
    worker = make_kb({"serve": {"index_check_seconds": 0.0}})
    worker.indexes()
    add_page(kb, "https://example.com/b", "SOC 2 Type II report")

    def crash(session, manifest, name=index_versions.SEARCH):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed after the save, before the version was published")

    with monkeypatch.context() as patch:
        patch.setattr(index_versions, "publish", crash)
        with pytest.raises(RuntimeError):
            kb.refresh_index()
    assert worker.search("Okta").hits and worker.loaded_index_version == 1  # nothing published: old version serves
    restarted = make_kb()  # a process starting now finds the saved files matching the database and serves them
    assert restarted.search("SOC 2 report").hits[0].url == "https://example.com/b"
    kb.refresh_index()  # the next run publishes; the running worker follows
    assert worker.search("SOC 2 report").hits[0].url == "https://example.com/b"
    assert_startup_invariant(make_kb())
