"""The keyword (BM25) index: the lexical half of hybrid search, keyed by passage id like the dense one.

Dense retrieval misses exact names (SOC 2, SAML, NetSuite, "Growth plan"); BM25 catches them. The
index is derived data, built from the database with the analyser in :mod:`kb.text_terms` (one
analyser for passages and queries) and scored by bm25s (Lucene's BM25 variant, k1=1.5, b=0.75,
numpy backend, a sparse document-term matrix of precomputed term scores; scipy builds the matrix,
which peaks at ~290 MB instead of ~450 MB for 100k passages).

Measured on BEIR SciFact (5,183 abstracts, 300 test queries, nDCG@10; published BM25 0.665): this
configuration 0.709; without stemming 0.692; without stopwords 0.704; Lucene's 33 stopwords 0.705;
without the analyser's joined terms 0.699; bm25+ 0.707, bm25l 0.708, robertson 0.710; k1=0.9 b=0.4
0.699; bm25s's own tokenizer 0.686. Only stemming (and the analyser as a whole) make a difference
beyond noise, so bm25s's defaults stay (bm25+ and bm25l would also give every passage a score,
defeating "only passages sharing a term").
At 100k passages a query takes well under 5 ms; a build is dominated by the analyser.

Ranking is deterministic: score descending, then passage id ascending, and only passages sharing
at least one term with the query (score > 0) are returned. ``allowed`` (a filter's passage ids)
is applied as a mask on the corpus's score vector before the top-k (exact, and measured faster
than over-fetching then filtering), so a filtered search returns exactly the unfiltered ranking
restricted to the allowed ids, whatever their share.

On disk (``save``)::

    folder/keyword.json          the manifest, written last: what the index holds and where
    folder/data-<random hex>/    one immutable version: bm25s files + ids.npy

A save writes a new version into a temporary directory beside it, fsyncs every file and the
directory, renames it to ``data-<hex>``, then atomically replaces the manifest that points to it
(temporary file, fsync, ``os.replace``, fsync of the folder) and only then removes older versions.
A reader therefore sees the old complete version or the new complete one, never a mix; a crash
leaves at worst an orphan directory that the next save removes. The manifest carries the sha256 of
the version's files, the ids digest (compare with the database), the analyser version and the
scoring parameters; any mismatch or damage makes ``load`` return None and the caller rebuilds.
A pointer in the manifest was chosen over a "current" symlink: one atomic file replace publishes
the new version and its description together, and it works on file systems without symlinks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.durable_files import atomic_write, fsync_path
from kb.index import ids_digest
from kb.text_terms import ANALYZER_VERSION, query_terms, tokenize

if TYPE_CHECKING:
    import bm25s

__all__ = ["KeywordIndex", "KeywordManifest", "query_terms", "tokenize"]

MANIFEST_FILE = "keyword.json"
IDS_FILE = "ids.npy"
_DATA_PREFIX = "data-"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600  # a temporary directory this old belongs to a crashed save
FORMAT = 1

# bm25s defaults, kept after measuring the alternatives (module docstring). Changing any of them
# makes saved indexes stale: the manifest records them and ``load`` refuses a mismatch.
METHOD = "lucene"
K1 = 1.5
B = 0.75
SCORING = f"bm25s {METHOD} k1={K1} b={B}"


@dataclass(frozen=True)
class KeywordManifest:
    """What a saved keyword index contains, to compare against the database."""

    count: int
    ids_digest: str  # kb.index.ids_digest of the passage ids: equal to the dense index's when in step
    analyzer: str  # kb.text_terms.ANALYZER_VERSION the index was built with
    sha256: str  # of the version's files (names and bytes, in name order)
    scoring: str = SCORING
    data_dir: str = ""  # the version directory inside the folder
    format: int = FORMAT


# The files of bm25s's numpy format that searching needs: the term-major (CSC) matrix of precomputed
# BM25 term scores and the vocabulary. Reading them with numpy alone keeps bm25s and scipy (~0.25 s of
# imports) out of every search's cold start; bm25s still builds and writes them.
_POSTINGS_FILES = {"data": "data.csc.index.npy", "indices": "indices.csc.index.npy", "indptr": "indptr.csc.index.npy"}
_VOCAB_FILE = "vocab.index.json"
_PARAMS_FILE = "params.index.json"


@dataclass(frozen=True)
class Postings:
    """Per term, the passages (positions) containing it and the term's BM25 score in each."""

    data: np.ndarray  # float32 scores, term by term
    indices: np.ndarray  # passage positions, aligned with data
    indptr: np.ndarray  # term t's entries are data[indptr[t]:indptr[t + 1]]
    num_docs: int
    vocab: dict[str, int]

    @property
    def terms(self) -> int:
        return len(self.indptr) - 1

    def scores(self, term_ids: Sequence[int]) -> np.ndarray:
        """Sum of the terms' scores per passage (a repeated query term counts again, as in bm25s and Lucene)."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for term in term_ids:
            start, end = int(self.indptr[term]), int(self.indptr[term + 1])
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores

    @classmethod
    def from_bm25(cls, bm25: bm25s.BM25) -> Postings:
        return cls(bm25.scores["data"], bm25.scores["indices"], bm25.scores["indptr"],
                   int(bm25.scores["num_docs"]), dict(bm25.vocab_dict))

    def save(self, folder: Path) -> None:
        """The same files (names and contents) bm25s's own ``save`` writes, so either can read them."""
        for name, file in _POSTINGS_FILES.items():
            with open(folder / file, "wb") as handle:
                np.save(handle, getattr(self, name), allow_pickle=False)
        params = {"k1": K1, "b": B, "method": METHOD, "idf_method": METHOD, "dtype": "float32",
                  "int_dtype": "int32", "num_docs": self.num_docs, "backend": "numpy"}
        (folder / _PARAMS_FILE).write_text(json.dumps(params, indent=4), encoding="utf-8")
        (folder / _VOCAB_FILE).write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Postings:
        arrays = {name: np.load(folder / file, allow_pickle=False) for name, file in _POSTINGS_FILES.items()}
        params = json.loads((folder / _PARAMS_FILE).read_text(encoding="utf-8"))
        vocab = json.loads((folder / _VOCAB_FILE).read_text(encoding="utf-8"))
        if params.get("method") != METHOD or params.get("k1") != K1 or params.get("b") != B:
            raise ValueError("scoring parameters differ")
        return cls(arrays["data"], arrays["indices"], arrays["indptr"], int(params["num_docs"]), vocab)


