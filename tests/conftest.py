"""Shared fixtures. Heavy resources (the embedding model) are loaded once per session."""

from __future__ import annotations

import os

import pytest

from tests.support.http_server import LocalServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `kb` sets it (kb.cli.main)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def local_server():
    """A fresh real HTTP server on 127.0.0.1 for one test."""
    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 model, loaded once for the whole test session."""
    from kb.embedding import SentenceTransformerEmbedder
    from kb.settings import EmbeddingSettings

    return SentenceTransformerEmbedder(EmbeddingSettings())


@pytest.fixture
def cli_model(monkeypatch, embedder):
    """`kb` commands run in process use the session's model (no second load) and see no KB_* variables
    of the environment running the tests. Every knowledge base loads its model through
    ``kb.embedding.load_embedder``, so that is the one place to patch."""
    import kb.embedding

    for name in [n for n in os.environ if n.startswith("KB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(kb.embedding, "load_embedder", lambda *args, **kwargs: embedder)
    return embedder


def _kb_factory(folder_for, embedder, created):
    """A function (overrides=None, *, name="kb") -> KnowledgeBase on a fresh SQLite file in ``folder_for(name)``,
    sharing the session's model, with no crawl delay; every one made is closed by the fixture."""
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    def factory(overrides=None, *, name="kb"):
        base = {"instance_path": str(folder_for(name)), "crawl": {"delay_seconds": 0.0}}
        for key, value in (overrides or {}).items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        kb = KnowledgeBase(load_settings(None, env={}, overrides=base), embedder=embedder)
        created.append(kb)
        return kb

    return factory


@pytest.fixture
def make_kb(tmp_path, embedder):
    """Build a KnowledgeBase on a fresh SQLite file under tmp_path, sharing the session's model."""
    created = []
    yield _kb_factory(lambda name: tmp_path / name, embedder, created)
    for kb in created:
        kb.close()


@pytest.fixture(scope="module")
def make_module_kb(tmp_path_factory, embedder):
    """``make_kb`` for module-scoped fixtures: knowledge bases that the tests of one module share."""
    created = []
    yield _kb_factory(lambda name: tmp_path_factory.mktemp(name) / "kb", embedder, created)
    for kb in created:
        kb.close()


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory, embedder):
    """The bundled demo website served on 127.0.0.1 and crawled once for the whole session (read-only)."""
    from ingest.crawler import crawl_site
    from kb.demo.server import DemoSiteServer
    from kb.demo.session import demo_knowledge_base
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    folder = tmp_path_factory.mktemp("demo")
    with DemoSiteServer() as site:
        settings = load_settings(None, env={}, overrides={"instance_path": str(folder)})
        kb = demo_knowledge_base(settings, site.base_url)
        kb = KnowledgeBase(kb.settings, embedder=embedder)
        summary = crawl_site(kb, "demo")
        kb.demo_base_url = site.base_url
        kb.demo_summary = summary
        yield kb
    kb.close()
