"""Embedding backends: the ONNX export (cached, verified, re-exported when stale) and its runtime embedder.

The models are exported once per test session into a session-scoped folder; torch is the reference
(the session's ``embedder`` fixture).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import kb.onnx_model as onnx_model
from kb.embedding import INT8_SUFFIX, embedding_model_name, load_embedder, packaged_model_dir
from kb.errors import SettingsError
from kb.onnx_embedding import OnnxEmbedder
from kb.onnx_model import OnnxExportError, ensure_onnx_model, manifest_path, model_cache_dir, read_manifest
from kb.settings import EmbeddingSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = EmbeddingSettings()

SENTENCES = [
    "Do you support single sign-on with Okta?",
    "How long does a typical implementation take?",
    "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace, and SCIM provisioning.",
    "",
    "The Growth plan costs 49 dollars per user per month, billed annually. " * 40,  # truncated at 256
]
PASSAGES = [
    "Pricing: the Growth plan costs 49 dollars per user per month, billed annually, with a free trial.",
    "Security: Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace, and SCIM "
    "provisioning of users and groups on the Enterprise plan.",
    "Implementation takes four to six weeks from kickoff to go-live, including ERP data migration.",
    "Our podcast talks with procurement leaders about budgets, renewals and maverick spend.",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def onnx_int8(onnx_cache):
    return OnnxEmbedder.from_settings(SETTINGS, onnx_cache, quantized=True)  # exports fp32, then int8


@pytest.fixture(scope="session")
def onnx_fp32(onnx_cache, onnx_int8):
    return OnnxEmbedder.from_settings(SETTINGS, onnx_cache, quantized=False)


def test_fp32_onnx_vectors_equal_torch_and_share_its_name(embedder, onnx_fp32):
    reference = embedder.embed_passages(SENTENCES)
    vectors = onnx_fp32.embed_passages(SENTENCES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(SENTENCES), 384)
    assert np.abs(vectors - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert onnx_fp32.model_name == embedder.model_name == "all-MiniLM-L6-v2"
    assert read_manifest(onnx_fp32.model_path)["check"]["max_abs_diff_to_torch"] < 1e-5


def test_int8_is_close_to_fp32_ranks_the_relevant_passage_first_and_has_its_own_name(onnx_fp32, onnx_int8):
    texts = [text for text in SENTENCES if text]  # the empty text is all [CLS]/[SEP]: 0.97
    fp32, int8 = onnx_fp32.embed_passages(texts), onnx_int8.embed_passages(texts)
    assert (fp32 * int8).sum(axis=1).min() > 0.98
    scores = onnx_int8.embed_passages(PASSAGES) @ onnx_int8.embed_query("Do you support SSO with Okta?")
    assert int(np.argmax(scores)) == 1
    assert onnx_int8.model_name == "all-MiniLM-L6-v2" + INT8_SUFFIX != onnx_fp32.model_name
    assert onnx_int8.dimension == 384


@pytest.mark.parametrize("batch_tokens", [None, 10_000])  # the default budget, and rows-only batching
def test_batches_are_sorted_by_length_but_rows_keep_the_callers_order(onnx_fp32, batch_tokens):
    batched = OnnxEmbedder(onnx_fp32.model_path, packaged_model_dir(), model_name="x", batch_size=2,
                           batch_tokens=batch_tokens)
    texts = [SENTENCES[4], "short", SENTENCES[2], "", SENTENCES[0], "a bit longer question here", "short"]
    together = batched.embed_passages(texts)
    one_by_one = np.stack([onnx_fp32.embed_query(t) for t in texts])
    assert np.abs(together - one_by_one).max() < 1e-5  # padding changes nothing
    assert batched.embed_passages([]).shape == (0, 384)


def test_bulk_calls_run_batches_side_by_side_on_a_single_threaded_session(monkeypatch, onnx_int8):
    texts = PASSAGES * 3 + SENTENCES  # 17 texts: one batch each at the default token budget
    serial = OnnxEmbedder(onnx_int8.model_path, packaged_model_dir(), model_name="x", threads=1)
    parallel = OnnxEmbedder(onnx_int8.model_path, packaged_model_dir(), model_name="x", threads=2)
    parallel.embed_query("Do you support SSO with Okta?")
    assert parallel._bulk_session is None  # one batch: the multi-threaded session, no second session
    workers = set()
    forward = OnnxEmbedder._forward

    def recording_forward(self, session, ids, mask):
        workers.add((threading.current_thread().name.split("_")[0], session is self._bulk_session))
        return forward(self, session, ids, mask)

    monkeypatch.setattr(OnnxEmbedder, "_forward", recording_forward)
    together = parallel.embed_passages(texts)
    assert workers == {("kb-embed", True)}
    assert np.abs(together - serial.embed_passages(texts)).max() < 1e-6  # same batches, same int8 vectors
    assert serial._bulk_session is None  # one thread: no pool, no second session


def test_load_embedder_picks_the_backend_and_names_match_the_settings(onnx_cache, onnx_int8, onnx_fp32):
    for backend, expected in (("onnx-int8", onnx_int8), ("onnx", onnx_fp32)):
        settings = replace(SETTINGS, backend=backend)
        loaded = load_embedder(settings, onnx_cache)
        assert isinstance(loaded, OnnxEmbedder) and loaded.model_path == expected.model_path
        assert loaded.model_name == embedding_model_name(settings) == expected.model_name
    assert embedding_model_name(replace(SETTINGS, backend="torch")) == "all-MiniLM-L6-v2"


def test_without_a_cache_dir_the_user_cache_is_used(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(OnnxEmbedder, "from_settings",
                        classmethod(lambda cls, settings, cache_dir, quantized: seen.update(dir=cache_dir)))
    load_embedder(SETTINGS)
    assert seen["dir"] == tmp_path / "smarketing-kb" / "models"


def test_knowledge_base_exports_into_its_instance_folder(monkeypatch, tmp_path):
    import kb.embedding
    import kb.knowledge_base

    seen = {}
    monkeypatch.setattr(kb.embedding, "load_embedder", lambda settings, cache_dir=None: seen.update(dir=cache_dir))
    knowledge_base = kb.knowledge_base.KnowledgeBase(load_settings(None, env={}, overrides={"instance_path": str(tmp_path)}))
    knowledge_base.embedder  # noqa: B018
    assert seen["dir"] == tmp_path / "models"


# -- the export cache --------------------------------------------------------------------------------
def _no_export(*args, **kwargs):
    raise AssertionError("exported again")


def test_a_current_export_is_reused_without_importing_anything_heavy(monkeypatch, onnx_cache, onnx_int8, onnx_fp32):
    files = [onnx_fp32.model_path, onnx_int8.model_path]
    before = {p: (p.stat().st_mtime_ns, manifest_path(p).stat().st_mtime_ns) for p in files}
    monkeypatch.setattr(onnx_model, "_export_fp32", _no_export)
    monkeypatch.setattr(onnx_model, "_quantize", _no_export)
    assert ensure_onnx_model(SETTINGS, onnx_cache, quantized=False) == onnx_fp32.model_path
    assert ensure_onnx_model(SETTINGS, onnx_cache, quantized=True) == onnx_int8.model_path
    assert {p: (p.stat().st_mtime_ns, manifest_path(p).stat().st_mtime_ns) for p in files} == before
    manifest = read_manifest(onnx_int8.model_path)
    assert manifest["variant"] == "int8" and manifest["quantization"]["per_channel"] is True
    assert len(manifest["source"]["sha256"]) == 64 and manifest["versions"]["onnxruntime"]
    assert not list(onnx_int8.model_path.parent.glob(".*.tmp"))  # no temporaries left behind


@pytest.fixture
def copied_cache(tmp_path, onnx_cache, onnx_int8, onnx_fp32):
    """The session's exports hard-linked into a fresh cache folder, manifests copied (safe to edit)."""
    source = model_cache_dir(SETTINGS, onnx_cache)
    target = model_cache_dir(SETTINGS, tmp_path)
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.suffix == ".onnx":
            os.link(path, target / path.name)
        elif path.suffix == ".json":
            (target / path.name).write_text(path.read_text())
    return tmp_path


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: {**m, "source": {**m["source"], "sha256": "0" * 64, "mtime_ns": 1}},  # the weights changed
        lambda m: {**m, "source": {**m["source"], "path": "/elsewhere/model"}},  # another model's export
        lambda m: {**m, "variant": "int8"},
        lambda m: {**m, "recipe": -1},
        lambda m: {**m, "onnx_bytes": m["onnx_bytes"] - 1},  # a truncated model file
        lambda m: ["not", "a", "manifest"],
    ],
    ids=["source-changed", "foreign-source", "wrong-variant", "old-recipe", "size-mismatch", "not-a-dict"],
)
def test_a_stale_or_foreign_manifest_means_export_again(monkeypatch, copied_cache, edit):
    model = onnx_model.onnx_path(SETTINGS, copied_cache, quantized=False)
    manifest_path(model).write_text(json.dumps(edit(read_manifest(model))))
    monkeypatch.setattr(onnx_model, "_export_fp32", _no_export)
    with pytest.raises(AssertionError, match="exported again"):
        ensure_onnx_model(SETTINGS, copied_cache, quantized=False)


