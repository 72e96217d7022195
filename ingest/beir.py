"""Reading a retrieval benchmark in BEIR layout.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}``), ``queries.jsonl``
(``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id<TAB>corpus-id<TAB>score``, with a header
line; some upstream files use CRLF endings, and some third-party copies have no header, so a first
line whose score is not an integer is taken as the header and any other line is data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.errors import ValidationError

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: graded relevance}


@dataclass(frozen=True)
class BeirDocument:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """Paths of one BEIR folder; files are read on demand."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def corpus_path(self) -> Path:
        return self.path / "corpus.jsonl"

    def qrels_path(self, split: str) -> Path:
        return self.path / "qrels" / f"{split}.tsv"

    def has_split(self, split: str) -> bool:
        return self.qrels_path(split).is_file()

    def check(self, split: str | None = None) -> None:
        for required in (self.corpus_path, self.path / "queries.jsonl"):
            if not required.is_file():
                raise ValidationError(f"{self.path} is not a BEIR folder: {required.name} is missing")
        if split is not None and not self.has_split(split):
            raise ValidationError(f"{self.path}: no judgements for split {split!r} (qrels/{split}.tsv is missing)")

    def corpus(self) -> Iterator[BeirDocument]:
        return corpus_documents(self.corpus_path)

    def queries(self) -> dict[str, str]:
        return query_texts(self.path / "queries.jsonl")

    def qrels(self, split: str) -> Qrels:
        """Judgements of ``split``; a pair judged twice keeps the last line, as BEIR's loader does."""
        path = self.qrels_path(split)
        qrels: Qrels = {}
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.rstrip("\r\n").split("\t")
                if not line.strip():
                    continue
                if len(parts) < 3:
                    raise ValidationError(f"{path}:{number}: expected query-id, corpus-id and score")
                try:
                    score = int(float(parts[2]))
                except ValueError:
                    if number == 1:
                        continue  # the header
                    raise ValidationError(f"{path}:{number}: score {parts[2]!r} is not a number") from None
                qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = score
        return qrels


def corpus_documents(path: Path) -> Iterator[BeirDocument]:
    """The documents of a BEIR ``corpus.jsonl`` at ``path`` (any file name), in file order."""
    for number, row in _jsonl(path):
        doc_id = row.get("_id")
        if doc_id is None:
            raise ValidationError(f"{path}:{number}: a document has no _id")
        yield BeirDocument(str(doc_id), str(row.get("title") or ""), str(row.get("text") or ""))


def query_texts(path: Path) -> dict[str, str]:
    """Query id -> text of a BEIR ``queries.jsonl`` at ``path`` (any file name), in file order."""
    out = {}
    for number, row in _jsonl(path):
        if row.get("_id") is None:
            raise ValidationError(f"{path}:{number}: a query has no _id")
        out[str(row["_id"])] = str(row.get("text") or "")
    return out


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValidationError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ValidationError(f"{path}:{number}: expected a JSON object")
            yield number, row


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
