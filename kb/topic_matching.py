"""Topic matching: which existing topic, if any, a new question (or a search) means the same as.

A question joins the topic whose questions it duplicates: :class:`kb.duplicates.DuplicateModel` gives the
probability that two questions ask the same thing (the cosine of their vectors plus lexical signals, so
"SSO with Okta" and "SCIM with Okta" stay apart), and a topic's probability is that of its most similar
question. A topic qualifies at the duplicate threshold (``questions.duplicate_threshold``, else the
model's own, calibrated on labelled pairs). When several topics qualify with nearly the same probability
(within :data:`TIE_MARGIN`), the question's best-matching content breaks the tie: the topic whose
questions were answered by (or best matched) that same content wins.

Word rarity comes from the deployment (:func:`deployment_idf`), from two of its texts, each for what it
can tell:

- **the stored questions** (each distinct wording a document) grade the words: the weights were fitted
  with rarity counted over questions, the same kind of text, where "support" and "integrate" are common
  and product names rare. Until there are 3 questions every word weighs the same (the cautious reading:
  any one-sided word counts as rare);
- **the knowledge base's passages** (:func:`content_stopwords`, document frequencies read from the keyword
  index) name the deployment's stopwords: words in more than half of them, the company's own name above
  all, are left out like "you" ("Does Fernbrook support SSO with Okta?" = "Do you support SSO with
  Okta?").

Why the passages do not grade the other words: a company's content is about its product, so its
frequent words are its product's vocabulary, exactly the words that tell look-alikes apart. Weighted by
the demo site's passages, "What does the Growth plan cost per year?" and "...the Enterprise plan...?" score
0.50 and "Do you support SSO with Okta?" / "...SCIM provisioning with Okta?" 0.64, both above the
threshold (plan names and SSO, SCIM, Okta are common there); with no question stored yet (uniform
weights) 0.14 and 0.26, and with the 50 demo questions grading the words 0.15 and 0.357 (the SCIM
look-alike just under the 0.365 threshold: see :mod:`kb.duplicates` for that limit). A distinct wording counts once,
so a question asked 300 times in the same words does not make its own words common. Both are kept warm:
the question counts in the cache below (updated as questions are added, rebuilt with it), the passage
statistics per keyword index (a crawl that rebuilds the index gets new ones). On the demo's 50 questions
the grouping is the same whichever rarity is used (49 topics; the one pair found is right; no look-alike
merged): its duplicates are paraphrases in other words (median cosine 0.40) that no word weighting joins.

Why the content is only a tie-breaker: measured on the 50 demo questions (``kb/demo/questions_key.json``),
the best search hit is the same passage for 3 of the 10 labelled look-alike pairs but only 2 of the 21
duplicate pairs, and the same page for 3 of 10 and 6 of 21: a gap question's best match is often an
unrelated page, and look-alikes ("SSO with Okta" / "SCIM provisioning with Okta") retrieve the same page
about the product area they share. Shared content is no evidence of sameness on its own (using it as one
would merge look-alikes), only a way to choose between near equals.

Speed: the stored questions' vectors stay warm in ``kb.caches["topic_matching"]`` as one float32 matrix
(one row per distinct wording per topic: a topic asked 300 times in the same words is one row), so
scoring a question against 10,000 stored ones is one matrix-vector product plus the lexical features of
the 50 nearest. Before each use the cache compares a fingerprint read from primary keys (the last
question id, the last topic event id, the merges) and reloads when anything changed, in any process;
:func:`note_question` appends a question this transaction just stored, so an import keeps the cache
warm row after row; :func:`invalidate` drops it and the passage statistics (merge and move call it).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from kb.duplicates import DuplicateModel, Idf, QuestionTerms, analyse_question
from kb.models import Question, Topic, TopicEvent
from kb.text_terms import tokenize

CACHE_KEY = "topic_matching"
MODEL_KEY = "topic_matching.model"
IDF_KEY = "topic_matching.idf"
# Topics whose probability is within this of the best one's are "near": the content decides between them.
TIE_MARGIN = 0.05


@dataclass(frozen=True)
class TopicMatch:
    topic_id: int
    probability: float
    question_id: int  # the stored question it matched best


Fingerprint = tuple[int, int, int, float]


class _LazyTerms(Sequence[QuestionTerms]):
    """The analysed terms of the cached wordings, computed on first use: the duplicate model needs them
    only for the nearest 50 questions, so a reload of 10,000 questions analyses none of them up front."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._terms: list[QuestionTerms | None] = [None] * len(texts)

    def append(self, text: str) -> None:
        self._terms.append(None)  # the text itself is appended by the owner (shared list)

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        terms = self._terms[index]
        if terms is None:
            terms = self._terms[index] = analyse_question(self._texts[index])
        return terms


