"""The keyword (BM25) index: the analyser, ranking, filtering, atomic save/load and damage detection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kb.keyword_index as keyword_index
from kb.index import ids_digest
from kb.keyword_index import MANIFEST_FILE, KeywordIndex, query_terms, tokenize
from kb.text_terms import ANALYZER_VERSION

ROOT = Path(__file__).resolve().parent.parent

PASSAGES = {
    5: "We support SCIM provisioning with Okta and Azure AD, so accounts appear and disappear automatically.",
    90: "Our SOC 2 Type II report and ISO 27001 certificate are available under NDA.",
    1000: "The Growth plan includes SSO with SAML, audit logs and priority support.",
    17: "Native integrations with NetSuite and SAP S/4HANA sync invoices every hour.",
    3: "E-invoicing is mandatory in the EU; our AI assistant drafts the PO for HR.",
    44: "Implementation usually takes two to four weeks, including training for your team.",
}


def build(passages: dict[int, str] = PASSAGES) -> KeywordIndex:
    return KeywordIndex.build(np.array(list(passages), dtype=np.int64), list(passages.values()))


# -- the analyser ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SOC 2", ["soc", "2", "soc2"]),  # joined form of a word and a short number
        ("ISO 27001", ["iso", "27001", "iso27001"]),
        ("S/4HANA", ["4", "hana", "s4hana"]),  # lone letters go, but stay in the joined form
        ("e-invoicing", ["invoic", "einvoic"]),
        ("EU AI HR PO", ["eu", "ai", "hr", "po"]),  # two-letter words are kept
        ("How do you do that with the API?", ["api"]),  # stopwords and punctuation go
        ("Growth plan 2024", ["growth", "plan", "2024", "plan2024"]),
        ("1,000 seats", ["1", "000", "1000", "seat"]),  # thousands separators join
        ("version 2.5", ["version", "2", "5"]),  # decimals do not: "25" would be another number
        ("Okta's SSO", ["okta", "sso"]),  # possessive dropped
        ("a b c e", []),  # single letters
        ("", []),
        ("?! … —", []),
        ("SOC\n2", ["soc", "2"]),  # no join across lines (title, then text)
        ("Москва данные", ["москва", "данные"]),  # other scripts are words too
    ],
)
def test_tokenize_table(text, expected):
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ("SOC 2", "SOC2", "soc-2", "Soc 2", "ＳＯＣ２"),  # full-width via NFKC
        ("ISO 27001", "ISO27001", "iso-27001"),
        ("S/4HANA", "S4HANA", "s/4hana"),
        ("integrations", "integration", "Integration"),  # Snowball stemming
        ("café", "Cafe", "CAFÉ"),  # case and diacritics folded
        ("e-invoicing", "e/invoicing"),
    ],
)
def test_spellings_of_one_name_analyse_alike(spellings):
    assert len({tuple(tokenize(s)) for s in spellings}) == 1


def test_joined_term_links_the_spellings():
    assert "einvoic" in tokenize("einvoicing") and "einvoic" in tokenize("e-invoicing")
    assert "soc2" in tokenize("The SOC 2 Type II report")


def test_query_terms_are_surface_words_without_stopwords_in_order_once():
    assert query_terms("Do you support SSO with Okta's SCIM? sso!") == ["support", "sso", "okta", "scim"]
    assert query_terms("E-invoicing in the EU for S/4HANA") == ["e-invoicing", "eu", "s/4hana"]
    assert query_terms("Café pricing") == ["café", "pricing"]
    assert query_terms("the of and ?") == []


def test_analyzer_version_is_recorded():
    assert ANALYZER_VERSION and "snowball" in ANALYZER_VERSION


# -- ranking -----------------------------------------------------------------------------------
def test_exact_names_rank_first():
    index = build()
    assert index.search("scim", 3)[0][0] == 5
    assert index.search("SOC2 report", 3)[0][0] == 90  # the passage says "SOC 2 Type II"
    assert index.search("iso27001", 3)[0][0] == 90
    assert index.search("Growth plan", 3)[0][0] == 1000
    assert index.search("S4HANA integration", 3)[0][0] == 17
    assert index.search("einvoicing EU", 3)[0][0] == 3


def test_results_are_passage_ids_positive_and_best_first():
    index = build()
    results = index.search("SSO SAML support", 10)
    assert results and {pid for pid, _ in results} <= set(PASSAGES)
    scores = [s for _, s in results]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)
    assert 44 not in dict(results)  # shares no term with the query


def test_ids_are_passage_ids_not_positions():
    index = KeywordIndex.build(np.array([1000, 5, 90]), ["alpha beta", "beta gamma", "gamma delta"])
    assert index.count == 3 and index.ids().tolist() == [5, 90, 1000]
    assert [pid for pid, _ in index.search("alpha", 5)] == [1000]
    assert [pid for pid, _ in index.search("delta", 5)] == [90]


def test_k_limits_and_ties_break_by_id():
    index = KeywordIndex.build(np.array([30, 10, 20]), ["okta sso"] * 3)
    results = index.search("okta", 2)
    assert [pid for pid, _ in results] == [10, 20] and results[0][1] == results[1][1]


def test_empty_index_and_stopword_queries_return_nothing():
    empty = KeywordIndex.build(np.array([], dtype=np.int64), [])
    assert empty.count == 0 and empty.search("scim", 10) == []
    index = build()
    assert index.search("the of and", 10) == []
    assert index.search("?!", 10) == []
    assert index.search("", 10) == []
    assert index.search("zyzzyva", 10) == []  # not in the vocabulary
    assert index.search("scim", 0) == []
    no_terms = KeywordIndex.build(np.array([1, 2]), ["the and", ""])
    assert no_terms.count == 2 and no_terms.search("the", 5) == []


def test_build_refuses_bad_input():
    with pytest.raises(ValueError):
        KeywordIndex.build(np.array([1, 1]), ["a", "b"])
    with pytest.raises(ValueError):
        KeywordIndex.build(np.array([1, 2]), ["a"])


# -- filtering ---------------------------------------------------------------------------------
def test_allowed_equals_the_unfiltered_ranking_restricted():
    rng = np.random.default_rng(7)
    words = ["sso", "saml", "scim", "okta", "pricing", "plan", "growth", "soc", "report", "audit", "api"]
    ids = rng.choice(np.arange(1, 5000), size=300, replace=False)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in ids]
    texts[:20] = ["okta sso"] * 20  # ties across the cut, resolved by id
    index = KeywordIndex.build(ids, texts)
    for query in ("okta", "sso pricing", "soc report audit", "growth plan api"):
        full = index.search(query, index.count)
        # 1 and 5 ids take the lookup path, 150 and 300 the mask path; strangers and repeats are ignored
        for size in (1, 5, 150, 300):
            allowed = np.concatenate([rng.choice(ids, size=size, replace=False), [-1, 999_999], ids[:2]])
            for k in (1, 10, 500):
                got = index.search(query, k, allowed=allowed)
                assert got == [hit for hit in full if hit[0] in set(allowed.tolist())][:k]
    assert index.search("okta", 10, allowed=np.array([], dtype=np.int64)) == []
    assert index.search("okta", 10, allowed=np.array([123_456])) == []


# -- persistence -------------------------------------------------------------------------------
def test_save_load_roundtrip_gives_identical_results(tmp_path):
    index = build()
    manifest = index.save(tmp_path)
    assert manifest.count == len(PASSAGES)
    assert manifest.ids_digest == ids_digest(np.array(list(PASSAGES)))
    assert manifest.analyzer == ANALYZER_VERSION
    loaded, read = KeywordIndex.load(tmp_path)
    assert read == manifest
    assert loaded.ids().tolist() == index.ids().tolist()
    for query in ("scim", "SOC2 report", "Growth plan", "integrations", "EU"):
        assert loaded.search(query, 10) == index.search(query, 10)
        assert loaded.search(query, 10, allowed=np.array([3, 90])) == index.search(query, 10, allowed=np.array([3, 90]))


def test_save_replaces_the_previous_version_and_leaves_no_temporaries(tmp_path):
    build().save(tmp_path)
    manifest = build({7: "Okta SSO"}).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MANIFEST_FILE, manifest.data_dir])
    loaded, _ = KeywordIndex.load(tmp_path)
    assert loaded.ids().tolist() == [7]


def test_crash_before_the_manifest_keeps_the_old_index(tmp_path, monkeypatch):
    build().save(tmp_path)

    def crash(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(keyword_index, "atomic_write", crash)
    with pytest.raises(OSError):
        build({7: "Okta SSO"}).save(tmp_path)
    monkeypatch.undo()
    loaded, _ = KeywordIndex.load(tmp_path)
    assert loaded.search("scim", 1)[0][0] == 5


def test_empty_index_roundtrip(tmp_path):
    KeywordIndex.build(np.array([], dtype=np.int64), []).save(tmp_path)
    loaded, manifest = KeywordIndex.load(tmp_path)
    assert loaded.count == 0 and manifest.count == 0 and loaded.search("scim", 5) == []


def _data_files(folder: Path) -> list[Path]:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    return sorted((folder / manifest["data_dir"]).iterdir())


@pytest.mark.parametrize(
    "damage",
    ["truncate_matrix", "flip_vocab_byte", "drop_ids", "garbage_manifest", "missing_manifest",
     "missing_data_dir", "other_analyzer", "other_scoring", "wrong_checksum"],
)
def test_damaged_index_is_refused(tmp_path, damage):
    build().save(tmp_path)
    files = {p.name: p for p in _data_files(tmp_path)}
    manifest_path = tmp_path / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    if damage == "truncate_matrix":
        data = files["data.csc.index.npy"].read_bytes()
        files["data.csc.index.npy"].write_bytes(data[: len(data) // 2])
    elif damage == "flip_vocab_byte":
        data = bytearray(files["vocab.index.json"].read_bytes())
        data[len(data) // 2] ^= 0x01
        files["vocab.index.json"].write_bytes(bytes(data))
    elif damage == "drop_ids":
        files["ids.npy"].unlink()
    elif damage == "garbage_manifest":
        manifest_path.write_text("{not json")
    elif damage == "missing_manifest":
        manifest_path.unlink()
    elif damage == "missing_data_dir":
        for path in files.values():
            path.unlink()
        (tmp_path / manifest["data_dir"]).rmdir()
    else:
        key, value = {"other_analyzer": ("analyzer", "kb-en/0"), "other_scoring": ("scoring", "bm25s robertson"),
                      "wrong_checksum": ("sha256", "0" * 64)}[damage]
        manifest_path.write_text(json.dumps({**manifest, key: value}))
    assert KeywordIndex.load(tmp_path) is None


def test_missing_folder_loads_as_none(tmp_path):
    assert KeywordIndex.load(tmp_path / "nowhere") is None


def test_import_is_light():
    """bm25s pulls in scipy: it is imported when an index is built or loaded, not with the module."""
    code = "import sys, kb.keyword_index; print('bm25s' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_scores_match_bm25s_and_saved_files_stay_bm25s_readable(tmp_path):
    """Searching reads bm25s's files with numpy alone; its scores must equal bm25s's own, before and after a save."""
    import bm25s

    from kb.keyword_index import K1, METHOD, B

    texts = ["SOC 2 Type II report and SAML single sign-on", "Okta SCIM provisioning for users and groups",
             "Pricing plans per user per month", "SSO with Okta, Azure AD and Google", "NetSuite sync every 15 minutes"]
    ids = np.array([10, 3, 7, 42, 5])
    index = KeywordIndex.build(ids, texts)
    index.save(tmp_path)
    loaded, _ = KeywordIndex.load(tmp_path)
    reference = bm25s.BM25.load(tmp_path / _manifest_dir(tmp_path), mmap=False, show_progress=False)
    assert (reference.method, reference.k1, reference.b) == (METHOD, K1, B)
    for query in ("okta sso", "SOC 2 report", "sync sync netsuite", "pricing"):
        term_ids = [loaded._vocab[t] for t in tokenize(query) if t in loaded._vocab]
        np.testing.assert_allclose(loaded._scores(term_ids), reference.get_scores_from_ids(term_ids), rtol=1e-6)
        assert index.search(query, 3) == loaded.search(query, 3)


def _manifest_dir(folder):
    return json.loads((folder / MANIFEST_FILE).read_text())["data_dir"]


def test_searching_a_saved_index_needs_neither_bm25s_nor_scipy(tmp_path):
    KeywordIndex.build(np.array([1, 2]), ["SAML single sign-on", "SCIM provisioning"]).save(tmp_path)
    code = (
        "import sys; from pathlib import Path; from kb.keyword_index import KeywordIndex;"
        f"index, _ = KeywordIndex.load(Path({str(tmp_path)!r})); hits = index.search('saml sso', 2);"
        "print(hits[0][0], 'bm25s' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False", "False"]
