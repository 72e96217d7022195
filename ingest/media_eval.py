"""The transcript split of ``kb eval questions``: questions answered only inside a recording, measured apart.

A question whose answer is spoken only in a video's captions or a podcast's transcript is the case issue 6
exists for, and it is a small minority of the demo questions: inside the overall hit@3 it would hardly move
the figure. So the key (``kb/demo/questions_key.json``) labels these questions on their own -- the rows of
``questions.csv`` listed in ``transcript_only`` and the extra ``transcript_questions`` (kept out of the CSV
so the intake figures stay comparable) -- each with its page and ``answer_span``, the seconds of the
recording that answer it. Each one is searched exactly as the intake searches a question
(:meth:`kb.knowledge_base.KnowledgeBase.search`, top :data:`~ingest.demo_eval.HIT_K`), and scored on:

- **hit@3**: an answering page among the first three results;
- **on the moment**: the second the answering result's *link* opens at (``#t=93``, ``&t=93s``, ...: what a
  rep clicks, parsed back from the URL) lies inside the labelled span; a link that lands early or late is
  reported with its distance from the span, so a miss says by how much;
- **decided answered**: the search's confidence at or above the answer threshold (what the intake decides).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ingest.decision_metrics import rounded
from kb.knowledge_base import KnowledgeBase
from kb.thresholds import decide

# Parameters that carry the start second in the timed links of kb.timed_links (t=93, t=93s, wtime=93s).
_TIME_PARAMETERS = ("t", "wtime")


@dataclass(frozen=True)
class TranscriptQuestion:
    """A question answered only inside a recording: where, and which seconds of it answer."""

    key: str
    question: str
    paths: tuple[str, ...]  # root-relative URLs of the answering pages, the recording's own first
    span: tuple[float, float]  # [start, end] seconds of the recording that answer it
    source_kind: str  # video_captions / podcast_transcript
    index: int | None = None  # row of questions.csv; None for the key's extra transcript questions


@dataclass(frozen=True)
class TranscriptOutcome:
    """What the search gave for one transcript question."""

    paths: tuple[str, ...]  # root-relative URLs of the first results
    links: tuple[str, ...]  # the links the results send a rep to (timed for recordings)
    confidence: float
    decision: str  # answered / gap at the answer threshold


def load_transcript_questions(path: Path) -> tuple[TranscriptQuestion, ...]:
    """The key's transcript-only questions: the CSV rows in ``transcript_only``, then ``transcript_questions``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = {int(item["index"]): item for item in data["questions"]}
    items = [(index, rows[index]) for index in data.get("transcript_only", [])]
    items += [(None, item) for item in data.get("transcript_questions", [])]
    questions = []
    for index, item in items:
        start, end = item["answer_span"]
        questions.append(TranscriptQuestion(
            key=item["key"], question=item["question"],
            paths=tuple(p for p in [item["path"], *(item.get("also_paths") or [])] if p),
            span=(float(start), float(end)), source_kind=item["source_kind"], index=index,
        ))
    return tuple(questions)


def link_second(link: str) -> float | None:
    """The second a timed link opens at (fragment or query ``t=93``/``t=93s``/``wtime=93s``), else None."""
    parts = urlsplit(link)
    for part in (parts.fragment, parts.query):
        for name, value in parse_qsl(part):
            if name in _TIME_PARAMETERS and value.removesuffix("s").isdigit():
                return float(value.removesuffix("s"))
    return None


def search_transcript_questions(kb: KnowledgeBase, questions: Sequence[TranscriptQuestion], threshold: float,
                                k: int) -> dict[str, TranscriptOutcome]:
    """Each question searched as the intake searches it (top ``k``), by key."""
    outcomes = {}
    for q in questions:
        response = kb.search(q.question, k=k)
        outcomes[q.key] = TranscriptOutcome(
            paths=tuple(urlsplit(hit.url).path or "/" for hit in response.hits),
            links=tuple(hit.link for hit in response.hits),
            confidence=float(response.confidence),
            decision=decide(response.confidence, threshold),
        )
    return outcomes


def _offset(second: float | None, span: tuple[float, float]) -> float | None:
    """Seconds from the span to where a link lands: negative = early, positive = late, 0 inside, None = untimed.

    Links carry whole seconds (floored, :func:`kb.timed_links.timed_link`), so the span's start is floored
    too: a link to 0:231 for an answer starting at 231.7 s lands on it.
    """
    if second is None:
        return None
    start, end = math.floor(span[0]), span[1]
    return round(second - start, 2) if second < start else round(second - end, 2) if second > end else 0.0


def _row(q: TranscriptQuestion, outcome: TranscriptOutcome, k: int) -> dict[str, Any]:
    rank = next((r for r, path in enumerate(outcome.paths[:k], 1) if path in q.paths), None)
    link = outcome.links[rank - 1] if rank is not None else None
    second = link_second(link) if link is not None else None
    offset = _offset(second, q.span)
    return {
        "key": q.key, "index": q.index, "question": q.question, "source_kind": q.source_kind,
        "answer_span": list(q.span), "rank": rank, "link": link, "second": second, "offset": offset,
        "in_span": offset == 0.0, "confidence": round(outcome.confidence, 4), "decision": outcome.decision,
        "matches": list(outcome.paths[:k]),
    }


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    hits = sum(row["rank"] is not None for row in rows)
    in_span = sum(row["in_span"] for row in rows)
    return {"questions": n, "hit": hits, "hit_at_k": hits / n if n else 0.0,
            "timed_links": sum(row["second"] is not None for row in rows),
            "in_span": in_span, "in_span_rate": in_span / n if n else 0.0,
            "in_span_of_hits": in_span / hits if hits else 0.0,
            "decided_answered": sum(row["decision"] == "answered" for row in rows)}


def transcript_scores(questions: Sequence[TranscriptQuestion], outcomes: Mapping[str, TranscriptOutcome],
                      k: int) -> dict[str, Any]:
    """hit@k, links on the moment and decisions for the transcript questions, overall and per source kind."""
    rows = [_row(q, outcomes[q.key], k) for q in questions if q.key in outcomes]
    kinds = sorted({row["source_kind"] for row in rows})
    misses = [abs(row["offset"]) for row in rows if row["offset"] not in (None, 0.0)]
    return {
        "k": k,
        **rounded(_counts(rows)),
        "from_questions_csv": sum(row["index"] is not None for row in rows),
        # how far the links that miss their span land from it (seconds): "just before" or "elsewhere"
        "median_miss_seconds": round(statistics.median(misses), 1) if misses else None,
        "by_source_kind": {kind: rounded(_counts([r for r in rows if r["source_kind"] == kind])) for kind in kinds},
        "rows": rows,
    }


def evaluate_transcripts(kb: KnowledgeBase, key_path: Path, threshold: float, k: int) -> dict[str, Any]:
    """Search the key's transcript-only questions in ``kb`` and score them (see the module docstring)."""
    questions = load_transcript_questions(key_path)
    return transcript_scores(questions, search_transcript_questions(kb, questions, threshold, k), k)
