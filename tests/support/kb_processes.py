"""Running real `kb` processes in tests: the executable, a clean environment, and a shared model.

Each instance folder normally exports the ONNX model into ``<instance>/models`` on first use (~30 s);
tests that start many `kb` processes on fresh instances link that folder to one export made once
(:func:`shared_models`, the user's cache folder), so a process pays only the model load (~0.4 s).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

KB_BIN = str(Path(sys.executable).parent / "kb")


def kb_env() -> dict[str, str]:
    """The test's environment without KB_* overrides, offline for the model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OPENBLAS_NUM_THREADS="1")
    return env


def shared_models() -> Path:
    """The folder holding the default backend's exported model (exported here first if missing)."""
    from kb.embedding import default_cache_dir, load_embedder
    from kb.settings import EmbeddingSettings

    folder = default_cache_dir()
    load_embedder(EmbeddingSettings(), folder)
    return folder


def write_config(folder: Path, body: str, *, models: Path | None = None) -> Path:
    """``folder/config.toml`` with ``body`` (its instance folder must be "instance"), the model linked."""
    instance = folder / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    if models is not None and not (instance / "models").exists():
        (instance / "models").symlink_to(models, target_is_directory=True)
    config = folder / "config.toml"
    config.write_text('instance_path = "instance"\n' + body, encoding="utf-8")
    return config
