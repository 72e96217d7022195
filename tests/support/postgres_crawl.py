"""One crawler process for the D-4 race test: ``python -m tests.support.postgres_crawl DB_URL SITE_URL FOLDER``.

Crawls the site into the shared database with a hashing stand-in for the model (two processes loading
the real one would cost seconds and prove nothing here: the race is in storing, not in embedding; the
real model's crawl path is tests/test_crawl.py). Prints the crawl's counts as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence

import numpy as np


class HashingEmbedder:
    """Deterministic unit vectors from a text's hash: a stand-in with the Embedder interface."""

    model_name = "test-hashing-embedder"
    dimension = 16

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def _vector(self, text: str) -> np.ndarray:
        raw = np.frombuffer(hashlib.sha256(text.encode()).digest()[: self.dimension * 2], dtype=np.uint16)
        vector = raw.astype(np.float32) - 32768.0
        return vector / np.linalg.norm(vector)


def main(database_url: str, site_url: str, folder: str) -> None:
    from ingest.crawler import crawl_site
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import load_settings

    settings = load_settings(None, env={}, overrides={
        "instance_path": folder,
        "database": {"url": database_url},
        "crawl": {"delay_seconds": 0.0, "embed_batch_pages": 4},
        "sites": [{"name": "race", "base_url": site_url, "allow_private_addresses": True}],
    })
    kb = KnowledgeBase(settings, embedder=HashingEmbedder())
    try:
        summary = crawl_site(kb, "race")
        print(json.dumps(summary.to_dict(), default=str))
    finally:
        kb.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
