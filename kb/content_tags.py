"""Persona and flywheel-stage tags on content: suggested after each crawl, set by marketers.

The coverage heatmap (:mod:`kb.coverage`) and the search filters count content by persona and stage, so
every content item needs them; nobody has time to tag a whole site by hand, and a marketer's judgement
must not be undone by the next crawl. Hence two sources, stored next to each tag (``persona_source``,
``stage_source``):

- ``"suggested"``: the model's guess, made for the contents a crawl added or changed
  (:func:`ingest.after_crawl.close_the_loop`) and for all live content when an admin changes the personas
  or stages (:mod:`kb.runtime_settings`). A new suggestion replaces an older one, and clears it when the
  new one is not convincing (the page changed, or the label it had no longer exists).
- ``"marketer"``: set on the content page or with ``PATCH /api/v1/content/<id>``; sticky (suggestions
  never touch it, "none" included) and used as evidence for later suggestions.

How a content item is scored: with :mod:`kb.tagging`'s own machinery (:func:`kb.tagging.score_labels`, the
prototypes of the configured descriptions and examples, the same temperature and floor of 0.4 below
which no tag is set), on **the stored vector of the item's first passage** — the page title plus its
first section, embedded at crawl time for search. It costs no model call: on the demo site it agreed
with the authors' own persona/stage as often as embedding title + description + the first 1,000
characters anew (about 63% each; 37 more model calls per crawl for nothing), and better than the mean of
the first 3 or all passages (later sections drift into FAQs and footers). Items without a stored vector
for the current model are embedded from their title, description and first passages (capped at
:data:`MAX_TEXT` characters). Marketer-tagged contents vote as nearest neighbours, as marketer-tagged
topics do for questions: a correction on one page teaches the pages like it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb.backlog_terms import NONE
from kb.errors import NotFoundError, ValidationError
from kb.models import Content, Passage
from kb.settings import Settings
from kb.tagging import (
    HUMAN_CONFIDENCE,
    KINDS,
    MARKETER,
    SUGGESTED,
    Prototypes,
    TaggedEvidence,
    check_tag,
    label_prototypes,
    score_labels,
)
from kb.topic_view import MAX_ROW_ID

MAX_TEXT = 1000  # characters embedded for an item without a stored passage vector


@dataclass
class ContentTagReport:
    """What one run of :func:`suggest_content_tags` did."""

    contents: int = 0  # live contents looked at
    changed: int = 0  # contents whose persona or stage changed
    with_persona: int = 0  # of those looked at, tagged with a persona afterwards (any source)
    with_stage: int = 0
    marketer_kept: int = 0  # tags left alone because a marketer set them
    embedded: int = 0  # contents without a stored vector, embedded from their text

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def tag_choices(settings: Settings) -> dict[str, list[str]]:
    """The configured persona and stage names, in order (what a form offers)."""
    return {"personas": [t.name for t in settings.personas], "stages": [t.name for t in settings.stages]}


def content_tags(content: Content) -> dict[str, Any]:
    """A content item's persona and stage with their sources and confidences."""
    return {"id": content.id, **{f"{kind}{suffix}": getattr(content, f"{kind}{suffix}")
                                 for kind in KINDS for suffix in ("", "_source", "_confidence")}}


# -- vectors --------------------------------------------------------------------------------------
def _stored_vectors(session: Session, model: str, dimension: int, ids: list[int] | None) -> dict[int, np.ndarray]:
    """The first passage's stored vector of each content (``ids`` None: every content), this model's only."""
    first = select(Passage.content_id, func.min(Passage.ordinal).label("ordinal")).group_by(Passage.content_id)
    if ids is not None:
        first = first.where(Passage.content_id.in_(ids))
    first = first.subquery()
    rows = session.execute(
        select(Passage.content_id, Passage.embedding)
        .join(first, (Passage.content_id == first.c.content_id) & (Passage.ordinal == first.c.ordinal))
        .where(Passage.embedding.is_not(None), Passage.embedding_model == model)
        .order_by(Passage.id))
    vectors: dict[int, np.ndarray] = {}
    for content_id, blob in rows:
        vector = np.frombuffer(blob, dtype=np.float32)
        if content_id not in vectors and vector.shape[0] == dimension:
            vectors[content_id] = vector
    return vectors


def _text(session: Session, content: Content) -> str:
    """Title, description and the first passages, capped at :data:`MAX_TEXT` characters."""
    parts = [content.title or "", content.description or ""]
    for text in session.scalars(select(Passage.text).where(Passage.content_id == content.id)
                                .order_by(Passage.ordinal, Passage.id).limit(10)):
        if sum(len(part) for part in parts) >= MAX_TEXT:
            break
        parts.append(text)
    return "\n".join(part.strip() for part in parts if part and part.strip())[:MAX_TEXT]


