"""Labelled answered-or-gap searches from a BEIR set: the answers of a seeded half of the queries held out.

The protocol of the issue: a seeded random half of the queries become gaps and their relevant documents
are held out of the knowledge base; every query (gap or not) is then searched against what is left. A
query is a true gap exactly when none of its relevant documents (qrels score > 0) is left, which is
every gap query, plus the rare answerable query whose relevant documents were all relevant to gap
queries too (it really has no answer in that knowledge base). An answerable query whose first hit is
not relevant is still answerable: the decision is "does the knowledge base answer it", and the hits are
there for the rep to read; how often that happens is reported beside the metrics
(``answered_top1_relevant``).

Holding out is done at search time (:func:`search_without`: both indexes see an allow-list of passage
ids), which ranks exactly as a knowledge base without those documents would, except that BM25's own
scores still count them in their document frequencies (a small difference, and it keeps one ingested
corpus for every split instead of re-embedding per split). The confidence's ``idf_coverage`` does not:
the restricted keyword index answers ``document_frequencies`` and ``count`` for what is left, so a word
only the held-out documents contain is unknown to the knowledge base, as it would be in a company's
knowledge base that never wrote about it (measured on SciFact: with the whole index's counts, the share of
a query's words the knowledge base has never seen says nothing about gaps, AUC 0.49; with these, 0.59).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.beir import Qrels
from ingest.beir_corpus import Corpus
from kb.confidence import FEATURES
from kb.indexing import embedding_texts
from kb.keyword_index import KeywordIndex
from kb.knowledge_base import KnowledgeBase
from kb.search import Retrievers, SearchResponse, clean_query
from kb.search import search as run_search
from kb.text_terms import tokenize

SEARCH_DEPTH = 10  # results per labelled search: the features only look at the head of the rankings


@dataclass(frozen=True)
class Observation:
    """One query searched in the held-out knowledge base: the search's signals and the truth."""

    query_id: str
    gap: bool  # truth: no relevant document of the query is left in the knowledge base
    features: dict[str, float]
    confidence: float  # of the knowledge base's confidence model (the shipped one unless the instance has its own)
    top1_relevant: bool  # the first hit is a relevant document (never, for a gap)

    @property
    def dense_top(self) -> float:
        """The single-cosine baseline's score: the best passage's cosine to the query."""
        return self.features.get("dense_top", 0.0)


@dataclass
class Labelled:
    """The observations of one split, in query order, with how they were made."""

    observations: list[Observation] = field(default_factory=list)
    held_out_queries: int = 0  # queries chosen as gaps
    held_out_documents: int = 0
    extra_gaps: int = 0  # answerable queries all of whose relevant documents were held out for gap queries

    @property
    def rows(self) -> list[dict[str, float]]:
        return [o.features for o in self.observations]

    @property
    def gaps(self) -> list[bool]:
        return [o.gap for o in self.observations]

    def summary(self) -> dict[str, Any]:
        answerable = [o for o in self.observations if not o.gap]
        return {
            "queries": len(self.observations),
            "gaps": len(self.observations) - len(answerable),
            "answerable": len(answerable),
            "held_out_queries": self.held_out_queries,
            "held_out_documents": self.held_out_documents,
            "extra_gaps": self.extra_gaps,
            "answerable_top1_relevant": sum(o.top1_relevant for o in answerable),
        }


