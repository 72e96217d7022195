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

What is searched for a topic (decision): its title and its :data:`RECENT_QUESTIONS` most recent distinct
question wordings. The title is the canonical wording (a marketer may have edited it); recent questions
are how reps phrase it today; three searches bound the cost per topic. The most confident match over
the wordings wins.

Confidence belongs to the *first* hit of a search. When that content was rejected for the topic, the
search is run again with the rejected content left out (the same public search over indexes that see
only the remaining passages), so the next content gets a confidence of its own rather than a borrowed one.

After a crawl (``content_ids`` given) only topics near the new or changed content are searched: a topic
is skipped when every passage of that content is far from all its wordings in meaning (cosine below
:data:`NEAR_COSINE`, one matrix product on the stored question vectors), since such content is no
wording's confident first hit. Reopened topics are always searched; ``recheck_topics(kb)`` searches all.

Searching happens outside any write transaction; each topic change is written in its own short one
after re-reading the topic, so a topic a marketer changed meanwhile is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kb import topic_history
from kb.demand import as_utc
from kb.errors import ConflictError, NotFoundError
from kb.models import OPEN_STATUSES, Content, Passage, Question, Topic, TopicRejection, User, utcnow
from kb.notifications import content_link, deliver_after_commit, deliver_pending, notify_askers
from kb.search import Retrievers, clean_query, search
from kb.thresholds import answer_threshold
from kb.users import get_user

log = logging.getLogger(__name__)

SEARCH_K = 5  # hits looked at per wording: the answer content must be among them to still count
RECENT_QUESTIONS = 2  # distinct question wordings searched besides the title
ANSWERED_STATUSES = ("answered_existing", "published")
# After a crawl, a topic is searched again only when a new or changed passage is at least this close to one
# of its wordings. Measured on the demo site: every confident first hit of the 50 demo questions (23 of them
# even at a threshold of 0.2) had a cosine of 0.46 or more to its content; 0.3 keeps a wide margin and
# leaves about a third of the topics to search per changed page.
NEAR_COSINE = 0.3


@dataclass(frozen=True)
class Match:
    """The first hit of a search and the confidence that it answers the wording searched."""

    content_id: int
    passage_id: int
    confidence: float
    query: str


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


# -- searching a topic's wording ---------------------------------------------------------------------
def topic_wordings(session: Session, topic: Topic) -> list[str]:
    """The title, then the most recent distinct question texts (see the module docstring)."""
    wordings: dict[str, str] = {}
    _add_wording(wordings, topic.title)
    recent = session.scalars(
        select(Question.text).where(Question.topic_id == topic.id)
        .order_by(Question.asked_at.desc(), Question.id.desc()).limit(50)
    )
    for text in recent:
        if len(wordings) > RECENT_QUESTIONS:
            break
        _add_wording(wordings, text)
    return list(wordings.values())


def _add_wording(wordings: dict[str, str], text: str | None) -> None:
    cleaned = " ".join((text or "").split())
    if cleaned:
        wordings.setdefault(cleaned.casefold(), cleaned)


