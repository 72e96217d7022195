"""`kb bench questions`: question intake latency and bulk import speed on the demo knowledge base.

1. The demo site is served on 127.0.0.1 and crawled into a fresh knowledge base (as ``kb demo`` does),
   in a work folder; a copy of that crawl is kept for the import, so both measure the same content.
2. **Intake**: :func:`kb.questions.submit_question` is timed warm, in process, over the 50 demo
   questions repeated (each repeat is a new ask: a new time, so it joins the topic the first opened);
   one untimed question first loads the model, the indexes and the caches.
3. **Import**: a CSV of ``rows`` questions is generated from the demo questions (varied askers, dates,
   companies, deal stages, sources and small wording variations: greetings, sign-offs, case) and
   :func:`kb.question_import.import_questions` is timed on it: rows/s, total seconds, distinct wordings,
   peak RSS during the import (the process's high-water mark is reset first where Linux allows it).

The crawl needs the ingest package, which ``kb`` never imports: the caller passes ``crawl``.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from kb import embedding
from kb.demo.session import DEMO_QUESTIONS, demo_knowledge_base
from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings

COLUMNS = ("question", "asked_by", "asked_at", "persona", "stage", "company", "deal_stage", "source")
_PREFIXES = ("", "", "Quick question: ", "Prospect asks: ", "Hi team, ", "From today's call: ",
             "Customer wants to know: ", "Follow-up from the demo: ")
_SUFFIXES = ("", "", " Thanks!", " They need to know this week.", " (asked on the demo call)",
             " Any content on this?", " Need an answer for the security review.")
_DEAL_STAGES = ("discovery", "demo", "evaluation", "security review", "negotiation", "renewal")
_SOURCES = ("slack", "email", "call", "chat", "rfp", "crm")
_COMPANY_A = ("Alder", "Bluefin", "Cobalt", "Driftwood", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
              "Kestrel", "Larch", "Meridian", "Northgate", "Orchard", "Pinecrest", "Quarry", "Redwood", "Saltmarsh",
              "Tessera")
_COMPANY_B = ("Foods", "Freight", "Clinics", "Media", "Robotics", "Energy", "Schools", "Outfitters", "Analytics",
              "Logistics")


def read_demo_questions(path: Path = DEMO_QUESTIONS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def vary(question: str, rng: random.Random) -> str:
    """A small wording variation a rep might type: a greeting, a sign-off, the first letter's case."""
    prefix, suffix = rng.choice(_PREFIXES), rng.choice(_SUFFIXES)
    body = question[0].lower() + question[1:] if prefix.endswith((", ", ": ")) and rng.random() < 0.7 else question
    if rng.random() < 0.15:
        body = body.rstrip("?")
    return f"{prefix}{body}{suffix}"


def generate_rows(base: Sequence[dict[str, str]], count: int, *, seed: int = 0, reps: int = 60,
                  companies: int = 150, start: datetime | None = None) -> list[dict[str, str]]:
    """``count`` CSV rows drawn from ``base`` (the demo questions) with varied context and wording."""
    rng = random.Random(seed)
    start = start or datetime(2026, 7, 1, tzinfo=UTC)
    people = [f"rep{i:03d}@fernbrook.example" for i in range(reps)]
    firms = [f"{a} {b}" for a in _COMPANY_A for b in _COMPANY_B][:companies]
    rows = []
    for _ in range(count):
        row = rng.choice(base)
        asked = start + timedelta(seconds=rng.randrange(120 * 86400))
        rows.append({
            "question": vary(row["question"], rng),
            "asked_by": rng.choice(people),
            "asked_at": asked.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "persona": row.get("persona", "") if rng.random() < 0.6 else "",
            "stage": row.get("stage", "") if rng.random() < 0.4 else "",
            "company": rng.choice(firms),
            "deal_stage": rng.choice(_DEAL_STAGES),
            "source": rng.choice(_SOURCES),
        })
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(array, 50)), 2), "p95": round(float(np.percentile(array, 95)), 2),
            "p99": round(float(np.percentile(array, 99)), 2), "mean": round(float(array.mean()), 2),
            "max": round(float(array.max()), 2)}