def gap_half(query_ids: Sequence[str], seed: int) -> set[str]:
    """A seeded random half of ``query_ids`` (rounded down) to become gaps; the same seed gives the same half."""
    order = list(query_ids)
    random.Random(seed).shuffle(order)
    return set(order[len(order) - len(order) // 2:])


def relevant_documents(judged: dict[str, int]) -> set[str]:
    return {doc for doc, score in judged.items() if score > 0}


class _Restricted:
    """An index seen through an allow-list of passage ids: how a query is run with some answers absent."""

    def __init__(self, index: Any, allowed: np.ndarray) -> None:
        self.index, self.allowed = index, allowed

    def search(self, query: Any, k: int, *, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        keep = self.allowed if allowed is None else np.intersect1d(allowed, self.allowed)
        return self.index.search(query, k, allowed=keep)


class _RestrictedKeyword(_Restricted):
    """The keyword index through an allow-list, with term statistics of the allowed passages only."""

    def __init__(self, index: KeywordIndex, allowed: np.ndarray, held_out_terms: Counter[str], held_out: int) -> None:
        super().__init__(index, allowed)
        self.held_out_terms, self.count = held_out_terms, index.count - held_out

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """Passages left that contain each term: the whole index's count minus the held-out passages'."""
        return {term: df - self.held_out_terms[term] for term, df in self.index.document_frequencies(terms).items()}


def restricted_retrievers(kb: KnowledgeBase, excluded_passages: Iterable[int]) -> Retrievers:
    """The knowledge base's retrievers as if the passages ``excluded_passages`` did not exist."""
    dense, keyword = kb.indexes()
    excluded = np.intersect1d(np.fromiter(excluded_passages, dtype=np.int64), keyword.ids())
    allowed = np.setdiff1d(dense.ids(), excluded)
    with kb.sessions() as session:  # the text the keyword index holds for them (title, headings, passage)
        held_out_terms = Counter(term for text in embedding_texts(session, excluded) for term in set(tokenize(text)))
    return Retrievers(kb.embedder, _Restricted(dense, allowed),  # type: ignore[arg-type]
                      _RestrictedKeyword(keyword, allowed, held_out_terms, len(excluded)),  # type: ignore[arg-type]
                      kb.confidence_model, kb.settings.search)


def search_without(kb: KnowledgeBase, query: str, excluded_passages: Sequence[int], *, k: int = SEARCH_DEPTH,
                   retrievers: Retrievers | None = None) -> SearchResponse:
    """A hybrid search as ``kb.search`` runs it, as if the passages ``excluded_passages`` did not exist
    (pass ``retrievers`` from :func:`restricted_retrievers` to reuse one exclusion for many queries)."""
    retrievers = retrievers or restricted_retrievers(kb, excluded_passages)
    with kb.sessions() as session:
        return run_search(session, retrievers, clean_query(query, kb.settings.web.max_query_chars),
                          k=k, mode="hybrid")


def label_queries(corpus: Corpus, queries: Sequence[tuple[str, str]], qrels: Qrels, gaps: Collection[str]) -> Labelled:
    """Hold out the relevant documents of the ``gaps`` queries and search every query in what is left."""
    content_of = corpus.content_of()
    held_docs = {doc for qid in gaps for doc in relevant_documents(qrels.get(qid, {}))}
    held_contents = {content_of[doc] for doc in held_docs if doc in content_of}
    # A content item merged from duplicate documents goes when any of them goes: it is one item in the KB.
    absent = {doc for cid in held_contents for doc in corpus.docs_of[cid]}
    retrievers = restricted_retrievers(corpus.kb, (pid for cid in held_contents for pid in corpus.passages_of[cid]))
    present = set(content_of) - absent
    out = Labelled(held_out_queries=sum(1 for qid, _ in queries if qid in gaps), held_out_documents=len(absent))
    for qid, text in queries:
        relevant = relevant_documents(qrels[qid])
        gap = not relevant & present
        out.extra_gaps += int(gap and qid not in gaps)
        response = search_without(corpus.kb, text, (), retrievers=retrievers)
        top = corpus.docs_of.get(response.hits[0].content_id, []) if response.hits else []
        out.observations.append(Observation(
            query_id=qid,
            gap=gap,
            features={name: float(response.features.get(name, 0.0)) for name in FEATURES},
            confidence=float(response.confidence),
            top1_relevant=any(doc in relevant for doc in top),
        ))
    return out


def label_both_halves(corpus: Corpus, queries: Sequence[tuple[str, str]], qrels: Qrels, seed: int) -> Labelled:
    """Every query searched twice: with the seeded half made gaps, then with the other half made gaps.

    Fitting data for thresholds and the confidence model: each query is seen with and without its answers
    (at the protocol's share of gaps), twice the searches of one protocol run.
    """
    ids = [qid for qid, _ in queries]
    first = gap_half(ids, seed)
    halves = [label_queries(corpus, queries, qrels, first), label_queries(corpus, queries, qrels, set(ids) - first)]
    return Labelled(
        observations=[o for labelled in halves for o in labelled.observations],
        held_out_queries=sum(labelled.held_out_queries for labelled in halves),
        held_out_documents=sum(labelled.held_out_documents for labelled in halves),
        extra_gaps=sum(labelled.extra_gaps for labelled in halves),
    )
