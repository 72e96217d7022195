"""``kb bench search`` on a tiny BEIR-like corpus: the figures are there, consistent and sane.

The real model (the session's ``embedder``) embeds 20 passages; 180 more are synthetic variations of
them. Nothing is enforced about speed: the targets are recorded, the machine is shared.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import kb.embedding
from ingest.bench_search_corpus import make_pages, perturb, split_words, vary_words
from kb.settings import load_settings

TOPICS = [
    ("Single sign-on with Okta", "SAML and SCIM provisioning let IT teams manage access from Okta or Azure AD"),
    ("Implementation timeline", "Most customers go live within six weeks with a dedicated onboarding manager"),
    ("Pricing and plans", "The Growth plan includes unlimited approvals while Enterprise adds audit trails"),
    ("SOC 2 and security", "We hold a SOC 2 Type II report and encrypt data at rest with AES 256"),
    ("NetSuite integration", "Purchase orders sync both ways with NetSuite every five minutes"),
    ("Budgets for finance teams", "Department budgets update in real time as requests are approved"),
]


def write_corpus(folder):
    folder.mkdir()
    with (folder / "corpus.jsonl").open("w") as handle:
        for n in range(30):
            title, sentence = TOPICS[n % len(TOPICS)]
            # 60 to 350 words: some documents make one passage, some two or three
            text = " ".join([f"{sentence} in case {n}."] * (6 + n * 2))
            handle.write(json.dumps({"_id": str(n), "title": f"{title} {n}", "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for n, question in enumerate([
            "Do you support SSO with Okta?", "How long does implementation take?", "What does the Growth plan cost?",
            "Are you SOC 2 compliant?", "Does it integrate with NetSuite?", "Can finance see budgets live?",
            "SCIM provisioning", "audit trail", "onboarding manager", "encryption at rest",
        ]):
            handle.write(json.dumps({"_id": str(n), "text": question, "metadata": {}}) + "\n")
    return folder


@pytest.fixture
def patched_embedder(monkeypatch, embedder):
    calls = []

    def fake_load(settings, cache_dir=None):
        calls.append(cache_dir)
        return embedder

    monkeypatch.setattr(kb.embedding, "load_embedder", fake_load)
    return calls


def check_result(result, *, passages, real, kind):
    assert result["passages"] == passages
    assert result["real_embedded"] == real
    assert result["synthetic"] == passages - real
    assert result["embedder"] == "all-MiniLM-L6-v2"
    assert result["embedder_class"] == "SentenceTransformerEmbedder"
    assert result["index_kind"] == kind
    assert 1 < result["passages_per_content"] < 10  # a few passages per content item, like real pages
    build = result["build"]
    assert build["passages_embedded_per_second"] > 0 and build["model_passages_per_second"] > 0
    assert build["refresh_index_s"] > 0 and build["keyword_s"] > 0 and build["dense_s"] >= 0
    assert build["keyword_s"] + build["dense_s"] == pytest.approx(build["refresh_index_s"], abs=0.02)
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert latency["p50"] <= latency["max"] and latency["mean"] > 0
    assert result["queries"] == 10 and result["qps"] > 0
    parts = result["breakdown_ms"]
    assert parts["queries"] == 10 and parts["depth"] == 100
    for name in ("embed_query", "dense", "keyword", "rest"):
        assert 0 <= parts[name]["p50"] <= parts[name]["p99"]
    stages = result["stages_ms"]
    assert {"embed_query", "dense", "keyword", "fusion", "grouping", "snippets"} <= set(stages)
    assert sum(figures["mean"] for figures in stages.values()) <= latency["mean"] + 0.5
    rss = result["peak_rss_mib"]
    assert 0 < rss["start"] <= rss["before_build"] <= rss["after_build"] <= rss["after_queries"]
    assert set(result["targets"]["met"]) == {"p50_ms", "p99_ms", "peak_rss_mib"}


def test_bench_search_hnsw(tmp_path, patched_embedder, monkeypatch):
    import ingest.bench_search as bench
    from ingest.bench_search_timing import BenchKnowledgeBase

    seen = {}
    original = BenchKnowledgeBase.refresh_index

    def spy(self, **kwargs):  # what the index is built from: every passage stored, embedded by this model
        from kb.models import Passage

        with self.sessions() as session:
            seen["embedded"] = session.scalar(select(func.count()).select_from(Passage).where(Passage.embedded))
            seen["models"] = set(session.scalars(select(Passage.embedding_model).distinct()))
        return original(self, **kwargs)

    monkeypatch.setattr(BenchKnowledgeBase, "refresh_index", spy)
    corpus = write_corpus(tmp_path / "beir")
    settings = load_settings(None, env={}, overrides={"instance_path": str(tmp_path / "instance")})
    result = bench.bench_search(settings, passages=200, real=20, corpus=corpus / "corpus.jsonl", hnsw_threshold=100,
                                warmup=2, breakdown_queries=10)

    assert seen == {"embedded": 200, "models": {"all-MiniLM-L6-v2"}}
    check_result(result, passages=200, real=20, kind="hnsw")
    assert result["synthetic"] == 180
    assert result["sqlite_analyze"] is False and result["build"]["sqlite_analyze_s"] is None
    assert result["hnsw_threshold"] == 100
    assert 0.5 <= result["hnsw_recall@10"] <= 1 and 0.5 <= result["hnsw_recall@100"] <= 1
    assert result["hnsw_recall_queries"] == 10
    assert result["queries_file"] == str(corpus / "queries.jsonl")  # the corpus's own queries by default
    assert patched_embedder == [tmp_path / "instance" / "models"]  # the configured embedder, its export cache
    assert not (tmp_path / "instance" / "kb.sqlite").exists()  # the knowledge base was temporary


def test_bench_search_cli_flat(tmp_path, patched_embedder):
    from kb.cli import cli

    corpus = write_corpus(tmp_path / "beir")
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')
    args = ["--config", str(config), "bench", "search", "--passages", "60", "--real", "10", "--warmup", "1",
            "--corpus", str(corpus / "corpus.jsonl"), "--queries", str(corpus / "queries.jsonl")]
    out = CliRunner().invoke(cli, [*args, "--query-count", "3", "--sqlite-analyze", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert (result["passages"], result["real_embedded"], result["synthetic"]) == (60, 10, 50)
    assert result["index_kind"] == "flat" and result["queries"] == 3 and "hnsw_recall@10" not in result
    assert result["sqlite_analyze"] is True and result["build"]["sqlite_analyze_s"] >= 0

    text = CliRunner().invoke(cli, [*args, "--passages", "10", "--query-count", "2"])
    assert text.exit_code == 0, text.output
    assert "flat" in text.stdout and "p99" in text.stdout and "10 (10 embedded, 0 synthetic)" in text.stdout


def test_synthetic_helpers():
    rng = np.random.default_rng(1)
    assert split_words(" ".join(["w"] * 230), 170) == [" ".join(["w"] * 115)] * 2
    assert split_words("") == []
    words = [f"w{i}" for i in range(100)]
    varied = vary_words(words, rng, donor=["donor"] * 5).split()
    assert 75 <= len(varied) < 100 and varied != words  # another bag of words, not just another order
    assert vary_words(["too", "short"], rng) == "too short"

    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    noisy = perturb(vectors, rng, 0.02)
    assert noisy.dtype == np.float32 and np.allclose(np.linalg.norm(noisy, axis=1), 1, atol=1e-5)
    cosines = (noisy * vectors).sum(axis=1)
    assert cosines.min() > 0.85 and cosines.max() < 0.99

    docs = [(f"title {n}", " ".join(["word"] * 200)) for n in range(10)]  # 2 passages each
    pages = make_pages(docs, 13, docs_per_content=3)
    assert [len(p.sections) for p in pages] == [6, 6, 1]
    assert pages[0].title == "title 0" and pages[0].sections[0][0] == () and pages[0].sections[2][0] == ("title 1",)
