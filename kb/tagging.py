"""Persona and flywheel-stage suggestions for topics, learning from the tags marketers set.

Personas and stages are defined in ``config.toml`` (``[[personas]]``, ``[[stages]]``: a name, a
description and example questions). Each new question gets a suggested persona and stage with a
confidence; a rep's own tag wins over a suggestion, and a marketer's tag over everything.

How a label is scored (one kind at a time: personas, or stages), from cosine similarities of
L2-normalised all-MiniLM-L6-v2 vectors:

- **Descriptions and examples.** The label's description and each example question are embedded once
  (cached per process, keyed by the tag definitions and the model). The label's config similarity is
  the *maximum* over them: one example close to the question is stronger evidence than the average of
  several unrelated ones (the mean lost 10 points of persona accuracy on the demo questions).
- **Marketer corrections.** Topics a marketer tagged (``persona_source == "marketer"``) act as more
  labelled examples: a topic's similarity is the best over its questions' stored vectors, and the
  ``neighbours`` nearest tagged topics vote for their label.
- **Combining both.** Every piece of evidence weighs ``exp(similarity / temperature)`` (the label's
  config similarity once, each neighbour ``correction_weight`` times); a label's confidence is its share
  of the total weight. That is a softmax over labels when nobody has tagged anything yet, and a
  similarity-weighted k-NN vote once marketers have: a tagged topic close to the question outweighs a
  vague description at once (corrections teach), distant ones barely count. ``correction_weight`` 1.0
  means a marketer-tagged topic counts like one example in ``config.toml``.
- **No convincing label.** Below ``floor`` (0.4: with four personas a uniform guess is 0.25, with three
  stages 0.33) the suggestion is None: an empty tag is better than a wrong one a marketer must spot.

The temperature (0.1), neighbours (10) and floor (0.4) were chosen with ``kb eval tagging`` on the
bundled demo questions (see its report): a lower temperature makes the config part over-confident on
small similarity gaps and the floor then rarely abstains; more neighbours drift towards the most common
label. With warm caches a suggestion costs one matrix product over the tagged questions (shared by both
kinds), two tiny ones over the prototypes, and one cheap fingerprint query.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import Question, Topic
from kb.settings import Settings, TagSettings

Kind = Literal["persona", "stage"]
KINDS: tuple[Kind, ...] = ("persona", "stage")
CACHE_KEY = "tagging"
# What the stored source of a tag says; "marketer" tags are evidence for later suggestions.
SUGGESTED, REP, MARKETER = "suggested", "rep", "marketer"
# A person's tag is certain as far as the knowledge base can tell.
HUMAN_CONFIDENCE = 1.0


@dataclass(frozen=True)
class ScoringParams:
    """The knobs of :func:`score_labels` (module docstring: why these values)."""

    temperature: float = 0.1
    neighbours: int = 10
    correction_weight: float = 1.0
    floor: float = 0.4

    def to_dict(self) -> dict[str, float]:
        return {"temperature": self.temperature, "neighbours": self.neighbours,
                "correction_weight": self.correction_weight, "floor": self.floor}


PARAMS = ScoringParams()


# -- scoring on vectors and label lists (no database: the eval uses this directly) ---------------------
@dataclass(frozen=True)
class Prototypes:
    """One kind's label names and the vectors of their descriptions and examples."""

    names: tuple[str, ...]
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    owners: np.ndarray  # (n,) index into names

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])