class _Restricted:
    """An index seen through a fixed set of passage ids: the public search, minus some content."""

    def __init__(self, index: Any, allowed: np.ndarray) -> None:
        self._index = index
        self._allowed = allowed

    def search(self, query: Any, k: int, *, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        mask = self._allowed if allowed is None else np.intersect1d(allowed, self._allowed)
        return self._index.search(query, k, allowed=mask)


def top_match(kb, query: str, *, exclude: Collection[int] = ()) -> Match | None:  # type: ignore[no-untyped-def]
    """The first hit for ``query`` among live content not in ``exclude``, with its own confidence."""
    response = kb.search(query, k=SEARCH_K)
    if not response.hits:
        return None
    first = response.hits[0]
    if first.content_id not in exclude:
        return Match(first.content_id, first.passage_id, response.confidence, response.query)
    return _search_without(kb, query, exclude)


def _search_without(kb, query: str, exclude: Collection[int]) -> Match | None:  # type: ignore[no-untyped-def]
    cfg = kb.settings.search
    query = clean_query(query, kb.settings.web.max_query_chars)
    dense, keyword = kb.indexes()
    with kb.sessions() as session:
        allowed = np.fromiter(session.scalars(
            select(Passage.id).join(Content, Content.id == Passage.content_id)
            .where(Content.status == "live", Content.id.not_in(list(exclude))).order_by(Passage.id)
        ), dtype=np.int64)
        if not len(allowed):
            return None
        retrievers = Retrievers(kb.embedder, _Restricted(dense, allowed), _Restricted(keyword, allowed),  # type: ignore[arg-type]
                                kb.confidence_model, cfg)
        response = search(session, retrievers, query, k=SEARCH_K)
    if not response.hits:
        return None
    first = response.hits[0]
    return Match(first.content_id, first.passage_id, response.confidence, response.query)


def best_match(kb, wordings: list[str], threshold: float,  # type: ignore[no-untyped-def]
               rejected: Collection[int] = ()) -> Match | None:
    """The most confident match over the wordings that clears ``threshold``, skipping rejected content."""
    best: Match | None = None
    for wording in wordings:
        match = top_match(kb, wording, exclude=rejected)
        if match is not None and match.confidence >= threshold and (best is None or match.confidence > best.confidence):
            best = match
    return best


def still_answers(kb, wordings: list[str], content_id: int, threshold: float) -> Match | None:  # type: ignore[no-untyped-def]
    """Whether ``content_id`` is still a confident answer to one of the wordings (the match, or None).

    It is when it is the first hit with a confidence over the threshold, or when it is among the hits and,
    with the content ranked above it left out, it is first with such a confidence of its own.
    """
    for wording in wordings:
        response = kb.search(wording, k=SEARCH_K)
        ranked = [hit.content_id for hit in response.hits]
        if content_id not in ranked:
            continue
        position = ranked.index(content_id)
        if position == 0:
            match = Match(content_id, response.hits[0].passage_id, response.confidence, response.query)
        else:
            match = _search_without(kb, wording, ranked[:position])
        if match is not None and match.content_id == content_id and match.confidence >= threshold:
            return match
    return None


def _near_content(kb, wordings: dict[int, list[str]], content_ids: Collection[int]) -> set[int]:  # type: ignore[no-untyped-def]
    """Topics with a wording close in meaning (cosine >= :data:`NEAR_COSINE`) to a passage of ``content_ids``."""
    if not wordings:
        return set()
    with kb.sessions() as session:
        rows = session.execute(
            select(Passage.embedding).join(Content, Content.id == Passage.content_id)
            .where(Content.id.in_(list(content_ids)), Content.status == "live", Passage.embedding.is_not(None))
        ).scalars().all()
        if not rows:
            return set()
        stored = _question_vectors(session, list(wordings), kb.embedder.model_name)
    passages = np.vstack([np.frombuffer(blob, dtype=np.float32) for blob in rows])
    owners = [topic_id for topic_id, texts in wordings.items() for _ in texts]
    texts = [text for texts in wordings.values() for text in texts]
    missing = sorted({text.casefold() for text in texts} - set(stored))
    if missing:  # titles a marketer edited, questions stored without a vector: embed them in one batch
        stored.update(zip(missing, kb.embedder.embed_passages(missing), strict=True))
    vectors = np.vstack([stored[text.casefold()] for text in texts])
    if vectors.shape[1] != passages.shape[1]:  # vectors of another model: no shortcut, search everything
        return set(wordings)
    best = (vectors @ passages.T).max(axis=1)
    return {topic_id for topic_id, score in zip(owners, best, strict=True) if score >= NEAR_COSINE}


def _question_vectors(session: Session, topic_ids: list[int], model: str) -> dict[str, np.ndarray]:
    """Stored vectors of the topics' questions (made by this model at intake), by case-folded wording."""
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(topic_ids), 500):
        rows = session.execute(
            select(Question.text, Question.embedding).where(
                Question.topic_id.in_(topic_ids[start:start + 500]), Question.embedding.is_not(None),
                Question.embedding_model == model)
        )
        for text, blob in rows:
            found.setdefault(" ".join(text.split()).casefold(), np.frombuffer(blob, dtype=np.float32))
    return found


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
        near = _near_content(kb, {tid: c[0] for tid, c in candidates.items()}, changed)
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
        _clear_suggestion(topic)
        gone = old is None or old.status != "live"
        reason = "content_retired" if gone else "no_longer_matches"
        topic_history.record(session, topic, "suggestion_withdrawn", old=old_title, content_id=old_content_id,
                             reason=reason)
        return _change(topic, old, None, reason)


def _clear_suggestion(topic: Topic) -> None:
    topic.suggested_content_id = None
    topic.suggested_passage_id = None
    topic.suggested_confidence = None
    topic.suggested_at = None


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


