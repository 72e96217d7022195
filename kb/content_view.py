"""Showing content to marketers: the content list (filtered, paged) and one item with its passages and the
questions and topics it answers.

"What does it answer" has three sources, each labelled so a marketer can tell how sure it is:

- topics whose **confirmed answer** it is (``answer_content_id``: a marketer or the loop decided),
- topics it is **suggested** for (``suggested_content_id``: waiting for a marketer to confirm or reject),
- questions it was the **best match** for when they were asked (``best_content_id``; with the decision
  and confidence of that moment: "answered" means it cleared the answer threshold).

Merged topics are left out (their questions live on the topic they were merged into).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from kb.backlog_terms import NONE
from kb.demand import as_utc
from kb.errors import NotFoundError, ValidationError
from kb.media_content import children_of
from kb.models import Content, Passage, Question, Topic
from kb.notifications import content_link
from kb.search_filters import KINDS
from kb.settings import Settings
from kb.tagging import check_tag
from kb.topic_view import MAX_ROW_ID, topic_summary

STATUSES = ("live", "retired", "all")
MAX_QUERY_CHARS = 200
MAX_PASSAGES = 500  # shown with an item (a long recording has a few hundred; the count says if there are more)
MAX_QUESTIONS = 50  # best-match questions shown with an item, newest first (the count says how many in all)


def _iso(moment: Any) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


# -- the list -------------------------------------------------------------------------------------
def _filters(settings: Settings, kind: str | None, persona: str | None, stage: str | None, status: str | None,
             q: str | None) -> dict[str, Any]:
    """Checked filter values (bad ones: ValidationError naming the valid ones)."""
    kind = (kind or "").strip().lower() or None
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    status = (status or "live").strip().lower()
    if status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
    tags: dict[str, str | None] = {}
    for name, value in (("persona", persona), ("stage", stage)):
        text = (value or "").strip()
        tags[name] = None if not text else NONE if text.lower() == NONE else check_tag(settings, name, text)  # type: ignore[arg-type]
    q = " ".join((q or "").split()) or None
    if q is not None and len(q) > MAX_QUERY_CHARS:
        raise ValidationError(f"q is longer than {MAX_QUERY_CHARS} characters")
    return {"kind": kind, "status": status, "q": q, **tags}


def _query(filters: dict[str, Any]) -> Select[tuple[Content]]:
    stmt = select(Content)
    if filters["kind"]:
        stmt = stmt.where(Content.kind == filters["kind"])
    if filters["status"] != "all":
        stmt = stmt.where(Content.status == filters["status"])
    for column, value in ((Content.persona, filters["persona"]), (Content.stage, filters["stage"])):
        if value == NONE:
            stmt = stmt.where(column.is_(None))
        elif value is not None:
            stmt = stmt.where(column == value)
    if filters["q"]:
        pattern = "%" + filters["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Content.title.ilike(pattern, escape="\\"),
                              Content.canonical_url.ilike(pattern, escape="\\")))
    return stmt


def content_row(content: Content, passages: int = 0, answers: int = 0) -> dict[str, Any]:
    """One content item as a list row."""
    return {
        "id": content.id, "title": content.title, "kind": content.kind, "url": content.canonical_url,
        "site": content.site.name if content.site is not None else None, "status": content.status,
        "persona": content.persona, "stage": content.stage, "authors": list(content.authors or []),
        "persona_source": content.persona_source, "stage_source": content.stage_source,
        "persona_confidence": content.persona_confidence, "stage_confidence": content.stage_confidence,
        "published_at": _iso(content.published_at), "modified_at": _iso(content.modified_at),
        "first_seen_at": _iso(content.first_seen_at), "passage_count": passages, "answers_topics": answers,
    }


def content_page(kb, *, kind: str | None = None, persona: str | None = None,  # type: ignore[no-untyped-def]
                 stage: str | None = None, status: str | None = None, q: str | None = None,
                 limit: int, offset: int = 0) -> dict[str, Any]:
    """One page of content, newest first, with the total the filters match and the filters as understood."""
    filters = _filters(kb.settings, kind, persona, stage, status, q)
    base = _query(filters)
    with kb.sessions() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        newest = func.coalesce(Content.published_at, Content.first_seen_at)
        items = list(session.scalars(base.options(selectinload(Content.site)).order_by(newest.desc(), Content.id.desc())
                                     .limit(max(1, limit)).offset(max(0, offset))))
        ids = [c.id for c in items]
        passages = dict(session.execute(select(Passage.content_id, func.count()).where(Passage.content_id.in_(ids))
                                        .group_by(Passage.content_id)).all())
        answers = dict(session.execute(select(Topic.answer_content_id, func.count())
                                       .where(Topic.answer_content_id.in_(ids), Topic.merged_into_id.is_(None))
                                       .group_by(Topic.answer_content_id)).all())
        rows = [content_row(c, passages.get(c.id, 0), answers.get(c.id, 0)) for c in items]
    return {"contents": rows, "total": total, "filters": filters,
            "choices": {"kinds": list(KINDS), "personas": [t.name for t in kb.settings.personas],
                        "stages": [t.name for t in kb.settings.stages], "statuses": list(STATUSES)}}


# -- one item -------------------------------------------------------------------------------------
def _passage_dict(content: Content, passage: Passage) -> dict[str, Any]:
    return {"id": passage.id, "ordinal": passage.ordinal, "heading_path": list(passage.heading_path or []),
            "text": passage.text, "start_seconds": passage.start_seconds, "end_seconds": passage.end_seconds,
            "url": content_link(content, passage.start_seconds)}


def _answered(session: Session, content_id: int) -> dict[str, Any]:
    topics = session.scalars(
        select(Topic).where(Topic.merged_into_id.is_(None),
                            or_(Topic.answer_content_id == content_id, Topic.suggested_content_id == content_id))
        .options(selectinload(Topic.owner)).order_by(Topic.priority.desc(), Topic.id))
    asked = select(Question).where(Question.best_content_id == content_id)
    questions = session.scalars(asked.options(selectinload(Question.asked_by))
                                .order_by(Question.asked_at.desc(), Question.id.desc()).limit(MAX_QUESTIONS))
    return {
        "topics": [{**topic_summary(t), "relation": "answer" if t.answer_content_id == content_id else "suggested",
                    "confidence": t.answer_confidence if t.answer_content_id == content_id else t.suggested_confidence}
                   for t in topics],
        "questions": [{"id": q.id, "text": q.text, "asked_at": _iso(q.asked_at),
                       "asked_by": q.asked_by.email if q.asked_by is not None else None, "company": q.company,
                       "decision": q.decision, "confidence": round(q.confidence or 0.0, 4), "topic_id": q.topic_id}
                      for q in questions],
        "question_total": session.scalar(select(func.count()).select_from(asked.subquery())) or 0,
    }


def _media(session: Session, content: Content) -> dict[str, Any]:
    """The item's player, the post it is embedded in, and the recordings it embeds (kb.media_content)."""
    parent = session.get(Content, content.parent_content_id) if content.parent_content_id else None
    return {
        "media_url": content.media_url, "media_platform": content.media_platform,
        "parent": ({"id": parent.id, "title": parent.title, "url": parent.canonical_url, "status": parent.status}
                   if parent is not None else None),
        "embedded": [{"id": child.id, "title": child.title, "kind": child.kind, "url": child.canonical_url,
                      "media_platform": child.media_platform, "status": child.status}
                     for child in children_of(session, content.id, live_only=True)],
    }


def content_details(kb, content_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything about one content item: metadata, passages, and what it answers (see the module docstring)."""
    with kb.sessions() as session:
        content = session.get(Content, content_id) if 0 < content_id <= MAX_ROW_ID else None
        if content is None:
            raise NotFoundError(f"no content {content_id}")
        passages = session.scalars(select(Passage).where(Passage.content_id == content.id)
                                   .order_by(Passage.ordinal, Passage.id).limit(MAX_PASSAGES))
        passage_count = session.scalar(select(func.count()).select_from(Passage)
                                       .where(Passage.content_id == content.id)) or 0
        answers = _answered(session, content.id)
        answering = sum(1 for topic in answers["topics"] if topic["relation"] == "answer")
        return {
            **content_row(content, passage_count, answering),
            "description": content.description, "tags": list(content.tags or []), "language": content.language,
            "changed_at": _iso(content.changed_at), "last_fetched_at": _iso(content.last_fetched_at),
            "retired_at": _iso(content.retired_at), "aliases": [alias.url for alias in content.aliases],
            "passages": [_passage_dict(content, p) for p in passages],
            "answers": answers,
            **_media(session, content),
        }
