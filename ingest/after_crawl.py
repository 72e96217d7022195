"""After a crawl: which contents the run added, changed or retired, their suggested persona and stage
(:func:`kb.content_tags.suggest_content_tags`), and the answer loop's re-check of open and answered topics
against them (:func:`kb.answer_loop.recheck_topics`).

Separate from the crawler (:mod:`ingest.crawler`): the crawl is complete and committed before this runs,
and a failure here is a warning on the summary, never a failed crawl.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ingest.crawl_summary import CrawlSummary
from kb.answer_loop import LoopReport, recheck_topics
from kb.content_tags import suggest_content_tags
from kb.knowledge_base import KnowledgeBase
from kb.models import PageLog

log = logging.getLogger(__name__)

# Outcomes that change what content answers: the after-crawl re-check looks at these contents.
CHANGING_OUTCOMES = ("new", "changed", "retired")


def changed_contents(kb: KnowledgeBase, run_id: int) -> set[int]:
    """Contents the crawl run added, changed or retired."""
    with kb.sessions() as session:
        return set(session.scalars(
            select(PageLog.content_id).where(PageLog.crawl_run_id == run_id, PageLog.outcome.in_(CHANGING_OUTCOMES),
                                             PageLog.content_id.is_not(None))
        ))


def tag_contents(kb: KnowledgeBase, summary: CrawlSummary, content_ids: set[int]) -> None:
    """Suggest a persona and stage for the contents the crawl added or changed (a marketer's tags stay).

    Uses the passage vectors the crawl just stored (no model call): a few milliseconds per content. A
    failure is a warning on the summary, like the answer loop's.
    """
    try:
        report = suggest_content_tags(kb, content_ids)
        log.info("content tags after crawl run %s: %s", summary.run_id, report.to_dict())
    except Exception as exc:
        log.exception("content tags after crawl run %s failed", summary.run_id)
        summary.warnings.append(f"content tag suggestions failed ({type(exc).__name__}: {exc})")


def close_the_loop(kb: KnowledgeBase, summary: CrawlSummary) -> LoopReport | None:
    """Tag the contents this crawl changed, then re-match open topics and re-check answered ones against them.

    The crawl itself is complete and committed by now: a failure here is reported as a warning on the
    summary (and logged), never as a failed crawl; ``kb topics recheck`` runs the same check again.
    """
    content_ids = changed_contents(kb, summary.run_id)
    if not content_ids:
        return LoopReport()
    tag_contents(kb, summary, content_ids)
    try:
        return recheck_topics(kb, content_ids=content_ids)
    except Exception as exc:
        log.exception("answer loop after crawl run %s failed", summary.run_id)
        summary.warnings.append(f"answer loop failed ({type(exc).__name__}: {exc}); run `kb topics recheck`")
        return None

