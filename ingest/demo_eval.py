"""``kb eval questions``: the product end to end on the bundled demo site, scored against its answer key.

The demo company's site (:mod:`kb.demo`) is served on 127.0.0.1 and crawled into a knowledge base of its
own, exactly as ``kb demo`` does; the 50 prospect questions of ``kb/demo/questions.csv`` are then imported
through the real intake (:func:`kb.question_import.import_questions`: search, confidence, threshold, topic
matching, tags) into a *copy* of that knowledge base, and what was stored is scored against
``kb/demo/questions_key.json``:

- **answered or gap**: accuracy, and precision / recall / F1 of the gap class (the positive class, as in
  ``kb eval gaps``);
- **the answer shown**: for questions the key says are answered, whether the answering page (``path`` or
  one of ``also_paths``) is among the first :data:`HIT_K` matches stored with the question (hit@3), and
  the same per kind of source (page, video captions, podcast transcript);
- **topics**: pairwise precision / recall / F1 of "these two questions share a topic" against the key's
  ``duplicate_groups``, how many ``lookalike_pairs`` (similar questions that must stay apart) were wrongly
  merged, and the number of topics against the number the key implies;
- **transcripts** (the split, :mod:`ingest.media_eval`): the questions answered only inside a video's
  captions or the podcast's transcript, measured apart: hit@3 and whether the answering result's timed
  link lands inside the labelled answer span.

Why a copy: the crawl takes ~15 s, the import a few; the crawled knowledge base is kept (``workdir``) or
handed in (the test suite's read-only session crawl) and every run imports into a fresh copy of it (the
SQLite file through SQLite's backup API, the index folder as files), so runs never see each other's
questions. A kept crawl is reused while the demo site's files, the chunking and the embedding settings are
those it was made with (a stamp beside it); otherwise it is crawled again. ``workdir/run`` keeps the last
run's knowledge base, questions and topics included, for a closer look (``kb backlog`` with
``instance_path`` pointing there).

The key is never used to fit anything: the confidence model is fitted on BEIR SciFact (``kb eval
calibrate``); this is the held-out product check.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select

from ingest.decision_metrics import gap_decision, rounded
from kb.demo.session import DEMO_QUESTIONS, demo_site
from kb.knowledge_base import KnowledgeBase
from kb.models import Question, Topic
from kb.settings import Settings
from kb.thresholds import answer_threshold

Progress = Callable[[str], None]

DEMO_KEY = DEMO_QUESTIONS.parent / "questions_key.json"
DEMO_FOLDER = DEMO_QUESTIONS.parent
HIT_K = 3  # matches looked at for the answering page (a rep is shown questions.match_count, 3 by default)
STAMP_FILE = "demo-stamp.json"
# Files of kb/demo that do not shape the crawled site (a change to them needs no new crawl).
_NOT_SITE = {"questions.csv", "questions_key.json", "README.md", "session.py", "server.py", "__init__.py"}


# -- the key ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyQuestion:
    """One labelled question: what it asks, whether the site answers it and where."""

    index: int  # 0-based row of questions.csv
    question: str
    answered: bool
    paths: tuple[str, ...] = ()  # root-relative URLs of pages that answer it, the main one first
    source_kind: str | None = None  # page / video_captions / podcast_transcript (answered questions)


@dataclass(frozen=True)
class AnswerKey:
    questions: tuple[KeyQuestion, ...]
    duplicate_groups: tuple[tuple[int, ...], ...]  # questions that mean the same: one topic each
    lookalike_pairs: tuple[tuple[int, int], ...]  # similar questions that must not share a topic

    @property
    def implied_topics(self) -> int:
        """Topics the key implies: one per question, less one for every extra member of a duplicate group."""
        return len(self.questions) - sum(len(group) - 1 for group in self.duplicate_groups)


def load_key(path: Path = DEMO_KEY) -> AnswerKey:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    questions = tuple(
        KeyQuestion(
            index=int(item["index"]),
            question=item["question"],
            answered=bool(item["answered"]),
            paths=tuple(p for p in [item.get("path"), *(item.get("also_paths") or [])] if p),
            source_kind=item.get("source_kind"),
        )
        for item in data["questions"]
    )
    return AnswerKey(
        questions=questions,
        duplicate_groups=tuple(tuple(group) for group in data.get("duplicate_groups", [])),
        lookalike_pairs=tuple((int(a), int(b)) for a, b in data.get("lookalike_pairs", [])),
    )


# -- what the product did with each question ----------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """A stored question as the intake left it."""

    index: int
    decision: str  # answered / gap
    confidence: float
    match_paths: tuple[str, ...]  # root-relative URLs of the matches stored with it, best first
    topic_id: int  # the live topic (merges followed)


def _path(url: str) -> str:
    return urlparse(url).path or "/"


def answer_rank(outcome: Outcome, key: KeyQuestion, k: int = HIT_K) -> int | None:
    """1-based rank of the first match among the first ``k`` that is one of the key's answering pages."""
    for rank, path in enumerate(outcome.match_paths[:k], 1):
        if path in key.paths:
            return rank
    return None