class KeywordIndex:
    """BM25 over passages; ``search`` returns ``(passage_id, score)`` best first."""

    def __init__(self, ids: np.ndarray, postings: Postings | None) -> None:
        self._ids = ids  # sorted passage ids; position i is bm25s document i
        self._postings = postings  # None when nothing is searchable (no passages, or no terms at all)
        self._vocab: dict[str, int] = postings.vocab if postings is not None else {}
        self._terms = postings.terms if postings is not None else 0

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> KeywordIndex:
        """Index ``texts[i]`` under passage id ``ids[i]``; ids must be unique."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) > 1 and np.any(ids[1:] == ids[:-1]):
            raise ValueError("passage ids must be unique")
        vocab: dict[str, int] = {}
        corpus: list[array[int]] = []  # 4 bytes a token, not a list's 8 (100k passages: ~15M tokens)
        for position in order:
            corpus.append(array("i", [vocab.setdefault(term, len(vocab)) for term in tokenize(texts[int(position)])]))
        if not vocab:
            return cls(ids, None)
        import bm25s  # imported here: scipy comes with it, and `kb --help` must stay light

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on itself: no progress chatter

        bm25 = bm25s.BM25(method=METHOD, k1=K1, b=B, backend="numpy", csc_backend="scipy")
        bm25.index((corpus, vocab), show_progress=False)
        return cls(ids, Postings.from_bm25(bm25))

    # -- reading -------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many passages contain each of ``terms`` (analysed terms, as :func:`tokenize` gives them;
        0 for a term no passage has). Read from the postings' offsets: no scoring, O(1) per term."""
        frequencies: dict[str, int] = {}
        for term in terms:
            column = self._vocab.get(term)
            if column is None or column >= self._terms or self._postings is None:
                frequencies[term] = 0
            else:
                indptr = self._postings.indptr
                frequencies[term] = int(indptr[column + 1]) - int(indptr[column])
        return frequencies

    def search(self, query: str, k: int, *, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best passages for ``query``, optionally only among the passage ids ``allowed``."""
        if k <= 0 or self._postings is None:
            return []
        term_ids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        term_ids = [t for t in term_ids if t < self._terms]  # "" (bm25s's empty token) has no column
        if not term_ids:
            return []
        scores = self._scores(term_ids)
        matched = scores > 0
        if allowed is not None:
            matched &= self._allowed_mask(allowed)
        best = _top_k(scores, np.flatnonzero(matched), k)
        return [(int(pid), float(s)) for pid, s in zip(self._ids[best], scores[best], strict=True)]

    def _scores(self, term_ids: list[int]) -> np.ndarray:
        """BM25 of every passage for the query terms (a repeated query term counts again, as in Lucene)."""
        assert self._postings is not None
        return self._postings.scores(term_ids)

    def _allowed_mask(self, allowed: np.ndarray) -> np.ndarray:
        """True at the positions of the allowed passage ids (ids not in the index are ignored)."""
        allowed = np.asarray(allowed, dtype=np.int64).reshape(-1)
        if len(allowed) * 32 >= len(self._ids):  # measured crossover at 100k passages: ~1.5 ms either way
            return np.isin(self._ids, allowed)  # O(n + m): numpy's lookup table over the id range
        where = np.searchsorted(self._ids, allowed)  # few allowed ids: O(m log n), ~0.3 ms for 1k of 100k
        inside = where < len(self._ids)
        where = where[inside]
        mask = np.zeros(len(self._ids), dtype=bool)
        mask[where[self._ids[where] == allowed[inside]]] = True
        return mask

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> KeywordManifest:
        """Write a new version and publish it by replacing the manifest (see the module docstring)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(folder)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=_TMP_PREFIX))
        try:
            with open(tmp / IDS_FILE, "wb") as handle:
                np.save(handle, self._ids, allow_pickle=False)
            if self._postings is not None:
                self._postings.save(tmp)
            for path in tmp.iterdir():
                fsync_path(path)
            fsync_path(tmp)
            digest = _files_sha256(tmp)
            data_dir = f"{_DATA_PREFIX}{uuid.uuid4().hex}"
            os.replace(tmp, folder / data_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(folder)
        manifest = KeywordManifest(
            count=self.count,
            ids_digest=ids_digest(self._ids),
            analyzer=ANALYZER_VERSION,
            sha256=digest,
            data_dir=data_dir,
        )
        atomic_write(folder / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2).encode())
        for old in folder.glob(f"{_DATA_PREFIX}*"):
            if old.name != data_dir:
                shutil.rmtree(old, ignore_errors=True)
        return manifest

    @classmethod
    def load(cls, folder: Path) -> tuple[KeywordIndex, KeywordManifest] | None:
        """The saved index and its manifest; None when missing, damaged, or built by another version."""
        folder = Path(folder)
        for _attempt in range(2):  # a save may replace the version between reading manifest and data
            manifest = _read_manifest(folder)
            if manifest is None:
                return None
            try:
                return cls._load_version(folder / manifest.data_dir, manifest), manifest
            except FileNotFoundError:
                if _read_manifest(folder) == manifest:
                    return None
            except Exception:  # damaged in a way the checksum did not catch: rebuild, never crash
                return None
        return None

    @classmethod
    def _load_version(cls, data: Path, manifest: KeywordManifest) -> KeywordIndex:
        if _files_sha256(data) != manifest.sha256:
            raise ValueError("checksum mismatch")
        ids = np.load(data / IDS_FILE, allow_pickle=False)
        postings = None
        if (data / _PARAMS_FILE).exists():
            postings = Postings.load(data)
            if postings.num_docs != len(ids):
                raise ValueError("document count mismatch")
        if ids.dtype != np.int64 or ids.ndim != 1 or len(ids) != manifest.count or np.any(ids[1:] <= ids[:-1]):
            raise ValueError("ids mismatch")  # search relies on sorted, unique ids
        if ids_digest(ids) != manifest.ids_digest:
            raise ValueError("ids digest mismatch")
        return cls(ids, postings)


def _top_k(scores: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best of ``candidates`` (positions): score descending, then position (= id) ascending."""
    if len(candidates) > k:
        values = scores[candidates]
        kth = np.partition(values, len(values) - k)[len(values) - k]
        candidates = candidates[values >= kth]  # ties at the cut are all kept, then ordered by id
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def _read_manifest(folder: Path) -> KeywordManifest | None:
    try:
        raw: Any = json.loads((folder / MANIFEST_FILE).read_text())
        manifest = KeywordManifest(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if (
        manifest.format != FORMAT
        or manifest.analyzer != ANALYZER_VERSION
        or manifest.scoring != SCORING
        or not manifest.data_dir.startswith(_DATA_PREFIX)
        or "/" in manifest.data_dir
    ):
        return None
    return manifest


def _files_sha256(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _remove_stale_temporaries(folder: Path) -> None:
    cutoff = time.time() - _STALE_TMP_SECONDS
    for tmp in folder.glob(f"{_TMP_PREFIX}*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
