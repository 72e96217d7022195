"""Bulk import of prospect questions from a CSV file (``kb questions import FILE.csv``).

Columns (header row; names case- and space-insensitive, "Asked By" = asked_by): ``question`` and
``asked_by`` are required; ``asked_at`` (ISO 8601 date or date-time, naive = UTC), ``persona``,
``stage``, ``company``, ``deal_stage``, ``deal_value`` and ``source`` are optional; other columns are
ignored (and named in the report).

Rules, and why:

- **Good rows land, bad rows are reported** with their physical line number in the file (the header is
  line 1; a quoted field spanning lines counts every line) and the reason, so a 10,000-row export with
  three typos is not rejected whole. A file that cannot be read at all (not UTF-8, no header, required
  columns missing) is one clear :class:`kb.errors.ValidationError` and nothing is imported.
- **Idempotent**: each row's ``dedup_key`` (wording, asker, time, company; see :mod:`kb.questions`) is
  looked up first; importing the same file twice adds nothing the second time, and a row repeated within
  a file is stored once. A row without ``asked_at`` is stamped with the import time but identified
  without it, so re-importing it is still a no-op.
- **The same path as a single question**: every row goes through :func:`kb.questions.record_question`
  (same decision, topic matching, tags, history and demand).
- **Dry run** checks every row, finds what is already present, searches, and matches topics in memory
  (existing ones from the database, new ones as they would be opened) without writing anything.

Speed (10,000 rows in well under the 3-minute target, BENCHMARKS.md): rows are checked before anything
is embedded; each distinct wording is embedded and searched once per import (identical text gives the
identical vector and results); rows are committed in batches of :data:`BATCH_ROWS`; the topic-matching
cache stays warm across rows (each stored question is appended to it). Questions are embedded one at a
time with ``embed_query``, the function interactive intake uses: the int8 ONNX model quantises
activations per batch, so batched vectors differ from single ones (cosine down to 0.986 on the demo
questions), and a question must get the same vector whichever way it arrives.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb import topic_matching
from kb.demand import refresh_demand
from kb.errors import KBError, ValidationError
from kb.models import Question, utcnow
from kb.question_input import PreparedQuestion, QuestionInput, dedup_key, prepare_question, read_utf8
from kb.questions import StoredQuestion, store_question
from kb.search import SearchResponse
from kb.thresholds import answer_threshold, decide

REQUIRED = ("question", "asked_by")
OPTIONAL = ("asked_at", "persona", "stage", "company", "deal_stage", "deal_value", "source")
BATCH_ROWS = 250  # rows per commit: bounds lost work and lock time, amortises the commit


@dataclass
class ImportReport:
    rows: int = 0  # data rows read (blank lines skipped)
    added: int = 0  # stored now (a dry run: would be stored)
    already_present: int = 0  # stored by an earlier import, or repeated within this file
    bad: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    added_topics: int = 0  # topics opened by the added rows
    answered: int = 0  # added rows decided "answered"
    gaps: int = 0  # added rows decided "gap"
    ignored_columns: list[str] = field(default_factory=list)
    distinct_texts: int = 0  # distinct wordings embedded and searched
    dry_run: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "added": self.added,
            "already_present": self.already_present,
            "bad": self.bad,
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
            "added_topics": self.added_topics,
            "answered": self.answered,
            "gaps": self.gaps,
            "ignored_columns": self.ignored_columns,
            "distinct_texts": self.distinct_texts,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class _Row:
    line: int
    prepared: PreparedQuestion


# -- reading -----------------------------------------------------------------------------------------
def _column_name(raw: str) -> str:
    return "_".join(raw.strip().lower().replace("-", " ").split())


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each record; the reader's line count includes quoted newlines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for fields in reader:
            yield line, fields
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ValidationError(f"line {reader.line_num}: the CSV cannot be read past here ({exc})") from None


def parse_asked_at(value: str) -> datetime | None:
    """ISO 8601 date ("2026-10-09", midnight UTC) or date-time ("2026-10-09T14:03:00Z"); naive = UTC."""
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"asked_at is not an ISO 8601 date or date-time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_rows(kb, path: Path, report: ImportReport, default_source: str) -> list[_Row]:  # type: ignore[no-untyped-def]
    """Every row checked; bad ones go to ``report.errors``, good ones are returned."""
    records = _records(read_utf8(path))
    header = next(records, None)
    if header is None or not any(cell.strip() for cell in header[1]):
        raise ValidationError(f"{path.name} is empty: expected a header row with {', '.join(REQUIRED)}")
    names = [_column_name(cell) for cell in header[1]]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ValidationError(f"{path.name}: missing required column{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)} (found: {', '.join(n for n in names if n) or 'none'})")
    known = set(REQUIRED) | set(OPTIONAL)
    report.ignored_columns = [name for name in names if name and name not in known]
    position = {name: names.index(name) for name in known if name in names}  # the first of repeated names

    rows: list[_Row] = []
    for line, fields in records:
        if not any(cell.strip() for cell in fields):
            continue  # blank line
        report.rows += 1
        try:
            if len(fields) > len(names):
                raise ValidationError(f"has {len(fields)} fields but the header has {len(names)} columns")
            cell = {name: (fields[i] if i < len(fields) else "") for name, i in position.items()}
            if not cell["asked_by"].strip():
                raise ValidationError("asked_by is empty")
            asked_at = parse_asked_at(cell.get("asked_at", ""))
            prepared = prepare_question(kb.settings, QuestionInput(
                text=cell["question"],
                asked_by=cell["asked_by"],
                asked_at=asked_at,
                persona=cell.get("persona") or None,
                stage=cell.get("stage") or None,
                company=cell.get("company") or None,
                deal_stage=cell.get("deal_stage") or None,
                deal_value=cell.get("deal_value") or None,
                source=(cell.get("source") or "").strip() or default_source,
            ))
            if asked_at is None:  # stamped now, identified without a time: re-importing stays a no-op
                prepared = replace(prepared, dedup_key=dedup_key(prepared.text, prepared.email, None,
                                                                 prepared.company))
        except ValidationError as exc:
            report.bad += 1
            report.errors.append((line, exc.message))
            continue
        rows.append(_Row(line, prepared))
    return rows


def _new_rows(kb, rows: list[_Row], report: ImportReport) -> list[_Row]:  # type: ignore[no-untyped-def]
    """Rows not stored yet (and the first of rows repeated within the file); the rest are counted."""
    keys = [row.prepared.dedup_key for row in rows]
    stored: set[str] = set()
    with kb.sessions() as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            stored.update(session.scalars(select(Question.dedup_key).where(Question.dedup_key.in_(chunk))))
    fresh, seen = [], set()
    for row in rows:
        key = row.prepared.dedup_key
        if key in stored or key in seen:
            report.already_present += 1
            continue
        seen.add(key)
        fresh.append(row)
    return fresh


# -- matching ----------------------------------------------------------------------------------------
class _Matcher:
    """Embeds and searches each distinct wording once per import (same text, same vector and results),
    in a worker thread that runs ahead of the rows being stored.

    The pipeline overlaps the model and the index (native code that releases the GIL) with storing the
    previous rows (Python and SQLite): on 2 cores the import runs about as fast as its slower half.
    """

    def __init__(self, kb) -> None:  # type: ignore[no-untyped-def]
        self.kb = kb
        self.k = kb.settings.questions.match_count
        self._memo: dict[str, Future[tuple[np.ndarray, SearchResponse]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-import-match")

    def _match(self, text: str) -> tuple[np.ndarray, SearchResponse]:
        vector = self.kb.embedder.embed_query(text)
        response = self.kb.search(text, k=self.k, query_vector=vector)
        # Kept for repeats of the wording until the import ends: only what storing a question reads.
        return vector, replace(response, features={}, facets={})

    def prefetch(self, texts: Iterable[str]) -> None:
        for text in texts:
            if text not in self._memo:
                self._memo[text] = self._pool.submit(self._match, text)

    def __call__(self, text: str) -> tuple[np.ndarray, SearchResponse]:
        self.prefetch((text,))
        return self._memo[text].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def distinct(self) -> int:
        return len(self._memo)


def _store_batch(kb, session: Session, batch: list[tuple[_Row, np.ndarray, SearchResponse]],  # type: ignore[no-untyped-def]
                 ) -> list[StoredQuestion]:
    """Store rows in one transaction, then refresh the demand of every topic they touched, once each."""
    stored = [store_question(kb, session, row.prepared, vector, response, batch=True)
              for row, vector, response in batch]
    now = utcnow()
    for topic in {item.topic.id: item.topic for item in stored}.values():
        refresh_demand(session, topic, kb.settings.backlog, now)
    topic_matching.sync(kb, session)
    return stored


def _store(kb, rows: list[_Row], report: ImportReport, matcher: _Matcher) -> None:  # type: ignore[no-untyped-def]
    """Record the rows in batches; a batch that fails as a whole is retried row by row."""
    matcher.prefetch(row.prepared.text for row in rows[:BATCH_ROWS])
    for start in range(0, len(rows), BATCH_ROWS):
        batch = [(row, *matcher(row.prepared.text)) for row in rows[start : start + BATCH_ROWS]]
        # The next batch is embedded and searched while this one is stored.
        matcher.prefetch(row.prepared.text for row in rows[start + BATCH_ROWS : start + 2 * BATCH_ROWS])
        try:
            with kb.transaction() as session:
                stored = _store_batch(kb, session, batch)
        except (KBError, IntegrityError):
            topic_matching.invalidate(kb)  # rolled back: the cache may hold rows that are not stored
            stored = []
            for item in batch:  # find the failing rows; the others still land
                try:
                    with kb.transaction() as session:
                        stored += _store_batch(kb, session, [item])
                except IntegrityError:  # stored meanwhile by a concurrent import of the same row
                    topic_matching.invalidate(kb)
                    report.already_present += 1
                except KBError as exc:
                    topic_matching.invalidate(kb)
                    report.bad += 1
                    report.errors.append((item[0].line, exc.message))
        except BaseException:
            topic_matching.invalidate(kb)
            raise
        for item in stored:
            report.added += 1
            report.added_topics += item.new_topic
            report.answered += item.question.decision == "answered"
            report.gaps += item.question.decision == "gap"


def _simulate(kb, rows: list[_Row], report: ImportReport, matcher: _Matcher) -> None:  # type: ignore[no-untyped-def]
    """A dry run: decisions and topics as they would be, nothing written."""
    threshold = answer_threshold(kb.settings.questions, kb.confidence_model)
    pending = topic_matching.PendingTopics(kb)
    matcher.prefetch(row.prepared.text for row in rows)
    with kb.sessions() as session:
        for row in rows:
            text = row.prepared.text
            vector, response = matcher(text)
            best = response.hits[0].content_id if response.hits else None
            stored = topic_matching.find_topic(kb, session, text, vector, best_content_id=best)
            new = pending.match(text, vector, best)
            if new is not None and (stored is None or new.probability > stored.probability):
                pending.add(text, vector, best, topic_id=new.topic_id)
            elif stored is None:
                pending.add(text, vector, best)
                report.added_topics += 1
            report.added += 1
            if decide(response.confidence, threshold) == "answered":
                report.answered += 1
            else:
                report.gaps += 1
        session.rollback()


def import_questions(kb, path: str | Path, *, dry_run: bool = False,  # type: ignore[no-untyped-def]
                     default_source: str = "import") -> ImportReport:
    """Import the questions of a CSV file (see the module docstring); ``dry_run`` writes nothing."""
    began = time.perf_counter()
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    rows = _check_rows(kb, path, report, default_source)
    rows = _new_rows(kb, rows, report)
    matcher = _Matcher(kb)
    try:
        if dry_run:
            _simulate(kb, rows, report, matcher)
        else:
            _store(kb, rows, report, matcher)
    finally:
        matcher.close()
    report.errors.sort()
    report.distinct_texts = matcher.distinct
    report.seconds = time.perf_counter() - began
    return report
