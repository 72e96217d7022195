"""Search: hybrid retrieval of passages, grouped by content, with snippets and an answer confidence.

Dense (FAISS, cosine) finds paraphrases; keyword (BM25) finds product names, plan names and acronyms
that embeddings blur (SOC 2, SSO, SAML, SCIM). Both rank passages inside the filtered set, the
rankings are fused, and passages are grouped to content with the best passage as the snippet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from kb.answer_moment import answer_second
from kb.confidence import ConfidenceModel, idf, idf_coverage, search_features
from kb.embedding import Embedder
from kb.errors import ValidationError
from kb.fusion import fuse
from kb.highlight import make_snippet
from kb.index import DenseIndex
from kb.keyword_index import KeywordIndex
from kb.search_filters import SearchFilters, allowed_passage_ids, facet_counts
from kb.search_grouping import Group, PassageText, group_by_content, passage_texts
from kb.settings import SearchSettings
from kb.text_terms import tokenize
from kb.timed_links import format_moment, moment_link
from kb.usage_signal import usage_boosts

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class SearchHit:
    """One content item in the results, represented by its best-matching passage."""

    content_id: int
    url: str
    title: str
    kind: str
    site: str
    published_at: datetime | None
    tags: tuple[str, ...]
    passage_id: int
    snippet: str
    snippet_html: str
    heading_path: tuple[str, ...]
    start_seconds: float | None  # recordings: where the answer is spoken (kb.answer_moment), else None
    score: float  # fused score: comparable within one result list only
    dense_score: float | None  # cosine of this passage to the query, when the dense ranking saw it
    keyword_score: float | None  # BM25 score, when the keyword ranking saw it
    passage_text: str = ""  # the whole best passage, plain (what a rep copies); the snippet is a window of it
    media_url: str | None = None  # the platform page a hosted recording plays on (timed links go there)
    media_platform: str | None = None

    @property
    def moment(self) -> str | None:
        """Where the answer is spoken in a recording, as ``m:ss`` or ``h:mm:ss``; None for text."""
        return None if self.start_seconds is None else format_moment(self.start_seconds)

    @property
    def link(self) -> str:
        """Where to send a reader: the page, at the answer's second for recordings."""
        return moment_link(self.url, self.start_seconds, media_url=self.media_url, media_platform=self.media_platform)

    def to_dict(self) -> dict[str, object]:
        return {
            "content_id": self.content_id,
            "link": self.link,
            "moment": self.moment,
            "url": self.url,
            "title": self.title,
            "kind": self.kind,
            "site": self.site,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "tags": list(self.tags),
            "passage_id": self.passage_id,
            "snippet": self.snippet,
            "snippet_html": self.snippet_html,
            "heading_path": list(self.heading_path),
            "start_seconds": self.start_seconds,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 4),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 4),
            "passage_text": self.passage_text,
        }


@dataclass
class SearchResponse:
    query: str
    mode: str
    hits: list[SearchHit]
    # That the knowledge base holds an answer to the query (the hits are where to look), calibrated, in [0, 1];
    # question intake calls the query answered at the model's threshold (kb.thresholds, kb.confidence).
    confidence: float
    features: dict[str, float]
    facets: dict[str, dict[str, int]]
    filters: SearchFilters = field(default_factory=SearchFilters)
    took_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage, for benchmarks and slow-query logs

    def to_dict(self) -> dict[str, object]:
        return {
            "query": self.query,
            "mode": self.mode,
            "confidence": round(self.confidence, 4),
            "results": [hit.to_dict() for hit in self.hits],
            "facets": self.facets,
            "filters": self.filters.to_dict(),
            "took_ms": round(self.took_ms, 1),
        }


class _StageClock:
    """Milliseconds spent in each stage of one search (cheap: one clock read per stage)."""

    def __init__(self, began: float) -> None:
        self._last = began
        self.stages: dict[str, float] = {}

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = (now - self._last) * 1000
        self._last = now


def clean_query(query: str, max_chars: int) -> str:
    """Normalise whitespace and refuse empty queries; overlong queries are cut before embedding."""
    # Control characters (NUL included) carry no meaning in a query and must not reach pages or logs.
    query = "".join(ch if ch.isprintable() else " " for ch in (query or ""))
    query = " ".join(query.split())
    if not query:
        raise ValidationError("the search query is empty")
    return query[:max_chars]


@dataclass
class Retrievers:
    """What a search needs besides the database session."""

    embedder: Embedder
    dense: DenseIndex
    keyword: KeywordIndex
    confidence: ConfidenceModel
    settings: SearchSettings


