"""The dense index: search, atomic save with manifest, damage detection, and staying in step with the DB."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kb import content as store
from kb.index import MANIFEST_FILE, DenseIndex
from kb.settings import SiteSettings
from kb.sites import add_site


def unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_add_remove():
    index = DenseIndex(8, "m")
    vectors = unit(5)
    index.add(np.array([10, 11, 12, 13, 14]), vectors)
    assert index.search(vectors[2], 1)[0][0] == 12
    assert index.remove(np.array([12])) == 1
    assert 12 not in [pid for pid, _ in index.search(vectors[2], 5)]
    assert sorted(index.ids().tolist()) == [10, 11, 13, 14]


def test_save_load_roundtrip_and_manifest(tmp_path):
    index = DenseIndex(8, "m")
    index.add(np.array([3, 7]), unit(2))
    manifest = index.save(tmp_path)
    loaded, read = DenseIndex.load(tmp_path)
    assert read == manifest and read.count == 2 and read.high_water == 7 and read.model == "m"
    assert sorted(loaded.ids().tolist()) == [3, 7]
    assert not list(tmp_path.glob("*.tmp"))  # temporary files renamed away


@pytest.mark.parametrize("damage", ["truncate", "missing_manifest", "garbage_manifest"])
def test_damaged_index_is_refused(tmp_path, damage):
    index = DenseIndex(8, "m")
    index.add(np.array([1, 2, 3]), unit(3))
    manifest = index.save(tmp_path)
    if damage == "truncate":
        data = (tmp_path / manifest.file).read_bytes()
        (tmp_path / manifest.file).write_bytes(data[: len(data) // 2])
    elif damage == "missing_manifest":
        (tmp_path / MANIFEST_FILE).unlink()
    else:
        (tmp_path / MANIFEST_FILE).write_text("{not json")
    assert DenseIndex.load(tmp_path) is None


def _add_page(kb, url, text):
    with kb.transaction() as session:
        site = add_site(session, SiteSettings(name="s", base_url="https://example.com/")) if url.endswith("/a") else None
        site_id = site.id if site else 1
        store.store_page(session, site_id, store.PageRecord(
            canonical_url=url, content_hash=text, title="T",
            passages=[store.PassageInput(text=t, ordinal=i) for i, t in enumerate(text.split("|"))]))


def test_index_follows_database_through_add_change_retire(make_kb):
    kb = make_kb()
    _add_page(kb, "https://example.com/a", "single sign-on with Okta|pricing of the growth plan")
    _add_page(kb, "https://example.com/b", "data residency in the EU")
    report = kb.refresh_index()
    assert report.embedded == 3 and report.total == 3

    with kb.transaction() as session:  # change page a: its two passages are replaced by one
        store.store_page(session, 1, store.PageRecord(
            canonical_url="https://example.com/a", content_hash="v2", title="T",
            passages=[store.PassageInput(text="SOC 2 Type II report")]))
    report = kb.refresh_index()
    assert report.embedded == 1 and report.removed == 2 and report.total == 2

    with kb.transaction() as session:
        store.retire(session, ["https://example.com/b"], 404, "http_404")
    report = kb.refresh_index()
    assert report.total == 1 and report.embedded == 0
    hits = kb.search("security audit report").hits
    assert [h.url for h in hits] == ["https://example.com/a"]


def test_mismatch_on_startup_is_repaired_from_database_without_reembedding(make_kb, tmp_path):
    kb = make_kb()
    _add_page(kb, "https://example.com/a", "alpha|beta")
    kb.refresh_index()
    manifest_path = kb.settings.index_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["count"] = 99  # the saved index no longer agrees with the database
    manifest_path.write_text(json.dumps(manifest))

    fresh = make_kb()  # same instance folder: a restart
    assert fresh.settings.index_dir == kb.settings.index_dir
    index = fresh.dense_index()
    assert index.count == 2
    assert json.loads(manifest_path.read_text())["count"] == 2
