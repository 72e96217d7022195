"""Saves the dense and keyword indexes in a loop until killed (the kill -9 test of checklist D-7).

Version ``n`` holds passages 1..BASE+n, so a loaded index tells which version it is. After each complete
save of both it prints ``n`` (flushed), so the test knows the newest version that must survive.
Run: ``python -m tests.support.index_save_loop FOLDER``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from kb.index import DenseIndex
from kb.keyword_index import KeywordIndex

BASE = 3000
DIMENSION = 96


def version(n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ids = np.arange(1, BASE + n + 1, dtype=np.int64)
    vectors = np.random.default_rng(n).normal(size=(len(ids), DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"passage {i} about pricing plan {i % 97} and single sign-on {i % 13}" for i in ids]
    return ids, vectors, texts


def main(folder: Path) -> None:
    n = 0
    while True:
        ids, vectors, texts = version(n)
        dense = DenseIndex(DIMENSION, "loop-model")
        dense.add(ids, vectors)
        dense.save(folder)
        KeywordIndex.build(ids, texts).save(folder / "keyword")
        print(n, flush=True)
        n += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
