"""`kb bench usage`: how long the usage reports take at a million events, read raw and from roll-ups.

Builds a throwaway knowledge base (SQLite in a temporary folder, never the instance's) with real-ish rows:
content items tagged with personas and stages, reps, questions in topics, and ``events`` usage events over
:data:`SPAN_DAYS` days ending yesterday (searches with 10 results each, clicks, copies, sends, feedback,
prospect opens; popular content used more, as in life: a Zipf-like draw). Then it times every report over
a 90-day window on the raw events, rolls the days up (timed), times the reports again, and checks both
give the same rows; also the time the search's usage lift adds (kb.usage_signal, 100 candidates). No model
is loaded: reports and roll-ups never need it.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from kb.models import Content, Question, Site, Topic, UsageEvent, User
from kb.settings import load_settings
from kb.usage_counts import ReportWindow, day_start, utc_today
from kb.usage_reports import rep_leaderboard, scorecard, stale_content, top_content, unused_content, usage_by_cell
from kb.usage_rollup import roll_up

SPAN_DAYS = 120
CONTENTS = 2000
USERS = 60
QUESTIONS = 3000
BATCH = 20_000
# Share of each kind among the events (searches carry the impressions).
KIND_MIX = (("search", 0.40), ("click", 0.25), ("copy_link", 0.08), ("copy_passage", 0.08), ("sent", 0.08),
            ("feedback", 0.04), ("link_visit", 0.07))


def _seed_rows(kb, rng: random.Random) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    """Site, content, users, topics and questions; (content ids, user ids)."""
    personas = ("it-security", "finance", "procurement", "operations", None)
    stages = ("attract", "engage", "delight", None)
    now = datetime.now(UTC)
    with kb.transaction() as s:
        site = Site(name="bench", base_url="https://bench.test/")
        s.add(site)
        s.flush()
        s.execute(insert(Content), [
            {"site_id": site.id, "canonical_url": f"https://bench.test/p/{i}", "kind": rng.choice(("blog", "page",
             "case_study", "video")), "title": f"Bench page {i}", "content_hash": f"h{i}",
             "persona": rng.choice(personas), "stage": rng.choice(stages),
             "published_at": now - timedelta(days=rng.randint(1, 1500)), "first_seen_at": now - timedelta(days=200),
             "changed_at": now - timedelta(days=200)} for i in range(CONTENTS)])
        s.execute(insert(User), [{"email": f"rep{i}@bench.test", "name": f"Rep {i}", "role": "rep"}
                                 for i in range(USERS)])
        content_ids = [cid for (cid,) in s.execute(Content.__table__.select().with_only_columns(Content.id))]
        user_ids = [uid for (uid,) in s.execute(User.__table__.select().with_only_columns(User.id))]
        s.execute(insert(Topic), [{"title": f"Topic {i}", "answer_content_id": rng.choice(content_ids)
                                   if i % 3 == 0 else None} for i in range(QUESTIONS // 4)])
        topic_ids = [tid for (tid,) in s.execute(Topic.__table__.select().with_only_columns(Topic.id))]
        s.execute(insert(Question), [
            {"text": f"Question {i}", "asked_by_id": rng.choice(user_ids), "topic_id": rng.choice(topic_ids),
             "asked_at": now - timedelta(days=rng.randint(0, SPAN_DAYS)), "dedup_key": f"q{i}",
             "decision": "answered" if i % 2 else "gap",
             "best_content_id": rng.choice(content_ids) if i % 2 else None} for i in range(QUESTIONS)])
    return content_ids, user_ids


def _insert_events(kb, count: int, content_ids: list[int], user_ids: list[int],  # type: ignore[no-untyped-def]
                   rng: random.Random) -> None:
    kinds = [kind for kind, _ in KIND_MIX]
    weights = [share for _, share in KIND_MIX]
    popularity = [1.0 / (rank + 1) ** 0.8 for rank in range(len(content_ids))]  # Zipf-like: a few items dominate
    start = day_start(utc_today() - timedelta(days=SPAN_DAYS))
    span = SPAN_DAYS * 86400
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        drawn = rng.choices(kinds, weights, k=size)
        targets = rng.choices(content_ids, popularity, k=size * 10)
        rows: list[dict[str, Any]] = []
        for i, kind in enumerate(drawn):
            row: dict[str, Any] = {"kind": kind, "at": start + timedelta(seconds=rng.randrange(span)),
                                   "user_id": rng.choice(user_ids), "content_id": None, "query": None, "detail": {}}
            if kind == "search":
                row["query"] = "bench query"
                row["detail"] = {"filters": {}, "results": list(dict.fromkeys(targets[i * 10:i * 10 + 10]))}
            else:
                row["content_id"] = targets[i * 10]
            rows.append(row)
        with kb.transaction() as s:
            s.execute(UsageEvent.__table__.insert(), rows)  # Core executemany: one statement per batch
        done += size


def _time_reports(kb, window: ReportWindow) -> tuple[dict[str, float], dict[str, Any]]:  # type: ignore[no-untyped-def]
    builders = {
        "scorecard": lambda: scorecard(kb, window, limit=10_000),
        "unused": lambda: unused_content(kb, window, limit=10_000),
        "stale": lambda: stale_content(kb, window=window, limit=10_000),
        "top_by_persona": lambda: top_content(kb, window),
        "usage_by_cell": lambda: usage_by_cell(kb, window),
        "leaderboard": lambda: rep_leaderboard(kb, window, limit=10_000),
    }
    seconds, results = {}, {}
    for name, build in builders.items():
        began = time.perf_counter()
        results[name] = build()
        seconds[name] = round(time.perf_counter() - began, 3)
    return seconds, results


def _time_signal(kb, content_ids: list[int], rng: random.Random) -> float:  # type: ignore[no-untyped-def]
    """Mean milliseconds of the search's usage lift for 100 candidate contents (what one search adds)."""
    from kb.usage_signal import usage_boosts

    runs = 20
    with kb.sessions() as session:
        began = time.perf_counter()
        for _ in range(runs):
            usage_boosts(session, rng.sample(content_ids, 100), 0.02)
    return round((time.perf_counter() - began) * 1000 / runs, 1)