def _rss_mib(field_name: str) -> float | None:
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MiB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def time_asks(kb: KnowledgeBase, questions: Sequence[dict[str, str]], repeats: int) -> dict[str, Any]:
    """Warm, in-process latency of :func:`submit_question` over ``questions`` asked ``repeats`` times."""
    from kb.question_input import QuestionInput
    from kb.questions import submit_question

    submit_question(kb, QuestionInput("Do you have a status page for outages?", asked_by="warmup@fernbrook.example"))
    timings, decisions = [], {"answered": 0, "gap": 0}
    for _ in range(repeats):
        for row in questions:
            began = time.perf_counter()
            result = submit_question(kb, QuestionInput(
                row["question"], asked_by=row["asked_by"], persona=row.get("persona") or None,
                stage=row.get("stage") or None, company=row.get("company") or None,
                deal_stage=row.get("deal_stage") or None, source="bench"))
            timings.append((time.perf_counter() - began) * 1000)
            decisions[result.decision] += 1
    return {"asks": len(timings), "questions": len(questions), "repeats": repeats,
            "latency_ms": _percentiles(timings), "decisions": decisions}


def time_import(kb: KnowledgeBase, path: Path) -> dict[str, Any]:
    """Seconds, rows/s and peak RSS of one :func:`import_questions` run (warm model and indexes)."""
    from kb.question_import import import_questions

    kb.search("warm up the model and the indexes", k=3)
    rss_before = _rss_mib("VmRSS")
    reset = _reset_peak_rss()
    began = time.perf_counter()
    report = import_questions(kb, path)
    seconds = time.perf_counter() - began
    peak = _rss_mib("VmHWM") if reset else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {
        "rows": report.rows, "added": report.added, "already_present": report.already_present, "bad": report.bad,
        "topics_opened": report.added_topics, "answered": report.answered, "gaps": report.gaps,
        "distinct_wordings": report.distinct_texts, "seconds": round(seconds, 2),
        "rows_per_second": round(report.rows / seconds, 1) if seconds else None,
        "rss_before_mib": rss_before, "peak_rss_mib": peak,
        "peak_rss_scope": "import only" if reset else "whole process",
    }


def bench_questions(
    settings: Settings,
    crawl: Callable[[KnowledgeBase, str], Any],
    *,
    repeats: int = 4,
    rows: int = 10_000,
    seed: int = 0,
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Crawl the demo site, time intake and a ``rows``-row import (see the module docstring)."""
    from kb.demo.server import DemoSiteServer

    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kb-bench-questions-"))
    folder.mkdir(parents=True, exist_ok=True)
    base = read_demo_questions()
    result: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    # One model for all three knowledge bases, from the configured instance (exported there once).
    embedder = embedding.load_embedder(settings.embedding, settings.instance_dir / "models")
    try:
        with DemoSiteServer() as site:
            progress(f"crawling the demo site into {folder} ...")
            demo = demo_knowledge_base(replace(settings, instance_path=str(folder.resolve())), site.base_url)
            kb = KnowledgeBase(demo.settings, embedder=embedder)
            began = time.perf_counter()
            crawl(kb, "demo")
            result["crawl_seconds"] = round(time.perf_counter() - began, 1)
            kb.close()
        demo_dir = folder / "demo"
        import_dir = folder / "import"
        shutil.rmtree(import_dir, ignore_errors=True)
        shutil.copytree(demo_dir, import_dir)

        progress(f"timing {repeats} x {len(base)} questions ...")
        kb = KnowledgeBase(replace(kb.settings, instance_path=str(demo_dir)), embedder=embedder)
        result["embedder"] = kb.embedder.model_name
        result["intake"] = time_asks(kb, base, repeats)
        kb.close()

        progress(f"generating and importing {rows:,} rows ...")
        path = write_csv(folder / "questions-bench.csv", generate_rows(base, rows, seed=seed))
        kb = KnowledgeBase(replace(kb.settings, instance_path=str(import_dir)), embedder=embedder)
        result["import"] = time_import(kb, path)
        kb.close()
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["cores"] = os.cpu_count()
    return result