def search(
    session: Session,
    retrievers: Retrievers,
    query: str,
    *,
    k: int = 10,
    mode: str = "hybrid",
    filters: SearchFilters | None = None,
    query_vector: np.ndarray | None = None,
) -> SearchResponse:
    """Rank passages by ``mode``, group them by content and return at most ``k`` items.

    ``query_vector``: the query's embedding when the caller has it already (question intake embeds a
    question once and reuses the vector for the search and the topic matching); None embeds ``query``.
    """
    if mode not in MODES:
        raise ValidationError(f"unknown search mode {mode!r}; choose from {', '.join(MODES)}")
    began = time.perf_counter()
    clock = _StageClock(began)
    cfg = retrievers.settings
    filters = filters or SearchFilters()
    allowed = allowed_passage_ids(session, filters)
    clock.stage("filters")
    depth = max(cfg.candidates, k * 3)
    dense: list[tuple[int, float]] = []
    keyword: list[tuple[int, float]] = []
    if allowed is None or len(allowed):
        if mode in ("hybrid", "dense"):
            vector = retrievers.embedder.embed_query(query) if query_vector is None else query_vector
            clock.stage("embed_query")
            dense = retrievers.dense.search(vector, depth, allowed=allowed)
            clock.stage("dense")
        if mode in ("hybrid", "bm25"):
            keyword = retrievers.keyword.search(query, depth, allowed=allowed)
            clock.stage("keyword")
    if mode == "hybrid":
        ranked = fuse(dense, keyword, method=cfg.fusion, rrf_k=cfg.rrf_k, dense_weight=cfg.dense_weight)
    else:
        ranked = dense or keyword
    clock.stage("fusion")

    groups, content_of = group_by_content(session, ranked)
    if cfg.usage_weight > 0:
        groups = _with_usage(session, groups, cfg.usage_weight)
    shown = groups[:k]
    texts = passage_texts(session, [group.passage_id for group in shown])
    clock.stage("grouping")
    dense_by_id, keyword_by_id = dict(dense), dict(keyword)
    timed = any(text.start_seconds is not None for text in texts.values())
    weights = _term_weights(query, retrievers.keyword) if timed else None
    hits = [
        _hit(group, texts[group.passage_id], query, cfg.snippet_words, dense_by_id, keyword_by_id, weights)
        for group in shown
    ]
    clock.stage("snippets")
    features = _features(groups, texts, content_of, dense, keyword, query, retrievers.keyword)
    confidence = retrievers.confidence.predict(features) if hits else 0.0
    facets = facet_counts(group.content for group in groups)
    clock.stage("confidence_facets")
    return SearchResponse(
        query=query,
        mode=mode,
        hits=hits,
        confidence=confidence,
        features=features,
        facets=facets,
        filters=filters,
        took_ms=(time.perf_counter() - began) * 1000,
        timings_ms=clock.stages,
    )


def _with_usage(session: Session, groups: list[Group], weight: float) -> list[Group]:
    """Groups re-ranked with the bounded usage lift (kb.usage_signal); unchanged when none was used."""
    boosts = usage_boosts(session, [group.content.id for group in groups], weight)
    if not boosts:
        return groups
    lifted = [replace(group, score=group.score * boosts.get(group.content.id, 1.0)) for group in groups]
    return sorted(lifted, key=lambda group: -group.score)  # stable: equal scores keep the fused order


def _term_frequencies(keyword_index: KeywordIndex, terms: set[str]) -> dict[str, int] | None:
    """How many passages hold each of ``terms``; None when the index cannot count (a stand-in wrapping
    a restricted search has no ``document_frequencies``)."""
    frequencies = getattr(keyword_index, "document_frequencies", None)
    return None if frequencies is None or not terms else frequencies(sorted(terms))


def _term_weights(query: str, keyword_index: KeywordIndex) -> dict[str, float] | None:
    """IDF of the query's terms in the whole index, for placing the answer in a timed passage."""
    counts = _term_frequencies(keyword_index, set(tokenize(query)))
    return None if counts is None else {term: idf(n, keyword_index.count) for term, n in counts.items()}


def _hit(group: Group, passage: PassageText, query: str, snippet_words: int,
         dense: dict[int, float], keyword: dict[int, float], weights: dict[str, float] | None) -> SearchHit:
    content = group.content
    snippet = make_snippet(passage.text, query, max_words=snippet_words)
    return SearchHit(
        content_id=content.id,
        url=content.url,
        title=content.title,
        kind=content.kind,
        site=content.site,
        published_at=content.published_at,
        tags=content.tags,
        passage_id=passage.id,
        snippet=snippet.text,
        snippet_html=snippet.html,
        heading_path=passage.heading_path,
        start_seconds=answer_second(passage.text, passage.start_seconds, passage.end_seconds, query, weights),
        score=group.score,
        dense_score=dense.get(passage.id),
        keyword_score=keyword.get(passage.id),
        passage_text=passage.text,
        media_url=content.media_url,
        media_platform=content.media_platform,
    )


def _features(groups: list[Group], texts: dict[int, PassageText], content_of: dict[int, int],
              dense: list[tuple[int, float]], keyword: list[tuple[int, float]], query: str,
              keyword_index: KeywordIndex) -> dict[str, float]:
    """Signals for the confidence model, computed from the rankings already at hand.

    ``keyword_index`` gives the document frequencies of the query's terms for ``idf_coverage``; a stand-in
    without ``document_frequencies`` (a wrapper restricting the search) leaves it to fall back to the
    unweighted coverage.
    """
    per_content: dict[int, float] = {}
    for pid, score in dense:
        cid = content_of.get(pid)
        if cid is not None and cid not in per_content:
            per_content[cid] = score
    dense_order = list(per_content)
    top_content = groups[0].content.id if groups else None
    terms = set(tokenize(query))
    coverage, weighted = 0.0, None
    if groups and terms:
        found = terms & set(tokenize(texts[groups[0].passage_id].text + " " + groups[0].content.title))
        coverage = len(found) / len(terms)
        counts = _term_frequencies(keyword_index, terms)
        if counts is not None:
            weighted = idf_coverage(terms, found, counts, keyword_index.count)
    return search_features(
        dense_scores=list(per_content.values()),
        keyword_top=keyword[0][1] if keyword else 0.0,
        term_coverage=coverage,
        idf_coverage=weighted,
        dense_first_content=dense_order[0] if dense_order else None,
        keyword_first_content=content_of.get(keyword[0][0]) if keyword else None,
        fused_rank_dense=dense_order.index(top_content) + 1 if top_content in per_content else None,
    )