def bench_usage(*, events: int = 1_000_000, seed: int = 7, workdir: Path | None = None) -> dict[str, Any]:
    """Build the KB (in a temporary folder under ``workdir``), time the reports raw, roll up (timed), time them
    again; the figures as a dict."""
    from kb.knowledge_base import KnowledgeBase

    rng = random.Random(seed)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kb-bench-usage-", dir=workdir) as folder:
        bench_settings = load_settings(None, env={}, overrides={"instance_path": folder})
        kb = KnowledgeBase(bench_settings)
        try:
            began = time.perf_counter()
            content_ids, user_ids = _seed_rows(kb, rng)
            _insert_events(kb, events, content_ids, user_ids, rng)
            insert_seconds = time.perf_counter() - began
            window = ReportWindow.last(90)
            raw_seconds, raw_results = _time_reports(kb, window)
            raw_signal = _time_signal(kb, content_ids, rng)
            rollup = roll_up(kb)
            rolled_seconds, rolled_results = _time_reports(kb, window)
            rolled_signal = _time_signal(kb, content_ids, rng)
            size = sum(path.stat().st_size for path in Path(folder).glob("kb.sqlite*"))
        finally:
            kb.close()
    return {
        "events": events, "contents": CONTENTS, "users": USERS, "questions": QUESTIONS, "span_days": SPAN_DAYS,
        "window_days": window.days, "insert_seconds": round(insert_seconds, 1),
        "database_mib": round(size / 2**20, 1), "rollup": rollup.to_dict(),
        "raw_seconds": raw_seconds, "rolled_up_seconds": rolled_seconds,
        "search_usage_signal_ms": {"raw": raw_signal, "rolled_up": rolled_signal},
        "same_results": raw_results == rolled_results, "sqlite": bench_settings.database_url.startswith("sqlite")
    }