@dataclass
class _Cache:
    """Distinct (topic, wording) rows of the stored questions, with their vectors as one matrix."""

    model_name: str
    dimension: int
    fingerprint: Fingerprint
    vectors: np.ndarray  # (capacity, dimension) float32; rows [0, size) are in use
    size: int = 0
    texts: list[str] = field(default_factory=list)
    topic_ids: list[int] = field(default_factory=list)
    question_ids: list[int] = field(default_factory=list)
    content_ids: list[int | None] = field(default_factory=list)  # the question's best-matching content
    rows: dict[tuple[int, str], int] = field(default_factory=dict)  # (topic, wording) -> row
    wording_topics: dict[str, set[int]] = field(default_factory=dict)  # wording -> topics asked in it
    verified_in: object | None = None  # the transaction that last saw the database match ``fingerprint``
    unsynced: bool = False  # rows of ``verified_in``'s own writes are in, ``fingerprint`` not updated yet
    term_counts: Counter[str] = field(default_factory=Counter)  # term -> rows (distinct wordings) with it
    terms: _LazyTerms = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _idf: Idf | None = None  # word rarity over the rows, rebuilt lazily after rows are added

    def __post_init__(self) -> None:
        self.terms = _LazyTerms(self.texts)

    def idf(self, stopwords: Idf) -> Idf:
        """Word rarity over the rows' wordings (each a document), with ``stopwords``' common terms."""
        if self._idf is None or self._idf.stopwords is not stopwords:
            self._idf = Idf.from_counts(self.term_counts, self.size, stopwords=stopwords,
                                        source=f"{self.size} stored questions")
        return self._idf

    def add(self, question_id: int, topic_id: int, text: str, vector: np.ndarray, content_id: int | None) -> None:
        wording = _wording(text)
        key = (topic_id, wording)
        if key in self.rows:
            return  # the same words in the same topic add nothing to matching
        if self.size == len(self.vectors):  # grow by doubling: appends stay amortised O(1)
            grown = np.zeros((max(64, 2 * len(self.vectors)), self.dimension), dtype=np.float32)
            grown[: self.size] = self.vectors[: self.size]
            self.vectors = grown
        self.vectors[self.size] = vector
        self.rows[key] = self.size
        self.wording_topics.setdefault(wording, set()).add(topic_id)
        self.term_counts.update(set(tokenize(text)))  # the terms analyse_question finds
        self._idf = None
        self.size += 1
        self.texts.append(text)
        self.terms.append(text)
        self.topic_ids.append(topic_id)
        self.question_ids.append(question_id)
        self.content_ids.append(content_id)


def _wording(text: str) -> str:
    return " ".join(text.casefold().split())


def duplicate_model(kb) -> DuplicateModel:  # type: ignore[no-untyped-def]
    """The instance's own duplicate model if it has one (``<instance>/duplicate_model.json``), else the shipped one."""
    model = kb.caches.get(MODEL_KEY)
    if model is None:
        model = kb.caches[MODEL_KEY] = DuplicateModel.load(kb.settings.instance_dir / "duplicate_model.json")
    return model