# -- metrics (pure) --------------------------------------------------------------------------------------
def decision_scores(key: AnswerKey, outcomes: Mapping[int, Outcome]) -> dict[str, Any]:
    """Accuracy and the gap class's precision / recall / F1 (counts included)."""
    labelled = [q for q in key.questions if q.index in outcomes]
    gaps = [not q.answered for q in labelled]
    # gap_decision calls "score < threshold" a gap: score 0 for a gap decision, 1 for an answered one.
    scores = [0.0 if outcomes[q.index].decision == "gap" else 1.0 for q in labelled]
    counts = gap_decision(scores, gaps, 0.5)
    right = counts["tp"] + counts["tn"]
    return {
        "questions": len(labelled),
        "correct": right,
        "accuracy": right / len(labelled) if labelled else 0.0,
        "gap_precision": counts["precision"],
        "gap_recall": counts["recall"],
        "gap_f1": counts["f1"],
        "true_gaps": sum(gaps),
        "decided_gaps": sum(1 for s in scores if s == 0.0),
        "missed_gaps": counts["fn"],  # gaps decided answered
        "false_gaps": counts["fp"],  # answered questions decided gaps
    }


def hit_scores(key: AnswerKey, outcomes: Mapping[int, Outcome], k: int = HIT_K) -> dict[str, Any]:
    """For the questions the key says are answered: hit@k of an answering page, overall and per source kind."""
    by_kind: dict[str, dict[str, int]] = {}
    total = hits = decided = 0
    for q in key.questions:
        if not q.answered or q.index not in outcomes:
            continue
        outcome = outcomes[q.index]
        hit = answer_rank(outcome, q, k) is not None
        kind = by_kind.setdefault(q.source_kind or "page", {"questions": 0, "hit": 0, "decided_answered": 0})
        kind["questions"] += 1
        kind["hit"] += hit
        kind["decided_answered"] += outcome.decision == "answered"
        total, hits, decided = total + 1, hits + hit, decided + (outcome.decision == "answered")
    return {"k": k, "answered_questions": total, "hit": hits, "hit_at_k": hits / total if total else 0.0,
            "decided_answered": decided, "by_source_kind": dict(sorted(by_kind.items()))}


def _pairs(groups: Iterable[Iterable[int]]) -> set[tuple[int, int]]:
    return {tuple(sorted(pair)) for group in groups for pair in combinations(sorted(set(group)), 2)}  # type: ignore[misc]


def grouping_scores(key: AnswerKey, topic_of: Mapping[int, int]) -> dict[str, Any]:
    """Pairwise precision / recall / F1 of "same topic" against the duplicate groups; look-alikes merged."""
    members: dict[int, list[int]] = {}
    for index, topic in topic_of.items():
        members.setdefault(topic, []).append(index)
    predicted = _pairs(members.values())
    truth = _pairs(key.duplicate_groups)
    right = len(predicted & truth)
    precision = right / len(predicted) if predicted else 0.0
    recall = right / len(truth) if truth else 0.0
    merged = [pair for pair in key.lookalike_pairs if topic_of.get(pair[0]) is not None
              and topic_of.get(pair[0]) == topic_of.get(pair[1])]
    return {
        "pairs_expected": len(truth),
        "pairs_predicted": len(predicted),
        "pairs_right": right,
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "lookalike_pairs": len(key.lookalike_pairs),
        "lookalikes_merged": len(merged),
        "lookalikes_merged_pairs": [list(pair) for pair in merged],
        "topics": len(members),
        "topics_expected": key.implied_topics,
    }


