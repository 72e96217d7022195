"""Search filters (kind, site, tags, dates, persona, stage) and the facet counts shown beside results.

A filter resolves to the set of passage ids it allows; both retrievers then search inside that set
(FAISS with an id selector, BM25 with a mask), so a filtered search returns the best matches among
the allowed content rather than whatever survives of an unfiltered top-k.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import Content, Passage, Site
from kb.search_grouping import ContentFacts

KINDS = ("blog", "case_study", "podcast", "video", "page")


@dataclass(frozen=True)
class SearchFilters:
    """What the results may contain; empty fields do not filter."""

    kinds: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # content must carry at least one of them (case-insensitive)
    personas: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    published_from: date | None = None
    published_to: date | None = None
    # Content left out whatever else matches: how the answer loop asks "what answers it, besides the
    # content a marketer rejected?" through the same search (not a user-facing filter).
    exclude_contents: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                data[f.name] = value.isoformat() if isinstance(value, date) else list(value)
        return data


def parse_filters(
    *,
    kinds: Iterable[str] = (),
    sites: Iterable[str] = (),
    tags: Iterable[str] = (),
    personas: Iterable[str] = (),
    stages: Iterable[str] = (),
    published_from: str | None = None,
    published_to: str | None = None,
) -> SearchFilters:
    """Build filters from user input (CLI options, query parameters), with clear errors."""
    kinds = _clean(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValidationError(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
    start, end = _date(published_from, "from"), _date(published_to, "to")
    if start and end and start > end:
        raise ValidationError("the 'from' date is after the 'to' date")
    return SearchFilters(
        kinds=kinds,
        sites=_clean(sites),
        tags=tuple(t.lower() for t in _clean(tags)),
        personas=_clean(personas),
        stages=_clean(stages),
        published_from=start,
        published_to=end,
    )


def _clean(values: Iterable[str]) -> tuple[str, ...]:
    """Accept repeated values and comma-separated lists alike."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in str(value).split(",") if part.strip())
    return tuple(dict.fromkeys(out))


def _date(value: str | None, which: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"the '{which}' date must look like 2026-01-31, got {value!r}") from None


def allowed_passage_ids(session: Session, filters: SearchFilters) -> np.ndarray | None:
    """Passage ids of live content matching ``filters``; None when nothing is filtered."""
    if not filters.active:
        return None
    stmt = select(Content.id, Content.tags).where(Content.status == "live")
    if filters.exclude_contents:
        stmt = stmt.where(Content.id.not_in(filters.exclude_contents))
    if filters.kinds:
        stmt = stmt.where(Content.kind.in_(filters.kinds))
    if filters.sites:
        stmt = stmt.join(Site).where(Site.name.in_(filters.sites))
    if filters.personas:
        stmt = stmt.where(Content.persona.in_(filters.personas))
    if filters.stages:
        stmt = stmt.where(Content.stage.in_(filters.stages))
    if filters.published_from:
        stmt = stmt.where(Content.published_at >= datetime.combine(filters.published_from, time.min, UTC))
    if filters.published_to:
        stmt = stmt.where(Content.published_at <= datetime.combine(filters.published_to, time.max, UTC))
    content_ids = [cid for cid, tags in session.execute(stmt) if _has_tag(tags, filters.tags)]
    if not content_ids:
        return np.zeros(0, dtype=np.int64)
    ids: list[int] = []
    for start in range(0, len(content_ids), 5000):
        chunk = content_ids[start : start + 5000]
        ids.extend(session.scalars(select(Passage.id).where(Passage.content_id.in_(chunk))))
    return np.asarray(sorted(ids), dtype=np.int64)


def _has_tag(tags: Sequence[str] | None, wanted: tuple[str, ...]) -> bool:
    # Tags are a JSON list per content; matching in Python keeps one code path for SQLite and PostgreSQL.
    return not wanted or bool({t.lower() for t in tags or ()} & set(wanted))


def facet_counts(contents: Iterable[ContentFacts]) -> dict[str, dict[str, int]]:
    """How many of the matching content items fall in each kind, site and tag."""
    kinds: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for content in contents:
        kinds[content.kind] += 1
        sites[content.site] += 1
        tags.update({t.lower() for t in content.tags or ()})
    return {
        "kind": dict(kinds.most_common()),
        "site": dict(sites.most_common()),
        "tag": dict(tags.most_common(20)),
    }