@dataclass(frozen=True)
class TaggedEvidence:
    """Topics tagged by marketers for one kind: their questions' vectors grouped by topic, and each label.

    ``vectors`` are ordered by topic; ``starts[t]`` is the first row of topic ``t`` (every topic has at
    least one vector), so a topic's similarity is one ``np.maximum.reduceat``. The persona and the stage
    evidence loaded from the database share ``vectors`` and ``starts`` (labels -1 where a topic is tagged
    for the other kind only), so one matrix product serves both.
    """

    vectors: np.ndarray  # (m, dim) float32
    starts: np.ndarray  # (t,) first row of each topic
    labels: np.ndarray  # (t,) index into Prototypes.names; -1: not tagged for this kind (ignored)
    topic_ids: tuple[int, ...] = ()  # database ids, for callers that want to show the evidence

    @property
    def topic_count(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def empty(cls, dimension: int) -> TaggedEvidence:
        return cls(np.zeros((0, dimension), np.float32), np.zeros(0, np.intp), np.zeros(0, np.intp))

    @classmethod
    def from_groups(cls, groups: Sequence[tuple[np.ndarray, int]], dimension: int,
                    topic_ids: Sequence[int] = ()) -> TaggedEvidence:
        """From (vectors of one topic, label index) pairs; topics without vectors are left out."""
        ids = list(topic_ids) if topic_ids else [-1] * len(groups)
        kept = [(np.asarray(v, np.float32).reshape(-1, dimension), label, topic_id)
                for (v, label), topic_id in zip(groups, ids, strict=True)]
        kept = [group for group in kept if len(group[0])]
        if not kept:
            return cls.empty(dimension)
        sizes = np.array([len(v) for v, _, _ in kept], dtype=np.intp)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        return cls(np.ascontiguousarray(np.vstack([v for v, _, _ in kept])), starts,
                   np.array([label for _, label, _ in kept], dtype=np.intp),
                   tuple(topic_id for _, _, topic_id in kept) if topic_ids else ())


@dataclass(frozen=True)
class LabelScores:
    """The best label (None below the floor), its confidence, and every label's probability."""

    label: str | None
    confidence: float
    best: str | None  # the best label even below the floor (what top-1 accuracy measures)
    probabilities: dict[str, float] = field(default_factory=dict)


def score_labels(
    vector: np.ndarray,
    prototypes: Prototypes,
    evidence: TaggedEvidence | None = None,
    *,
    params: ScoringParams = PARAMS,
    exclude_topic: int | None = None,
    topic_sims: np.ndarray | None = None,
) -> LabelScores:
    """Score one question vector against one kind's labels (module docstring: the method).

    ``exclude_topic`` leaves one evidence topic out (the eval's leave-one-out); ``topic_sims`` are the
    question's :func:`topic_similarities` to ``evidence`` when the caller already has them.
    """
    names = prototypes.names
    if not names:
        return LabelScores(None, 0.0, None)
    config = np.full(len(names), -np.inf)
    if len(prototypes.vectors):
        np.maximum.at(config, prototypes.owners, prototypes.vectors @ vector)
    near_sims, near_labels = _nearest_tagged(vector, evidence, params.neighbours, exclude_topic, topic_sims)
    finite = config[np.isfinite(config)]
    candidates = np.concatenate((finite, near_sims))
    if not candidates.size:
        return LabelScores(None, 0.0, None, {name: 0.0 for name in names})
    shift = float(candidates.max())  # numerical stability: the largest weight is exp(0) = 1
    mass = np.exp((config - shift) / params.temperature)  # exp(-inf) = 0 for a label without prototypes
    if near_sims.size:
        np.add.at(mass, near_labels, params.correction_weight * np.exp((near_sims - shift) / params.temperature))
    probabilities = mass / mass.sum()
    best = int(np.argmax(probabilities))
    confidence = float(probabilities[best])
    return LabelScores(
        names[best] if confidence >= params.floor else None,
        confidence,
        names[best],
        {name: float(p) for name, p in zip(names, probabilities, strict=True)},
    )


def topic_similarities(vector: np.ndarray, evidence: TaggedEvidence) -> np.ndarray:
    """Each evidence topic's similarity to ``vector``: the best over its questions."""
    if evidence.topic_count == 0:
        return np.zeros(0)
    return np.maximum.reduceat(evidence.vectors @ vector, evidence.starts).astype(np.float64)


def _nearest_tagged(vector: np.ndarray, evidence: TaggedEvidence | None, k: int, exclude_topic: int | None,
                    topic_sims: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Similarities and labels of the ``k`` tagged topics nearest to ``vector`` (best question per topic)."""
    if evidence is None or evidence.topic_count == 0 or k <= 0:
        return np.zeros(0), np.zeros(0, np.intp)
    sims = topic_similarities(vector, evidence) if topic_sims is None else topic_sims.copy()
    sims[evidence.labels < 0] = -np.inf
    if exclude_topic is not None:
        sims[exclude_topic] = -np.inf
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.isfinite(sims[top])]
    return sims[top], evidence.labels[top]


def build_prototypes(tags: Sequence[TagSettings], embedder: Any) -> Prototypes:
    """Embed each label's description and examples in one batch (empty texts are left out)."""
    texts: list[str] = []
    owners: list[int] = []
    for index, tag in enumerate(tags):
        for text in (tag.description, *tag.examples):
            if text.strip():
                texts.append(text.strip())
                owners.append(index)
    vectors = embedder.embed_passages(texts) if texts else np.zeros((0, embedder.dimension), np.float32)
    return Prototypes(tuple(tag.name for tag in tags), np.asarray(vectors, np.float32),
                      np.array(owners, dtype=np.intp))


def tag_definitions(settings: Settings, kind: Kind) -> list[TagSettings]:
    return list(settings.personas if kind == "persona" else settings.stages)


# -- names -------------------------------------------------------------------------------------------
def _name_key(name: str) -> str:
    """Case, surrounding space and inner runs of spaces/underscores do not matter: " IT Security" == "it-security"."""
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


def check_tag(settings: Settings, kind: Kind, name: str | None) -> str | None:
    """The configured name ``name`` means (None or blank: None); an unknown name is a ValidationError."""
    if kind not in KINDS:
        raise ValidationError(f"unknown tag kind {kind!r}; choose from {', '.join(KINDS)}")
    if name is None or not str(name).strip():
        return None
    valid = [tag.name for tag in tag_definitions(settings, kind)]
    wanted = _name_key(str(name))
    for configured in valid:
        if _name_key(configured) == wanted:
            return configured
    listed = ", ".join(valid) if valid else f"none (no {kind}s are configured)"
    raise ValidationError(f"unknown {kind} {str(name).strip()!r}; valid {kind}s: {listed}")


# -- suggestions for the knowledge base ----------------------------------------------------------------
@dataclass(frozen=True)
class TagSuggestion:
    """A suggested persona and stage (None where no label was convincing) with their confidences.

    A confidence is the best label's probability, also when it fell below the floor and the label is None.
    """

    persona: str | None
    persona_confidence: float
    stage: str | None
    stage_confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"persona": self.persona, "persona_confidence": round(self.persona_confidence, 4),
                "stage": self.stage, "stage_confidence": round(self.stage_confidence, 4)}


@dataclass
class _Cache:
    """Per-process warm data in ``kb.caches["tagging"]``; every entry knows what it was built from."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    prototypes_key: tuple | None = None
    prototypes: dict[str, Prototypes] = field(default_factory=dict)
    evidence_key: tuple | None = None
    evidence: dict[str, TaggedEvidence] = field(default_factory=dict)


def suggest_tags(kb: Any, session: Session, text: str, vector: np.ndarray | None) -> TagSuggestion:
    """Suggest a persona and a stage for a question (``vector``: its embedding; embedded from ``text`` if None)."""
    if vector is None:
        vector = kb.embedder.embed_query(text)
    vector = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector = vector / norm
    prototypes, evidence = _warm(kb, session)
    shared = topic_similarities(vector, evidence["persona"])  # both kinds share the vectors (load_evidence)
    scores = {kind: score_labels(vector, prototypes[kind], evidence[kind], topic_sims=shared) for kind in KINDS}
    return TagSuggestion(scores["persona"].label, scores["persona"].confidence,
                         scores["stage"].label, scores["stage"].confidence)


def label_prototypes(kb: Any) -> dict[str, Prototypes]:
    """Each kind's prototypes for the configured personas and stages (cached like the suggestions' own).

    What :mod:`kb.content_tags` scores content against, so content and questions share one definition.
    """
    cache = _cache(kb)
    with cache.lock:
        _refresh_prototypes(kb, cache)
        return cache.prototypes


def _cache(kb: Any) -> _Cache:
    cache = kb.caches.get(CACHE_KEY)
    if not isinstance(cache, _Cache):
        cache = kb.caches[CACHE_KEY] = _Cache()
    return cache


def _prototypes_key(kb: Any) -> tuple:
    definitions = tuple(
        tuple((t.name, t.description, tuple(t.examples)) for t in tag_definitions(kb.settings, kind)) for kind in KINDS
    )
    return (kb.embedder.model_name, definitions)


def _refresh_prototypes(kb: Any, cache: _Cache) -> tuple:
    """Rebuild the prototypes when the definitions or the model changed (call with ``cache.lock`` held)."""
    prototypes_key = _prototypes_key(kb)
    if cache.prototypes_key != prototypes_key:
        cache.prototypes = {kind: build_prototypes(tag_definitions(kb.settings, kind), kb.embedder) for kind in KINDS}
        cache.prototypes_key = prototypes_key
        cache.evidence_key = None
    return prototypes_key


def _warm(kb: Any, session: Session) -> tuple[dict[str, Prototypes], dict[str, TaggedEvidence]]:
    """The cached prototypes and marketer evidence, rebuilt when the definitions or the tags changed."""
    cache = _cache(kb)
    tagged = _tagged_fingerprint(session)
    with cache.lock:
        fingerprint = (_refresh_prototypes(kb, cache), *tagged)
        if cache.evidence_key != fingerprint:
            cache.evidence = load_evidence(session, cache.prototypes, kb.embedder.model_name)
            cache.evidence_key = fingerprint
        return cache.prototypes, cache.evidence


def _marketer_tagged() -> Any:
    return or_(Topic.persona_source == MARKETER, Topic.stage_source == MARKETER)


def _tagged_fingerprint(session: Session) -> tuple[Any, ...]:
    """Cheap summary of the marketer-tagged topics: count and latest ``updated_at``.

    Tagging, untagging or re-tagging a topic changes one of them, and so does a question joining or leaving
    a tagged topic: intake, merge and move recompute the topic's demand, which updates the row.
    """
    row = session.execute(
        select(func.count(Topic.id), func.max(Topic.updated_at))
        .where(_marketer_tagged(), Topic.merged_into_id.is_(None))
    ).one()
    return tuple(row)


def load_evidence(session: Session, prototypes: dict[str, Prototypes], model_name: str) -> dict[str, TaggedEvidence]:
    """The marketer-tagged topics' question vectors (this model's only), per kind, as TaggedEvidence."""
    rows = session.execute(
        select(Topic.id, Topic.persona, Topic.persona_source, Topic.stage, Topic.stage_source, Question.embedding)
        .join(Question, Question.topic_id == Topic.id)
        .where(_marketer_tagged(), Topic.merged_into_id.is_(None), Question.embedding.is_not(None),
               Question.embedding_model == model_name)
        .order_by(Topic.id, Question.id)
    ).all()
    indexes = {kind: {_name_key(name): i for i, name in enumerate(prototypes[kind].names)} for kind in KINDS}
    dimension = prototypes["persona"].dimension
    groups: dict[int, tuple[list[np.ndarray], dict[str, int]]] = {}
    for topic_id, persona, persona_source, stage, stage_source, blob in rows:
        vector = np.frombuffer(blob, dtype=np.float32)
        if vector.shape[0] != dimension:  # a stray vector of another size
            continue
        if topic_id not in groups:
            tagged = {"persona": (persona, persona_source), "stage": (stage, stage_source)}
            # -1: not a marketer's tag for this kind, or a name no longer configured.
            labels = {kind: indexes[kind].get(_name_key(tag), -1) if tag and source == MARKETER else -1
                      for kind, (tag, source) in tagged.items()}
            groups[topic_id] = ([], labels)
        groups[topic_id][0].append(vector)
    groups = {topic_id: group for topic_id, group in groups.items() if max(group[1].values()) >= 0}
    shared = TaggedEvidence.from_groups([(np.vstack(vectors), 0) for vectors, _ in groups.values()], dimension,
                                        list(groups))
    return {kind: TaggedEvidence(shared.vectors, shared.starts,
                                 np.array([labels[kind] for _, labels in groups.values()], dtype=np.intp),
                                 shared.topic_ids)
            for kind in KINDS}


# -- applying tags to a topic ---------------------------------------------------------------------------
def apply_tags(
    topic: Topic,
    suggestion: TagSuggestion | None,
    *,
    persona: str | None = None,
    stage: str | None = None,
    source: str = REP,
) -> None:
    """Set a topic's persona and stage from a person's tags and/or a suggestion, by precedence.

    - a marketer's tag (``*_source == "marketer"``) is never overwritten by a rep or a suggestion;
    - a person's tag (``persona``/``stage`` given, ``source`` "rep" or "marketer") wins over a suggestion;
      the latest rep's tag replaces an earlier rep's or a suggested one; a marketer's replaces anything;
    - a suggestion only fills a tag that is empty or itself suggested, and a suggestion of None (nothing
      convincing) leaves the topic as it is rather than clearing an earlier suggestion.

    Names must already be checked with :func:`check_tag`. Recording the change in the topic's history is
    the caller's job (it knows the acting user).
    """
    if source not in (REP, MARKETER):
        raise ValidationError(f"unknown tag source {source!r}; choose from {REP}, {MARKETER}")
    for kind, given in (("persona", persona), ("stage", stage)):
        current_source = getattr(topic, f"{kind}_source")
        if given is not None:
            if source == MARKETER or current_source != MARKETER:
                _set(topic, kind, given, HUMAN_CONFIDENCE, source)
            continue
        if suggestion is None:
            continue
        label = getattr(suggestion, kind)
        if label is None or current_source == MARKETER:
            continue
        if getattr(topic, kind) is None or current_source in (None, SUGGESTED):
            _set(topic, kind, label, float(getattr(suggestion, f"{kind}_confidence")), SUGGESTED)


def _set(topic: Topic, kind: str, value: str, confidence: float, source: str) -> None:
    setattr(topic, kind, value)
    setattr(topic, f"{kind}_confidence", confidence)
    setattr(topic, f"{kind}_source", source)
