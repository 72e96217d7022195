"""What one crawl run indexed from recordings: timed passages, seconds of media, caption cues kept, failures.

Read back from what the crawl stored, so it describes the real run and costs no second pass: the timed
passages (:class:`kb.models.Passage` with a start second) of the contents the run logged, and the run's
:class:`kb.models.PageLog` lines -- each page with a transcript carries the transcript's note in its
``detail`` ("captions URL: kept 812 of 820 cues (8 no_speech); 14 timed passages, 9:12 of media",
written by :func:`ingest.transcripts.build_transcript`; the cue counts are read from these page lines
only, so a file is counted once), and a caption file has a line of its own (``discovered_via="captions"``)
at least when it could not be used, with its ``caption_*`` reason (:mod:`ingest.caption_fetch`).

The time of the recording pages is only partly attributable inside a whole crawl: the crawl logs each
fetch's time (``elapsed_ms``), but extraction and embedding (batched across pages) are not per URL. So the
report gives the fetch seconds of recording pages and caption files apart from the rest, and a crawl
limited to the recording pages (``kb bench media``) measures their whole cost.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import Content, PageLog, Passage

# The cue counts in a page's transcript note (ingest.transcripts._cue_note): "kept 58 of 60 cues (2 no_speech)".
_CUES_RE = re.compile(r"kept (\d+) of (\d+) cues(?: \(([^)]*)\))?")
_DROPPED_RE = re.compile(r"(\d+) ([a-z_]+)")
# The other transcript notes: "body transcript: 139 turns by 2 speakers; 101 untimed passages", "JSON-LD
# transcript: 3 untimed passages", and the captions' "...; 14 timed passages, 9:12 of media".
_SOURCES = {"captions": _CUES_RE, "body_turns": re.compile(r"body transcript: "),
            "jsonld_transcript": re.compile(r"JSON-LD transcript: ")}
_PASSAGES_RE = re.compile(r"(\d+) (timed|untimed) passages")
# Notes of a page whose recording gave no passages (ingest.transcripts.add_transcript). A page whose caption
# file failed says "captions not usable" beside the file's own caption_* line: counted apart, not twice.
_TRANSCRIPT_ERROR = "transcript not indexed"
_UNUSABLE = "captions not usable"


def _timed_passages(session: Session, content_ids: set[int]) -> dict[str, Any]:
    """Timed passages and seconds of media (each recording's last passage end) of ``content_ids``, by kind."""
    rows = session.execute(
        select(Content.id, Content.kind, func.count(Passage.id), func.max(Passage.end_seconds))
        .join(Passage, Passage.content_id == Content.id)
        .where(Passage.start_seconds.is_not(None))
        .group_by(Content.id, Content.kind)
    ).all()
    by_kind: dict[str, dict[str, float]] = {}
    for content_id, kind, passages, last_end in rows:
        if content_id not in content_ids:
            continue
        figures = by_kind.setdefault(kind, {"recordings": 0, "passages": 0, "media_seconds": 0.0})
        figures["recordings"] += 1
        figures["passages"] += passages
        figures["media_seconds"] += float(last_end or 0.0)
    return {
        "recordings": sum(int(k["recordings"]) for k in by_kind.values()),
        "passages": sum(int(k["passages"]) for k in by_kind.values()),
        "media_seconds": round(sum(k["media_seconds"] for k in by_kind.values()), 1),
        "by_kind": {kind: {**k, "media_seconds": round(k["media_seconds"], 1)} for kind, k in sorted(by_kind.items())},
    }


def cue_counts(details: list[str]) -> dict[str, Any]:
    """Caption cue blocks read, cues kept and blocks dropped by reason, summed over transcript notes."""
    files = blocks = kept = 0
    dropped: Counter[str] = Counter()
    for detail in details:
        match = _CUES_RE.search(detail)
        if match is None:
            continue
        files += 1
        kept += int(match.group(1))
        blocks += int(match.group(2))
        for count, reason in _DROPPED_RE.findall(match.group(3) or ""):
            dropped[reason] += int(count)
    return {
        "caption_files_parsed": files,
        "cue_blocks": blocks,
        "cues_kept": kept,
        "blocks_dropped": dict(dropped.most_common()),
        # as CaptionParse.kept_share: blocks not dropped (rolling repeats of auto-captions count as dropped)
        "share_of_blocks_kept": round(1 - sum(dropped.values()) / blocks, 4) if blocks else None,
    }


def transcript_counts(details: list[str]) -> dict[str, Any]:
    """Pages with a transcript by where it came from, and their transcript passages timed or not."""
    pages: Counter[str] = Counter()
    passages: Counter[str] = Counter()
    for detail in details:
        source = next((name for name, pattern in _SOURCES.items() if pattern.search(detail)), None)
        match = _PASSAGES_RE.search(detail)
        if source is None or match is None:
            continue
        pages[source] += 1
        passages[match.group(2)] += int(match.group(1))
    return {"transcript_pages": dict(pages), "transcript_passages": {"timed": passages["timed"],
                                                                     "untimed": passages["untimed"]}}


def media_report(session: Session, run_id: int) -> dict[str, Any]:
    """The recording figures of crawl run ``run_id`` (see the module docstring)."""
    logs = session.execute(
        select(PageLog.content_id, PageLog.reason, PageLog.detail, PageLog.discovered_via, PageLog.elapsed_ms)
        .where(PageLog.crawl_run_id == run_id)
    ).all()
    logged_contents = {row.content_id for row in logs if row.content_id is not None}
    timed = _timed_passages(session, logged_contents)
    recording_ids = set(session.scalars(
        select(Passage.content_id).where(Passage.start_seconds.is_not(None)).distinct()
    )) & logged_contents
    failures: Counter[str] = Counter()
    notes: list[str] = []
    page_ms = caption_ms = other_ms = unusable = 0
    for row in logs:
        detail = row.detail or ""
        if row.discovered_via == "captions":  # a caption file: its own line, with a reason when it failed
            caption_ms += row.elapsed_ms or 0
            failures.update([row.reason] if row.reason else [])
            continue
        failures.update(["transcript_error"] if _TRANSCRIPT_ERROR in detail else [])
        unusable += _UNUSABLE in detail
        if detail:
            notes.append(detail)
        if row.content_id in recording_ids or _TRANSCRIPT_ERROR in detail or _UNUSABLE in detail:
            page_ms += row.elapsed_ms or 0
        else:
            other_ms += row.elapsed_ms or 0
    return {
        **timed,
        **transcript_counts(notes),
        **cue_counts(notes),
        "failures": dict(failures.most_common()),  # caption files refused or unusable, transcripts that broke
        "pages_indexed_without_their_captions": unusable,
        # page fetches only (see the module docstring): recording pages apart from every other URL
        "fetch_seconds": {"recording_pages": page_ms / 1000, "caption_files": caption_ms / 1000,
                          "other_urls": other_ms / 1000},
    }
