"""From ranked passages to ranked content: the best passage per live content item, read as plain columns.

A search ranks up to a few hundred passages; grouping needs only each passage's content id and each
content's facets, and only the shown hits need their passage text. Reading those as column tuples
(not ORM objects, never the stored vectors) in three primary-key lookups keeps this step at a few
milliseconds at 100k passages, where loading ORM objects for every candidate cost ~15 ms a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Content, Passage, Site


@dataclass(frozen=True)
class ContentFacts:
    """What results and facets show of one content item."""

    id: int
    url: str
    title: str
    kind: str
    site: str
    published_at: datetime | None
    tags: tuple[str, ...]
    persona: str | None
    stage: str | None
    media_url: str | None = None  # where timed links land when a hosting platform plays it (kb.media_content)
    media_platform: str | None = None


@dataclass(frozen=True)
class Group:
    """One content item in ranking order, represented by its best passage."""

    passage_id: int
    content: ContentFacts
    score: float


@dataclass(frozen=True)
class PassageText:
    id: int
    text: str
    heading_path: tuple[str, ...]
    start_seconds: float | None
    end_seconds: float | None = None


def group_by_content(session: Session, ranked: Sequence[tuple[int, float]]) -> tuple[list[Group], dict[int, int]]:
    """Best passage per live content item in ranking order, and the content id of every ranked passage."""
    if not ranked:
        return [], {}
    content_of: dict[int, int] = dict(
        session.execute(select(Passage.id, Passage.content_id).where(Passage.id.in_([pid for pid, _ in ranked])))
        .all()
    )
    facts = _live_contents(session, set(content_of.values()))
    groups: list[Group] = []
    seen: set[int] = set()
    for pid, score in ranked:
        cid = content_of.get(pid)
        if cid is None or cid in seen or cid not in facts:
            continue
        seen.add(cid)
        groups.append(Group(pid, facts[cid], score))
    return groups, content_of


def _live_contents(session: Session, ids: Iterable[int]) -> dict[int, ContentFacts]:
    rows = session.execute(
        select(Content.id, Content.canonical_url, Content.title, Content.kind, Site.name, Content.published_at,
               Content.tags, Content.persona, Content.stage, Content.media_url, Content.media_platform)
        .join(Site, Site.id == Content.site_id)
        .where(Content.id.in_(list(ids)), Content.status == "live")
    )
    return {
        row[0]: ContentFacts(row[0], row[1], row[2] or "", row[3], row[4], row[5], tuple(row[6] or ()), row[7], row[8],
                             row[9], row[10])
        for row in rows
    }


def passage_texts(session: Session, ids: Iterable[int]) -> dict[int, PassageText]:
    """Text, headings and times of the passages about to be shown."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Passage.id, Passage.text, Passage.heading_path, Passage.start_seconds, Passage.end_seconds)
        .where(Passage.id.in_(wanted))
    )
    return {row[0]: PassageText(row[0], row[1], tuple(row[2] or ()), row[3], row[4]) for row in rows}
