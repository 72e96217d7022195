"""After a crawl: which contents the run added, changed or retired, and the answer loop's re-check of open
and answered topics against them (:func:`kb.answer_loop.recheck_topics`).

Separate from the crawler (:mod:`ingest.crawler`): the crawl is complete and committed before this runs,
and a failure here is a warning on the summary, never a failed crawl.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ingest.crawl_summary import CrawlSummary
from kb.answer_loop import LoopReport, recheck_topics
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


def close_the_loop(kb: KnowledgeBase, summary: CrawlSummary) -> LoopReport | None:
    """Re-match open topics and re-check answered ones against what this crawl changed.

    The crawl itself is complete and committed by now: a failure here is reported as a warning on the
    summary (and logged), never as a failed crawl; ``kb topics recheck`` runs the same check again.
    """
    content_ids = changed_contents(kb, summary.run_id)
    if not content_ids:
        return LoopReport()
    try:
        return recheck_topics(kb, content_ids=content_ids)
    except Exception as exc:
        log.exception("answer loop after crawl run %s failed", summary.run_id)
        summary.warnings.append(f"answer loop failed ({type(exc).__name__}: {exc}); run `kb topics recheck`")
        return None