# -- a marketer's decision ---------------------------------------------------------------------------
def _pending_topic(session: Session, topic_id: int) -> Topic:
    topic = session.get(Topic, topic_id)
    if topic is None:
        raise NotFoundError(f"no topic {topic_id}")
    if topic.merged_into_id is not None:
        raise ConflictError(f"topic {topic_id} was merged into topic {topic.merged_into_id}")
    if topic.suggested_content_id is None:
        raise ConflictError(f"topic {topic_id} has no suggested answer to confirm or reject")
    return topic


def confirm_suggestion(kb, session: Session, topic_id: int, *, user: User | None = None) -> Topic:  # type: ignore[no-untyped-def]
    """Accept the suggested content as the topic's answer and notify every rep who asked.

    The status becomes ``published`` when the content first appeared after the topic was created (it was
    written for it), else ``answered_existing``. E-mails go out after ``session`` commits.
    """
    topic = _pending_topic(session, topic_id)
    content = session.get(Content, topic.suggested_content_id)
    if content is None or content.status != "live":
        raise ConflictError(f"the content suggested for topic {topic_id} is no longer online")
    passage = session.get(Passage, topic.suggested_passage_id) if topic.suggested_passage_id else None
    old_status = topic.status
    written_for_it = as_utc(content.first_seen_at) > as_utc(topic.created_at)
    topic.status = "published" if written_for_it else "answered_existing"
    topic.answer_content_id = content.id
    topic.answer_passage_id = topic.suggested_passage_id
    topic.answer_confidence = topic.suggested_confidence
    topic.closed_at = utcnow()
    _clear_suggestion(topic)
    link = content_link(content, passage.start_seconds if passage is not None else None)
    topic_history.record(session, topic, "confirmed", user=user, old=old_status, new=topic.status,
                         content_id=content.id, content_title=content.title, url=link)
    message = f'Your question "{topic.title}" has an answer: "{content.title}" {link}'
    created = notify_askers(session, topic, "answered", message, content_id=content.id)
    deliver_after_commit(kb, session, created)
    return topic


def reject_suggestion(kb, session: Session, topic_id: int, *, user: User | None = None) -> Topic:  # type: ignore[no-untyped-def]
    """The suggested content does not answer the topic: remember that and clear the suggestion."""
    topic = _pending_topic(session, topic_id)
    content_id = topic.suggested_content_id
    content = session.get(Content, content_id)
    if session.scalar(select(TopicRejection.id).where(TopicRejection.topic_id == topic.id,
                                                      TopicRejection.content_id == content_id)) is None:
        session.add(TopicRejection(topic_id=topic.id, content_id=content_id, user_id=user.id if user else None))
    _clear_suggestion(topic)
    topic_history.record(session, topic, "rejected", user=user, old=content.title if content else None,
                         content_id=content_id)
    session.flush()
    return topic


# -- what the CLI and API call -----------------------------------------------------------------------
def decide_suggestion(kb, topic_id: int, decision: str, *, user_email: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Confirm or reject a topic's suggestion as ``user_email`` (unknown e-mail: not found); the topic as a dict."""
    if decision not in ("confirm", "reject"):
        raise ValueError(f"unknown decision {decision!r}")
    with kb.transaction() as session:
        user = get_user(session, user_email) if user_email else None
        act = confirm_suggestion if decision == "confirm" else reject_suggestion
        topic = act(kb, session, topic_id, user=user)
        return loop_topic_dict(session, topic)


def loop_topic_dict(session: Session, topic: Topic) -> dict[str, Any]:
    """The topic fields the loop touches, with demand per source (asked by reps vs searched)."""

    def content_dict(content_id: int | None, passage_id: int | None, confidence: float | None) -> Any:
        content = session.get(Content, content_id) if content_id else None
        if content is None:
            return None
        passage = session.get(Passage, passage_id) if passage_id else None
        return {"content_id": content.id, "title": content.title, "status": content.status,
                "link": content_link(content, passage.start_seconds if passage is not None else None),
                "passage_id": passage_id, "confidence": None if confidence is None else round(confidence, 4)}

    return {
        "id": topic.id,
        "title": topic.title,
        "status": topic.status,
        "ask_count": topic.ask_count,
        "rep_count": topic.rep_count,
        "search_count": topic.search_count,
        "suggestion": content_dict(topic.suggested_content_id, topic.suggested_passage_id,
                                   topic.suggested_confidence),
        "answer": content_dict(topic.answer_content_id, topic.answer_passage_id, topic.answer_confidence),
        "closed_at": topic.closed_at.isoformat() if topic.closed_at else None,
    }
