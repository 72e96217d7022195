"""Closing the loop: after a crawl, open topics are re-matched and answered topics re-checked.

1. **Possibly answered.** Every open, non-merged topic without a pending suggestion is searched again
   (hybrid search); when the best hit clears the answer threshold and a marketer has not rejected that
   content for the topic, the topic gets a *suggestion* (content, passage, confidence, time) and a
   "suggested" history event. A marketer confirms it (the topic closes as ``answered_existing``, or
   ``published`` when the content appeared after the topic: it was written for it, and every rep who
   asked is notified) or rejects it (remembered in ``TopicRejection``: never suggested again).
2. **Reopened.** A topic closed with an answer whose content changed, was retired or is no longer live
   is re-checked: when the content is gone, or the topic's wording no longer reaches the threshold on it,
   the topic goes back to ``new`` (history "reopened" with the reason) and its askers are notified.
   A pending suggestion whose content changed or went away is re-checked the same way and withdrawn
   (or replaced) when it no longer holds.

How a topic's answer is searched for (its wordings, first-hit confidence, the after-crawl prefilter) is
:mod:`kb.answer_matching`; a marketer's confirm/reject of a suggestion is :mod:`kb.suggestion_decisions`.

After a crawl (``content_ids`` given) only topics near the new or changed content are searched
(:func:`kb.answer_matching.near_content`); reopened topics are always searched; ``recheck_topics(kb)``
searches all.

Searching happens outside any write transaction; each topic change is written in its own short one
after re-reading the topic, so a topic a marketer changed meanwhile is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kb import topic_history
from kb.answer_matching import (
    Match,
    best_match,
    near_content,
    still_answers,
    topic_wordings,
)
from kb.models import OPEN_STATUSES, Content, Topic, TopicRejection, utcnow
from kb.notifications import deliver_pending, notify_askers
from kb.suggestion_decisions import (
    clear_suggestion,
)
from kb.thresholds import answer_threshold

log = logging.getLogger(__name__)

ANSWERED_STATUSES = ("answered_existing", "published")


@dataclass(frozen=True)
class TopicChange:
    """One topic the loop changed, for the crawl summary (demand shown per source: asks vs searches)."""

    topic_id: int
    title: str
    content_id: int | None
    content_title: str | None
    confidence: float | None
    reason: str | None
    ask_count: int
    search_count: int

    def to_dict(self) -> dict[str, object]:
        return {
            "topic_id": self.topic_id,
            "title": self.title,
            "content_id": self.content_id,
            "content_title": self.content_title,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "reason": self.reason,
            "ask_count": self.ask_count,
            "search_count": self.search_count,
        }


@dataclass
class LoopReport:
    checked: int = 0  # topics re-matched or re-checked
    suggested: list[TopicChange] = field(default_factory=list)
    reopened: list[TopicChange] = field(default_factory=list)
    withdrawn: list[TopicChange] = field(default_factory=list)  # suggestions that no longer held
    notified: int = 0
    seconds: float = 0.0

    @property
    def suggested_ids(self) -> list[int]:
        return [change.topic_id for change in self.suggested]

    @property
    def reopened_ids(self) -> list[int]:
        return [change.topic_id for change in self.reopened]

    def summary(self) -> str:
        """One line for the crawl summary."""
        def ids(changes: list[TopicChange]) -> str:
            shown = ", ".join(f"#{c.topic_id}" for c in changes[:10])
            return f" ({shown}{', ...' if len(changes) > 10 else ''})" if changes else ""

        return (f"answer loop: {self.checked} topics checked, {len(self.suggested)} possibly answered"
                f"{ids(self.suggested)}, {len(self.reopened)} reopened{ids(self.reopened)}"
                + (f", {len(self.withdrawn)} suggestions withdrawn" if self.withdrawn else ""))

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "suggested": len(self.suggested),
            "reopened": len(self.reopened),
            "withdrawn": len(self.withdrawn),
            "notified": self.notified,
            "suggested_topics": [change.to_dict() for change in self.suggested],
            "reopened_topics": [change.to_dict() for change in self.reopened],
            "withdrawn_topics": [change.to_dict() for change in self.withdrawn],
            "seconds": round(self.seconds, 2),
        }


# -- the re-check ------------------------------------------------------------------------------------
def recheck_topics(kb, *, content_ids: Collection[int] | None = None) -> LoopReport:  # type: ignore[no-untyped-def]
    """Re-match open topics and re-check answered ones; ``content_ids``: what a crawl added, changed or retired."""
    started = time.perf_counter()
    report = LoopReport()
    changed = None if content_ids is None else set(content_ids)
    if changed is not None and not changed:
        return report
    threshold = answer_threshold(kb.settings.questions, kb.confidence_model)
    notifications: list[int] = []
    checked: set[int] = set()
    retry: set[int] = set()  # reopened topics: searched for another answer whatever the prefilter says

    # 1. Topics closed with an answer whose content changed or went away.
    for topic_id, content_id, wordings, live in _answered_to_check(kb, changed):
        checked.add(topic_id)
        reason = None if live else "answer_retired"
        if live and still_answers(kb, wordings, content_id, threshold) is None:
            reason = "answer_no_longer_matches"
        if reason is None:
            continue
        change, created = _reopen(kb, topic_id, content_id, reason)
        if change is not None:
            report.reopened.append(change)
            notifications += created
            retry.add(topic_id)

    # 2. Pending suggestions whose content changed or went away: keep, replace or withdraw.
    for topic_id, content_id, wordings, rejected, live in _suggestions_to_check(kb, changed):
        checked.add(topic_id)
        if live and still_answers(kb, wordings, content_id, threshold) is not None:
            continue
        replacement = best_match(kb, wordings, threshold, rejected)
        change = _replace_suggestion(kb, topic_id, content_id, replacement, threshold)
        if change is not None:
            (report.suggested if change.reason == "suggestion_replaced" else report.withdrawn).append(change)

    # 3. Open topics without a suggestion.
    candidates = _open_topics(kb)
    if changed is not None:
        near = near_content(kb, {tid: c[0] for tid, c in candidates.items()}, changed)
        candidates = {tid: c for tid, c in candidates.items() if tid in near or tid in retry}
    for topic_id, (wordings, rejected) in candidates.items():
        checked.add(topic_id)
        match = best_match(kb, wordings, threshold, rejected)
        if match is None:
            continue
        change = _suggest(kb, topic_id, match, threshold)
        if change is not None:
            report.suggested.append(change)

    report.checked = len(checked)
    report.notified = len(notifications)
    if notifications:
        deliver_pending(kb, notifications)  # after every transaction above has committed
    report.seconds = time.perf_counter() - started
    if report.suggested or report.reopened or report.withdrawn:
        log.info("answer loop: %d checked, %d suggested, %d reopened, %d withdrawn", report.checked,
                 len(report.suggested), len(report.reopened), len(report.withdrawn))
    return report


def _answered_to_check(kb, changed: set[int] | None) -> list[tuple[int, int, list[str], bool]]:  # type: ignore[no-untyped-def]
    """Topics closed with an answer whose content is in ``changed`` or no longer live (all when None)."""
    with kb.sessions() as session:
        stmt = _with_content_state(
            select(Topic, Content.status).outerjoin(Content, Content.id == Topic.answer_content_id)
            .where(Topic.status.in_(ANSWERED_STATUSES), Topic.answer_content_id.is_not(None),
                   Topic.merged_into_id.is_(None)),
            Topic.answer_content_id, changed)
        return [(topic.id, topic.answer_content_id, topic_wordings(session, topic), status == "live")
                for topic, status in session.execute(stmt.order_by(Topic.id)).all()]


def _suggestions_to_check(kb, changed: set[int] | None) -> list[tuple[int, int, list[str], set[int], bool]]:  # type: ignore[no-untyped-def]
    """Open topics with a pending suggestion whose content is in ``changed`` or no longer live."""
    with kb.sessions() as session:
        stmt = _with_content_state(
            select(Topic, Content.status).outerjoin(Content, Content.id == Topic.suggested_content_id)
            .where(Topic.status.in_(OPEN_STATUSES), Topic.suggested_content_id.is_not(None),
                   Topic.merged_into_id.is_(None)),
            Topic.suggested_content_id, changed)
        return [(topic.id, topic.suggested_content_id, topic_wordings(session, topic), _rejected(session, topic.id),
                 status == "live")
                for topic, status in session.execute(stmt.order_by(Topic.id)).all()]


def _with_content_state(stmt: Any, column: Any, changed: set[int] | None) -> Any:
    if changed is None:
        return stmt
    return stmt.where(or_(column.in_(list(changed)), Content.status.is_(None), Content.status != "live"))


def _open_topics(kb) -> dict[int, tuple[list[str], set[int]]]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        topics = session.scalars(
            select(Topic).where(Topic.status.in_(OPEN_STATUSES), Topic.merged_into_id.is_(None),
                                Topic.suggested_content_id.is_(None)).order_by(Topic.id)
        )
        rejections: dict[int, set[int]] = {}
        for topic_id, content_id in session.execute(select(TopicRejection.topic_id, TopicRejection.content_id)):
            rejections.setdefault(topic_id, set()).add(content_id)
        return {topic.id: (topic_wordings(session, topic), rejections.get(topic.id, set())) for topic in topics}


def _rejected(session: Session, topic_id: int) -> set[int]:
    return set(session.scalars(select(TopicRejection.content_id).where(TopicRejection.topic_id == topic_id)))


def _change(topic: Topic, content: Content | None, confidence: float | None, reason: str | None) -> TopicChange:
    return TopicChange(topic.id, topic.title, content.id if content else None, content.title if content else None,
                       confidence, reason, topic.ask_count, topic.search_count)


def _suggest(kb, topic_id: int, match: Match, threshold: float) -> TopicChange | None:  # type: ignore[no-untyped-def]
    with kb.transaction() as session:
        topic = session.get(Topic, topic_id)
        # Re-read: a marketer may have closed, merged or been given a suggestion meanwhile.
        if topic is None or not topic.is_open or topic.suggested_content_id is not None:
            return None
        if match.content_id in _rejected(session, topic_id):
            return None
        content = session.get(Content, match.content_id)
        if content is None or content.status != "live":
            return None
        _set_suggestion(session, topic, content, match, threshold)
        return _change(topic, content, match.confidence, "confident_match")


def _set_suggestion(session: Session, topic: Topic, content: Content, match: Match, threshold: float,
                    old: str | None = None) -> None:
    topic.suggested_content_id = content.id
    topic.suggested_passage_id = match.passage_id
    topic.suggested_confidence = match.confidence
    topic.suggested_at = utcnow()
    topic_history.record(session, topic, "suggested", old=old, new=content.title, content_id=content.id,
                         passage_id=match.passage_id, url=content.canonical_url,
                         confidence=round(match.confidence, 4), threshold=round(threshold, 4), query=match.query)


def _replace_suggestion(kb, topic_id: int, old_content_id: int, match: Match | None,  # type: ignore[no-untyped-def]
                        threshold: float) -> TopicChange | None:
    with kb.transaction() as session:
        topic = session.get(Topic, topic_id)
        if topic is None or not topic.is_open or topic.suggested_content_id != old_content_id:
            return None
        old = session.get(Content, old_content_id)
        old_title = old.title if old is not None else None
        content = session.get(Content, match.content_id) if match is not None else None
        if match is not None and content is not None and content.status == "live":
            if content.id == old_content_id:  # still the answer after all (another wording carried it)
                return None
            _set_suggestion(session, topic, content, match, threshold, old=old_title)
            return _change(topic, content, match.confidence, "suggestion_replaced")
        clear_suggestion(topic)
        gone = old is None or old.status != "live"
        reason = "content_retired" if gone else "no_longer_matches"
        topic_history.record(session, topic, "suggestion_withdrawn", old=old_title, content_id=old_content_id,
                             reason=reason)
        return _change(topic, old, None, reason)


def _reopen(kb, topic_id: int, content_id: int, reason: str) -> tuple[TopicChange | None, list[int]]:  # type: ignore[no-untyped-def]
    with kb.transaction() as session:
        topic = session.get(Topic, topic_id)
        if topic is None or topic.status not in ANSWERED_STATUSES or topic.answer_content_id != content_id:
            return None, []
        content = session.get(Content, content_id)
        title = content.title if content is not None else f"content #{content_id}"
        topic_history.record(session, topic, "reopened", old=topic.status, new="new", reason=reason,
                             content_id=content_id, content_title=title)
        topic.status = "new"
        topic.closed_at = None
        topic.answer_content_id = topic.answer_passage_id = topic.answer_confidence = None
        why = "is no longer online" if reason == "answer_retired" else "changed and no longer answers it"
        message = (f'Your question "{topic.title}" is open again: the content that answered it, "{title}", {why}. '
                   "Marketing has it back on the backlog.")
        created = notify_askers(session, topic, "reopened", message, content_id=content_id)
        return _change(topic, content, None, reason), [n.id for n in created]