def duplicate_threshold(kb) -> float:  # type: ignore[no-untyped-def]
    """``questions.duplicate_threshold`` when set (>= 0), else the model's calibrated threshold."""
    configured = kb.settings.questions.duplicate_threshold
    return configured if configured >= 0 else duplicate_model(kb).threshold


def invalidate(kb) -> None:  # type: ignore[no-untyped-def]
    """Forget the warm question vectors (questions moved between topics, topics merged) and the word rarity;
    both are rebuilt on next use."""
    kb.caches.pop(CACHE_KEY, None)
    kb.caches.pop(IDF_KEY, None)


def content_stopwords(kb) -> Idf:  # type: ignore[no-untyped-def]
    """Document frequencies over the knowledge base's passages, used for its stopwords (:meth:`Idf.common`:
    terms in more than half of the passages, such as the company's name).

    Read lazily from the keyword index (each term's passage count, looked up on first use and
    remembered), so it costs nothing up front and follows the content: the index object changes whenever
    a crawl or ``refresh_index`` rebuilds it, and a new one gets a new :class:`Idf`. With no passages
    (an empty knowledge base) there are no stopwords. The indexes are already loaded when a question is
    matched (its search came first); otherwise this loads them, as a search would.
    """
    keyword = kb.indexes()[1]
    cached = kb.caches.get(IDF_KEY)
    if isinstance(cached, tuple) and cached[0] is keyword:
        return cached[1]
    idf = Idf.from_keyword_index(keyword) if keyword.count else Idf.uniform()
    kb.caches[IDF_KEY] = (keyword, idf)
    return idf


def deployment_idf(kb, session: Session) -> Idf:  # type: ignore[no-untyped-def]
    """The word rarity :func:`find_topic` scores with (see the module docstring): document frequencies
    over the distinct wordings of the stored questions, and the knowledge base's stopwords."""
    cache = _fresh_cache(kb, session)
    with cache.lock:
        return cache.idf(content_stopwords(kb))


def fingerprint(session: Session) -> Fingerprint:
    """What changes when a question is added, or a topic changes in any way (merged, a question moved in or
    out: every change to a topic writes a :class:`kb.models.TopicEvent`), in any process.

    Three lookups answered from the primary keys and the merged_into_id index, well under a millisecond
    whatever the size (a checksum over every question's topic, the first design, cost 3 ms at 10,000).
    """
    last_question = session.scalar(select(func.max(Question.id))) or 0
    last_event = session.scalar(select(func.max(TopicEvent.id))) or 0
    merged, merge_sum = session.execute(
        # coalesce(sum()) rather than SQLite's total(), which PostgreSQL lacks; BIGINT: a product of two ids
        # overflows PostgreSQL's 32-bit INTEGER past id 46,341.
        select(func.count(Topic.id), func.coalesce(func.sum(cast(Topic.id, BigInteger) * Topic.merged_into_id), 0))
        .where(Topic.merged_into_id.is_not(None))
    ).one()
    return int(last_question), int(last_event), int(merged), float(merge_sum)


def _load(kb, session: Session) -> _Cache:  # type: ignore[no-untyped-def]
    """Read every question of a live (not merged) topic; questions of merged topics count for the topic
    they were merged into. Vectors made by another model are re-embedded in memory."""
    embedder = kb.embedder
    current = fingerprint(session)
    merged_into = dict(session.execute(
        select(Topic.id, Topic.merged_into_id).where(Topic.merged_into_id.is_not(None))
    ).all())
    rows = session.execute(
        select(Question.id, Question.topic_id, Question.text, Question.best_content_id, Question.embedding,
               Question.embedding_model)
        .where(Question.topic_id.is_not(None))
        .order_by(Question.id)
    ).all()
    cache = _Cache(embedder.model_name, embedder.dimension, current,
                   np.zeros((max(64, len(rows)), embedder.dimension), dtype=np.float32))
    for question_id, topic_id, text, content_id, blob, model_name in rows:
        topic_id = _root(topic_id, merged_into)
        if (topic_id, _wording(text)) in cache.rows:
            continue
        if blob is not None and model_name == embedder.model_name and len(blob) == 4 * embedder.dimension:
            vector = np.frombuffer(blob, dtype=np.float32)
        else:  # stored by another model (the backend changed): compare like with like
            vector = embedder.embed_query(text)
        cache.add(question_id, topic_id, text, vector, content_id)
    return cache