# -- the knowledge base ------------------------------------------------------------------------------------
def demo_stamp(settings: Settings) -> dict[str, Any]:
    """What a crawl of the demo depends on: the site's files, chunking and embedding settings."""
    digest = hashlib.sha256()
    for path in sorted(p for p in DEMO_FOLDER.rglob("*") if p.is_file()):
        relative = path.relative_to(DEMO_FOLDER)
        if relative.name in _NOT_SITE or "__pycache__" in relative.parts:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return {"site_sha256": digest.hexdigest(), "chunking": asdict(settings.chunking),
            "embedding": asdict(settings.embedding)}


def instance_settings(settings: Settings, folder: Path) -> Settings:
    """``settings`` on a private SQLite instance in ``folder`` (at least :data:`HIT_K` matches kept per question)."""
    questions = replace(settings.questions, match_count=max(settings.questions.match_count, HIT_K))
    return replace(settings, instance_path=str(folder), database=replace(settings.database, url=""),
                   questions=questions)


def crawl_demo(settings: Settings, folder: Path, *, embedder: Any = None) -> dict[str, Any]:
    """Serve the demo site on 127.0.0.1 and crawl it into a new knowledge base in ``folder``: pages fetched,
    passages indexed, seconds."""
    from ingest.crawler import crawl_site
    from kb.demo.server import DemoSiteServer

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with DemoSiteServer() as site:
        kb = KnowledgeBase(replace(instance_settings(settings, folder), sites=[demo_site(site.base_url)]),
                           embedder=embedder)
        try:
            summary = crawl_site(kb, "demo")
        finally:
            kb.close()
    return {"fetched": summary.fetched, "passages": summary.index_total, "seconds": round(summary.seconds, 1)}