def _normalised(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _evidence(session: Session, kb: Any, prototypes: dict[str, Prototypes]) -> dict[str, TaggedEvidence]:
    """Marketer-tagged live contents as labelled examples, per kind (their first passages' vectors)."""
    tagged = list(session.execute(
        select(Content.id, Content.persona, Content.persona_source, Content.stage, Content.stage_source)
        .where(Content.status == "live", or_(Content.persona_source == MARKETER, Content.stage_source == MARKETER))))
    dimension = prototypes["persona"].dimension
    vectors = _stored_vectors(session, kb.embedder.model_name, dimension, [row.id for row in tagged]) if tagged else {}
    evidence = {}
    for kind in KINDS:
        index = {name: i for i, name in enumerate(prototypes[kind].names)}
        groups = [(vectors[row.id], index[getattr(row, kind)]) for row in tagged
                  if row.id in vectors and getattr(row, f"{kind}_source") == MARKETER and getattr(row, kind) in index]
        evidence[kind] = TaggedEvidence.from_groups(groups, dimension)
    return evidence


# -- suggesting -----------------------------------------------------------------------------------
def suggest_content_tags(kb: Any, content_ids: Iterable[int] | None = None) -> ContentTagReport:
    """Suggest a persona and a stage for the given live contents (None: all live content), in place.

    A marketer's tag is left alone; a suggested (or sourceless) one is replaced by the new suggestion,
    or cleared when nothing is convincing any more.
    """
    report = ContentTagReport()
    ids = None if content_ids is None else sorted(set(content_ids))
    if ids == []:
        return report
    prototypes = label_prototypes(kb)
    with kb.transaction() as session:
        query = select(Content).where(Content.status == "live").order_by(Content.id)
        if ids is not None:
            query = query.where(Content.id.in_(ids))
        contents = list(session.scalars(query))
        if not contents:
            return report
        evidence = _evidence(session, kb, prototypes)
        vectors = _stored_vectors(session, kb.embedder.model_name, prototypes["persona"].dimension,
                                  None if ids is None else [c.id for c in contents])
        missing = [c for c in contents if c.id not in vectors]
        texts = [_text(session, c) for c in missing]
        with_text = [(c, t) for c, t in zip(missing, texts, strict=True) if t]
        if with_text:
            embedded = kb.embedder.embed_passages([t for _, t in with_text])
            vectors.update({c.id: embedded[i] for i, (c, _) in enumerate(with_text)})
            report.embedded = len(with_text)
        for content in contents:
            report.contents += 1
            vector = vectors.get(content.id)
            if vector is not None and _apply(content, _normalised(vector), prototypes, evidence, report):
                report.changed += 1
            report.with_persona += content.persona is not None
            report.with_stage += content.stage is not None
    return report


def _apply(content: Content, vector: np.ndarray, prototypes: dict[str, Prototypes],
           evidence: dict[str, TaggedEvidence], report: ContentTagReport) -> bool:
    """Set the suggested tags of one content; whether anything changed."""
    changed = False
    for kind in KINDS:
        if getattr(content, f"{kind}_source") == MARKETER:
            report.marketer_kept += 1
            continue
        scores = score_labels(vector, prototypes[kind], evidence[kind])
        label = scores.label
        new = (label, SUGGESTED if label else None, round(scores.confidence, 4) if label else None)
        changed |= getattr(content, kind) != label
        for suffix, value in zip(("", "_source", "_confidence"), new, strict=True):
            setattr(content, f"{kind}{suffix}", value)
    return changed


# -- a marketer's tags ----------------------------------------------------------------------------
def _checked(settings: Settings, kind: str, value: Any, current: str | None) -> str | None:
    """The tag a marketer asked for: None for null, blank or "none"; else a configured name (or the one
    already stored, even if no longer configured: keeping what is there is always allowed)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{kind} must be a configured {kind} name, 'none' or null")
    text = value.strip()
    if not text or text.lower() == NONE:
        return None
    if current is not None and text == current:
        return current
    return check_tag(settings, kind, text)  # type: ignore[arg-type]


def set_content_tags(kb: Any, content_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Store a marketer's persona and/or stage (the keys of ``changes`` present) on a content item.

    Sticky: later suggestions never replace it, "none" included. Unknown names: ValidationError listing
    the configured ones; no such content: NotFoundError. Returns :func:`content_tags` after the change.
    """
    unknown = sorted(set(changes) - set(KINDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(KINDS)}")
    with kb.transaction() as session:
        content = session.get(Content, content_id) if 0 < content_id <= MAX_ROW_ID else None
        if content is None:
            raise NotFoundError(f"no content {content_id}")
        values = {kind: _checked(kb.settings, kind, changes[kind], getattr(content, kind))
                  for kind in KINDS if kind in changes}
        for kind, value in values.items():
            setattr(content, kind, value)
            setattr(content, f"{kind}_source", MARKETER)
            setattr(content, f"{kind}_confidence", HUMAN_CONFIDENCE)
        session.flush()
        return content_tags(content)