def _root(topic_id: int, merged_into: dict[int, int]) -> int:
    seen = set()
    while topic_id in merged_into and topic_id not in seen:  # a cycle cannot happen; never loop on one
        seen.add(topic_id)
        topic_id = merged_into[topic_id]
    return topic_id


def _fresh_cache(kb, session: Session) -> _Cache:  # type: ignore[no-untyped-def]
    """The cache, checked against the database; reloaded if anything changed since it was built."""
    cache = kb.caches.get(CACHE_KEY)
    transaction = session.get_transaction()
    if isinstance(cache, _Cache) and cache.model_name == kb.embedder.model_name:
        if cache.unsynced:
            if transaction is not None and cache.verified_in is transaction:
                return cache  # it differs from what this transaction sees by this transaction's rows only
        elif cache.fingerprint == fingerprint(session):
            cache.verified_in = transaction
            return cache
    cache = _load(kb, session)
    cache.verified_in = transaction
    kb.caches[CACHE_KEY] = cache
    return cache


def find_topic(
    kb,  # type: ignore[no-untyped-def]
    session: Session,
    text: str,
    vector: np.ndarray,
    *,
    best_content_id: int | None = None,
) -> TopicMatch | None:
    """The best existing non-merged topic whose questions mean the same as ``text``, or None.

    ``vector`` is ``text``'s L2-normalised embedding; ``best_content_id`` its best-matching content, the
    tie-breaker between topics within :data:`TIE_MARGIN` of the best probability.
    """
    cache = _fresh_cache(kb, session)
    with cache.lock:
        return _best_match(kb, cache, text, vector, best_content_id)


def _best_match(kb, cache: _Cache, text: str, vector: np.ndarray,  # type: ignore[no-untyped-def]
                best_content_id: int | None, idf: Idf | None = None) -> TopicMatch | None:
    """The rule of :func:`find_topic` applied to the questions in ``cache`` (``idf``: the cache's own
    word rarity unless given)."""
    if cache.size == 0:
        return None
    model, threshold = duplicate_model(kb), duplicate_threshold(kb)
    idf = idf if idf is not None else cache.idf(content_stopwords(kb))
    wording = _wording(text)
    same_words = cache.wording_topics.get(wording, ())
    if len(same_words) == 1:  # asked in exactly these words before, in one topic: that topic (1 pair scored)
        topic_id = next(iter(same_words))
        row = cache.rows[(topic_id, wording)]
        prob = float(model.score(text, vector, [cache.texts[row]], cache.vectors[row : row + 1], idf=idf,
                                 other_terms=[cache.terms[row]], top_n=None)[0])
        if prob >= threshold:
            return TopicMatch(topic_id=topic_id, probability=prob, question_id=cache.question_ids[row])
    probs = model.score(text, vector, cache.texts, cache.vectors[: cache.size], idf=idf, other_terms=cache.terms)
    qualifying = np.flatnonzero(probs >= threshold)
    if not len(qualifying):
        return None
    best_row: dict[int, int] = {}  # topic -> its most similar row
    contents: dict[int, set[int]] = {}  # topic -> the contents its qualifying questions matched best
    for row in qualifying:
        topic_id = cache.topic_ids[row]
        if topic_id not in best_row or probs[row] > probs[best_row[topic_id]]:
            best_row[topic_id] = int(row)
        if cache.content_ids[row] is not None:
            contents.setdefault(topic_id, set()).add(cache.content_ids[row])
    top = max(probs[row] for row in best_row.values())
    near = [topic_id for topic_id, row in best_row.items() if probs[row] >= top - TIE_MARGIN]
    # Among near equals, the one whose questions matched the same content; then the highest probability.
    chosen = max(near, key=lambda t: (best_content_id is not None and best_content_id in contents.get(t, ()),
                                      probs[best_row[t]]))
    row = best_row[chosen]
    return TopicMatch(topic_id=chosen, probability=float(probs[row]), question_id=cache.question_ids[row])


