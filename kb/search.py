"""Search: the nearest passages to a query, grouped by content with the best passage as snippet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.index import DenseIndex
from kb.models import Content, Passage


@dataclass(frozen=True)
class SearchHit:
    """One content item in the results, represented by its best-matching passage."""

    content_id: int
    url: str
    title: str
    kind: str
    published_at: datetime | None
    passage_id: int
    snippet: str
    heading_path: tuple[str, ...]
    start_seconds: float | None
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "content_id": self.content_id,
            "url": self.url,
            "title": self.title,
            "kind": self.kind,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "passage_id": self.passage_id,
            "snippet": self.snippet,
            "heading_path": list(self.heading_path),
            "start_seconds": self.start_seconds,
            "score": round(self.score, 4),
        }


def clean_query(query: str, max_chars: int) -> str:
    """Normalise whitespace and refuse empty queries; overlong queries are cut before embedding."""
    # Control characters (NUL included) carry no meaning in a query and must not reach pages or logs.
    query = "".join(ch if ch.isprintable() else " " for ch in (query or ""))
    query = " ".join(query.split())
    if not query:
        raise ValidationError("the search query is empty")
    return query[:max_chars]


def search(
    session: Session,
    embedder: Embedder,
    index: DenseIndex,
    query: str,
    *,
    k: int = 10,
    candidates: int = 100,
    snippet_words: int = 60,
) -> list[SearchHit]:
    """Dense retrieval of ``candidates`` passages, grouped to at most ``k`` content items."""
    ranked = index.search(embedder.embed_query(query), max(candidates, k))
    if not ranked:
        return []
    rows = session.execute(
        select(Passage, Content)
        .join(Content)
        .where(Passage.id.in_([pid for pid, _ in ranked]), Content.status == "live")
    ).all()
    by_id = {passage.id: (passage, content) for passage, content in rows}
    hits: list[SearchHit] = []
    seen: set[int] = set()
    for pid, score in ranked:  # best first, so the first passage seen per content is its best
        if pid not in by_id:
            continue
        passage, content = by_id[pid]
        if content.id in seen:
            continue
        seen.add(content.id)
        hits.append(
            SearchHit(
                content_id=content.id,
                url=content.canonical_url,
                title=content.title,
                kind=content.kind,
                published_at=content.published_at,
                passage_id=passage.id,
                snippet=_shorten(passage.text, snippet_words),
                heading_path=tuple(passage.heading_path or ()),
                start_seconds=passage.start_seconds,
                score=score,
            )
        )
        if len(hits) == k:
            break
    return hits


def _shorten(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