def copy_instance(source: Path, target: Path) -> None:
    """A writable copy of a knowledge base's instance folder: the database and the index folder."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if (source / "index").is_dir():
        shutil.copytree(source / "index", target / "index")
    with closing(sqlite3.connect(source / "kb.sqlite")) as src, closing(sqlite3.connect(target / "kb.sqlite")) as dst:
        src.backup(dst)  # a consistent snapshot even while the source is open (WAL)


@contextmanager
def _folder(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="kb-eval-questions-") as tmp:
        yield Path(tmp)


def crawled_instance(settings: Settings, folder: Path, *, embedder: Any = None,
                     progress: Progress | None = None) -> tuple[Path, dict[str, Any] | None]:
    """The crawled demo in ``folder``/crawled: reused when its stamp matches (crawl None), else crawled now
    (and stamped; the crawl's figures)."""
    say = progress or (lambda _message: None)
    crawled, stamp_path = folder / "crawled", folder / STAMP_FILE
    stamp = demo_stamp(settings)
    if (crawled / "kb.sqlite").is_file() and stamp_path.is_file() and _read_json(stamp_path) == stamp:
        say(f"reusing the crawled demo site in {crawled}")
        return crawled, None
    stamp_path.unlink(missing_ok=True)
    say(f"serving the demo site on 127.0.0.1 and crawling it into {crawled} ...")
    crawl = crawl_demo(settings, crawled, embedder=embedder)
    stamp_path.write_text(json.dumps(stamp, indent=2))
    return crawled, crawl


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- the run ---------------------------------------------------------------------------------------------
def stored_outcomes(kb: KnowledgeBase, key: AnswerKey) -> dict[int, Outcome]:
    """The stored question of each key question (matched by its wording), with its live topic."""
    by_text = {" ".join(q.question.split()): q.index for q in key.questions}
    outcomes: dict[int, Outcome] = {}
    with kb.sessions() as session:
        for question in session.scalars(select(Question).order_by(Question.id)):
            index = by_text.get(" ".join(question.text.split()))
            if index is None or index in outcomes:
                continue
            topic = session.get(Topic, question.topic_id) if question.topic_id is not None else None
            while topic is not None and topic.merged_into_id is not None:
                topic = session.get(Topic, topic.merged_into_id)
            outcomes[index] = Outcome(
                index=index,
                decision=question.decision,
                confidence=float(question.confidence or 0.0),
                match_paths=tuple(_path(match.get("url", "")) for match in (question.matches or [])),
                topic_id=topic.id if topic is not None else -question.id,  # no topic: a group of its own
            )
    return outcomes


def score_outcomes(key: AnswerKey, outcomes: Mapping[int, Outcome], threshold: float) -> dict[str, Any]:
    """Every metric of the report, and the per-question rows."""
    rows = []
    for q in key.questions:
        outcome = outcomes.get(q.index)
        if outcome is None:
            continue
        rows.append({
            "index": q.index,
            "question": q.question,
            "expected": "answered" if q.answered else "gap",
            "decision": outcome.decision,
            "correct": (outcome.decision == "answered") == q.answered,
            "confidence": round(outcome.confidence, 4),
            "answer_rank": answer_rank(outcome, q) if q.answered else None,
            "source_kind": q.source_kind,
            "matches": list(outcome.match_paths[:HIT_K]),
            "topic_id": outcome.topic_id,
        })
    return {
        "threshold": round(threshold, 6),
        "decisions": rounded(decision_scores(key, outcomes)),
        "answers": {**rounded({k: v for k, v in hit_scores(key, outcomes).items() if k != "by_source_kind"}),
                    "by_source_kind": hit_scores(key, outcomes)["by_source_kind"]},
        "topics": rounded(grouping_scores(key, {index: o.topic_id for index, o in outcomes.items()})),
        "missing": [q.index for q in key.questions if q.index not in outcomes],
        "questions": rows,
    }


def run_on_copy(source: Path, settings: Settings, run_folder: Path, key: AnswerKey, *,
                embedder: Any = None, key_path: Path = DEMO_KEY) -> dict[str, Any]:
    """Import the demo questions into a fresh copy of the knowledge base at ``source`` and score them, and
    search the key's transcript-only questions in it (the split)."""
    from ingest.media_eval import evaluate_transcripts
    from kb.question_import import import_questions

    copy_instance(source, run_folder)
    kb = KnowledgeBase(instance_settings(settings, run_folder), embedder=embedder)
    try:
        began = time.perf_counter()
        report = import_questions(kb, DEMO_QUESTIONS, default_source="demo")
        seconds = time.perf_counter() - began
        threshold = answer_threshold(kb.settings.questions, kb.confidence_model)
        outcomes = stored_outcomes(kb, key)
        result = score_outcomes(key, outcomes, threshold)
        result["model_source"] = kb.confidence_model.source
        result["transcripts"] = evaluate_transcripts(kb, key_path, threshold, HIT_K)
        # The other side of the split: the imported questions answered somewhere besides a transcript.
        spoken = {row["index"] for row in result["transcripts"]["rows"] if row["index"] is not None}
        rest = replace(key, questions=tuple(q for q in key.questions if q.index not in spoken))
        result["answers"]["not_transcript_only"] = rounded(
            {name: value for name, value in hit_scores(rest, outcomes).items() if name != "by_source_kind"})
    finally:
        kb.close()
    result["import"] = {"rows": report.rows, "added": report.added, "bad": report.bad,
                        "errors": [list(error) for error in report.errors], "topics_opened": report.added_topics,
                        "seconds": round(seconds, 2)}
    return result


def evaluate_questions(settings: Settings, *, workdir: Path | None = None, crawled: KnowledgeBase | None = None,
                       embedder: Any = None, key_path: Path = DEMO_KEY,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Crawl the demo (or reuse ``workdir``'s crawl, or the already crawled knowledge base ``crawled``), import
    the demo questions into a copy, and score the outcome against the key (see the module docstring).

    ``crawled`` is only read (copied); ``embedder`` is the model to share (tests), else the configured one.
    """
    began = time.perf_counter()
    key = load_key(key_path)
    say = progress or (lambda _message: None)
    with _folder(workdir) as folder:
        crawl: dict[str, Any] | None = None
        if crawled is not None:
            source, embedder = crawled.settings.instance_dir, embedder or crawled.embedder
        else:
            source, crawl = crawled_instance(settings, folder, embedder=embedder, progress=say)
        say(f"importing {DEMO_QUESTIONS.name} into a copy of the crawled demo")
        result = run_on_copy(source, settings, folder / "run", key, embedder=embedder, key_path=key_path)
    return {"dataset": "kb/demo (questions.csv, questions_key.json)", "crawl": crawl, **result,
            "seconds": round(time.perf_counter() - began, 1)}


def wrong_decisions(result: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The per-question rows whose answered-or-gap decision disagrees with the key."""
    return [row for row in result.get("questions", []) if not row["correct"]]