class PendingTopics:
    """Topics a dry run would open, kept in memory and matched by the same rule as stored ones.

    Their ids are negative (-1, -2, ...) so they never collide with stored topics.
    """

    def __init__(self, kb) -> None:  # type: ignore[no-untyped-def]
        self.kb = kb
        self.cache = _Cache(kb.embedder.model_name, kb.embedder.dimension, (0, 0, 0, 0.0),
                            np.zeros((64, kb.embedder.dimension), dtype=np.float32))
        self.count = 0

    def match(self, text: str, vector: np.ndarray, best_content_id: int | None) -> TopicMatch | None:
        """The best pending topic; word rarity counts the stored questions (as last loaded by
        :func:`find_topic`, which a dry run calls first) and the pending ones together."""
        stored = self.kb.caches.get(CACHE_KEY)
        counts = [self.cache.term_counts] + ([stored.term_counts] if isinstance(stored, _Cache) else [])
        documents = self.cache.size + (stored.size if isinstance(stored, _Cache) else 0)
        idf = Idf(documents, lambda terms: {term: sum(c.get(term, 0) for c in counts) for term in terms},
                  stopwords=content_stopwords(self.kb), source=f"{documents} stored and pending questions")
        return _best_match(self.kb, self.cache, text, vector, best_content_id, idf)

    def add(self, text: str, vector: np.ndarray, content_id: int | None, topic_id: int | None = None) -> int:
        """Record a question of a pending topic (a new one unless ``topic_id``); returns the topic's id."""
        if topic_id is None:
            self.count += 1
            topic_id = -self.count
        self.cache.add(0, topic_id, text, vector, content_id)
        return topic_id


def note_question(kb, session: Session, question: Question, vector: np.ndarray, *,  # type: ignore[no-untyped-def]
                  sync: bool = True) -> None:
    """Add a question just stored (flushed, with its topic) to the warm cache, so the next question of the
    same transaction (an import's next row) is matched against it without a reload.

    Only when :func:`find_topic` checked the cache in this same transaction: then the database differs from
    the cache by this transaction's own writes alone (on SQLite a concurrent writer would have made this
    transaction fail), else the cache is dropped and reloaded on next use. ``sync=False`` (an import's rows)
    leaves the fingerprint to :func:`sync`, called once before the batch commits; until then the cache is
    trusted in this transaction only. After a rollback the cache reloads by itself (its rows were never
    stored): it is only trusted in the transaction that wrote them.
    """
    cache = kb.caches.get(CACHE_KEY)
    if not isinstance(cache, _Cache) or question.id is None or question.topic_id is None:
        return
    with cache.lock:
        if cache.verified_in is None or cache.verified_in is not session.get_transaction():
            invalidate(kb)
            return
        cache.add(question.id, question.topic_id, question.text, vector, question.best_content_id)
        cache.unsynced = True
        if sync:
            _sync(cache, session)


def sync(kb, session: Session) -> None:  # type: ignore[no-untyped-def]
    """Take the fingerprint of this transaction's writes (call before committing questions noted with
    ``sync=False``), so the next transaction finds the cache current instead of reloading it."""
    cache = kb.caches.get(CACHE_KEY)
    if isinstance(cache, _Cache) and cache.unsynced:
        with cache.lock:
            if cache.verified_in is session.get_transaction():
                _sync(cache, session)
            else:
                invalidate(kb)


def _sync(cache: _Cache, session: Session) -> None:
    cache.fingerprint = fingerprint(session)
    cache.unsynced = False