def test_same_weights_with_a_new_mtime_are_hashed_not_exported(monkeypatch, copied_cache):
    model = onnx_model.onnx_path(SETTINGS, copied_cache, quantized=True)
    manifest = read_manifest(model)
    manifest_path(model).write_text(json.dumps({**manifest, "source": {**manifest["source"], "mtime_ns": 1}}))
    monkeypatch.setattr(onnx_model, "_export_fp32", _no_export)
    monkeypatch.setattr(onnx_model, "_quantize", _no_export)
    assert ensure_onnx_model(SETTINGS, copied_cache, quantized=True) == model
    assert read_manifest(model)["source"]["mtime_ns"] == manifest["source"]["mtime_ns"]  # stat refreshed


def test_a_corrupt_manifest_triggers_a_real_export(copied_cache):
    model = onnx_model.onnx_path(SETTINGS, copied_cache, quantized=False)
    before = model.stat().st_ino
    manifest_path(model).write_text('{"recipe": 1, "variant": "fp3')  # cut short by a crash
    assert ensure_onnx_model(SETTINGS, copied_cache, quantized=False) == model
    assert model.stat().st_ino != before  # a new file was renamed into place
    assert read_manifest(model)["check"]["identical_to_torch"] is True


def test_the_export_lock_is_exclusive(copied_cache):
    lock = model_cache_dir(SETTINGS, copied_cache) / ".lock"
    with onnx_model._exclusive_lock(lock), lock.open("a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_unsupported_models_are_refused_before_any_export(tmp_path):
    folder = tmp_path / "cls-model"
    (folder / "1_Pooling").mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_bytes((packaged_model_dir() / name).read_bytes())
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(OnnxExportError, match='backend = "torch"'):
        ensure_onnx_model(EmbeddingSettings(model_path=str(folder)), tmp_path / "cache", quantized=False)
    assert not (tmp_path / "cache").exists()


# -- cold start and settings -------------------------------------------------------------------------
def test_loading_an_exported_model_never_imports_torch(onnx_cache, onnx_int8, onnx_fp32):
    code = (
        "import sys; from pathlib import Path;"
        "from kb.onnx_embedding import OnnxEmbedder; from kb.settings import EmbeddingSettings;"
        f"e = OnnxEmbedder.from_settings(EmbeddingSettings(), Path({str(onnx_cache)!r}), quantized=True);"
        "assert e.embed_query('Do you support SSO with Okta?').shape == (384,);"
        "print(','.join(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("overrides", "env"),
    [({"embedding": {"backend": "tensorflow"}}, {}), (None, {"KB_EMBEDDING__BACKEND": "onnx-fp16"})],
)
def test_an_unknown_backend_is_a_settings_error_naming_the_key(overrides, env):
    with pytest.raises(SettingsError, match="embedding.backend"):
        load_settings(None, env=env, overrides=overrides)


def test_load_embedder_refuses_an_unknown_backend():
    with pytest.raises(SettingsError, match="embedding.backend"):
        load_embedder(replace(SETTINGS, backend="gpu"))
