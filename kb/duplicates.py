"""Question de-duplication: the probability that two prospect questions ask the same thing.

Sales reps submit prospect questions; the ones that mean the same thing must land in one topic. A single
cosine threshold on the sentence embeddings confuses look-alikes ("SSO with Okta" vs "SCIM with Okta":
same words, same topic, different question) with paraphrases, so a small logistic model combines the
cosine with cheap signals of the analysed terms (:func:`kb.text_terms.tokenize`: stemmed, stopwords
removed) that catch what the embedding blurs:

- ``cosine``, ``cosine_sq``: the embedding similarity and its square (the odds of a duplicate rise
  faster than linearly near the top);
- ``jaccard``: shared terms over all terms;
- ``missing_max``, ``missing_min``: the share of each side's terms the other lacks (the larger and the
  smaller of the two), so "one question adds a qualifier" and "both differ" are told apart;
- ``number_mismatch``: the two sides' numbers and years differ ("pricing in 2024" vs "in 2025");
- ``lead_match``: both start with the same question word (what/how/why/which/...; auxiliaries such as
  "can"/"does"/"is" all count as one yes/no word);
- ``negation_mismatch``: one side is negated ("does" vs "doesn't");
- ``length_ratio``: the shorter side's term count over the longer's;
- ``no_terms``: one side has no terms left after analysis ("Why?"), so the lexical signals say nothing;
- ``idf_jaccard``, ``idf_missing_max``, ``idf_missing_min``: the same overlaps with each term weighted by
  its IDF, so words common in the deployment's text count less than "okta"/"scim";
- ``rare_unshared``: the IDF of the rarest term found on one side only, over the largest IDF. This is the
  strongest lexical signal: a rare word only one side has ("Python" vs "Java") usually means another
  question, however close the embeddings are.

Word rarity (:class:`Idf`) is an explicit input of scoring, learned from the deployment's own text at
run time, never shipped: the model file holds weights and thresholds only (the Quora question pairs they
are fitted on are licensed for evaluation only, and a company knows its own vocabulary better). In the
product (:func:`kb.topic_matching.deployment_idf`) the stored questions grade the words, as the dev
questions do when ``kb eval duplicates`` fits the weights (the same kind of text: on Quora, the same
model scored with uniform weights instead loses 2 F1 points, 0.822 -> 0.802), and the knowledge base's
passages name the deployment's stopwords: its name is in most of them, so "Does Fernbrook support SSO
with Okta?" and "Do you support SSO with Okta?" differ by a word as empty as "you", where a general
table took "Fernbrook" for the rarest of words. The passages do not grade the other words: a company's
content is about its product, so its frequent words are the product's vocabulary (plan names, SSO,
SCIM), the very words that tell look-alikes apart (see :mod:`kb.topic_matching`). Before 3 questions
are stored, every word weighs the same (the cautious reading: any one-sided word counts as rare).

The weights are fitted on labelled question pairs by ``kb eval duplicates`` (weights and threshold from
the dev split only) and shipped in ``duplicate_model.json`` with the command that made them.

What the fit on Quora question pairs says, and its limits: the cosine carries most of the weight; the rare
one-sided term (``rare_unshared``) is the lexical signal that helps most; and *given the cosine*, more word
overlap makes a duplicate slightly *less* likely (the overlap features share their weight in large
opposite-signed amounts, being near-collinear; only their sum is meaningful). That is how that data set
was built: its non-duplicates are look-alikes with many shared words, its duplicates often paraphrases in
other words. On the small company site of the tests (``tests/fixtures/duplicates/company_site.json``,
21 passages, no question stored yet), for "Do you support SSO with Okta?" at the 0.365 threshold: "Can I
use Okta for SSO?" 0.87, "Does Fernbrook support SSO with Okta?" 0.66 (0.27 without the site's
stopwords: the company-name case) and "Can we log in through Okta single sign-on?" 0.46 join; the
look-alikes "...SCIM provisioning with Okta?" 0.26 and "...SSO with Azure AD?" 0.07 do not. Once the 50
demo questions grade the words (on the demo site), the SCIM look-alike rises to 0.357, just under the
0.365 threshold, the paraphrase staying above both (0.47): SCIM, SSO and Okta are all rare words, and
nothing lexical tells a swapped product term from a synonym (on Quora dev, of the pairs the model calls
duplicates, those that swap one rarest-class word each way are duplicates 39% of the time: a rule
rejecting such swaps moved dev F1 by 0.0002, and allowing two words a side lowered it). Nor does "Are
you FedRAMP authorized?" join "Is Fernbrook FedRAMP authorized?" (0.22; their terms are the same once the
company's name is left out, but at cosine 0.70, Quora pairs differing by common words only are
duplicates 15-39% of the time).
Feedback from the product's own merged topics should refit it.

Scoring one new question against many stored ones (:meth:`DuplicateModel.score`) is vectorised for the
cosine; the lexical features are computed only for the ``top_n`` (default 50) most similar questions by
cosine, and the rest get the probability of a cosine-only logistic model fitted alongside (the
``fallback_*`` fields). Below the 50 nearest neighbours a duplicate is all but impossible in practice,
and this keeps one question against 10,000 stored ones at about 10 ms on a 2-core machine (mostly the
matrix-vector product; the 50 feature rows take 2.5 ms), where the full model on all 10,000 takes
0.4 s. Callers that keep the stored questions' :class:`QuestionTerms` (they do not change) can pass
them to skip re-analysing the neighbours.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.text_terms import normalize, tokenize

FEATURES = (
    "cosine",
    "cosine_sq",
    "jaccard",
    "missing_max",
    "missing_min",
    "number_mismatch",
    "lead_match",
    "negation_mismatch",
    "length_ratio",
    "no_terms",
    "idf_jaccard",
    "idf_missing_max",
    "idf_missing_min",
    "rare_unshared",
)
FALLBACK_FEATURES = ("cosine", "cosine_sq")
TOP_N = 50  # stored questions per new one that get the full model; the rest get the cosine-only one
MIN_DOCUMENT_FREQUENCY = 3  # terms in fewer documents all count as the rarest (see Idf)
MAX_DOCUMENT_SHARE = 0.5  # terms in more than this share of the documents are the deployment's stopwords (see Idf)
MIN_IDF = math.log(10)  # no term weighs less than one in a tenth of the documents (see Idf)

# Words a question starts with; auxiliaries ("can", "does", "is", ...) all open a yes/no question.
_WH_WORDS = frozenset({"what", "how", "why", "which", "who", "whom", "whose", "where", "when"})
_YES_NO = frozenset({
    "is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will", "shall",
    "may", "might", "must", "has", "have", "had",
})
# After normalisation "don't" reads "dont" (apostrophes inside words are dropped).
_NEGATIONS = frozenset({
    "not", "no", "never", "nor", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent",
    "wont", "wouldnt", "shouldnt", "couldnt", "hasnt", "havent", "hadnt", "aint", "mustnt", "neither", "without",
})
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class QuestionTerms:
    """What the lexical features need from one question; depends only on its text, so callers may cache it."""

    terms: frozenset[str]
    numbers: frozenset[str]
    lead: str  # the question word it starts with ("what", "how", ...; "yes/no" for auxiliaries), or ""
    negated: bool
    count: int  # analysed terms, repeats included


def analyse_question(text: str) -> QuestionTerms:
    """The analysed terms, numbers, leading question word and negation of ``text``."""
    terms = tokenize(text)
    words = _WORD.findall(normalize(text))
    return QuestionTerms(
        terms=frozenset(terms),
        numbers=frozenset(term for term in terms if term.isdigit()),
        lead=_lead_word(words),
        negated=any(word in _NEGATIONS for word in words),
        count=len(terms),
    )


def _lead_word(words: Sequence[str]) -> str:
    """The first question word among the first three words ("Hi, how do..." still reads "how")."""
    for word in words[:3]:
        if word in _WH_WORDS:
            return word
        if word in _YES_NO:
            return "yes/no"
    return ""


class Idf:
    """Word rarity (inverse document frequency) of analysed terms, from the deployment's own text.

    ``lookup`` gives the document frequencies of a batch of terms (a dict wrapped, or the keyword index's
    :meth:`~kb.keyword_index.KeywordIndex.document_frequencies`); each term is looked up once and
    remembered. A term's IDF is ``log((documents + 1) / max(df + 1, min_frequency))``, but at least
    :data:`MIN_IDF`:

    - terms in fewer than ``min_frequency`` documents all get the largest value, ``default``: an unseen
      product name is as rare as a word seen once or twice, and one or two stray mentions do not make a
      word common;
    - no term weighs less than one found in a tenth of the documents (``log(10)``; the most common term
      of the Quora questions the weights are fitted on, "best", is in 9.7% of them). The model has never
      seen lighter words, and it extrapolates badly: with "integrate" in all of a deployment's first
      questions (weight 0), "Do you integrate with NetSuite?" and "...with SAP?" scored 0.94, as the
      weighted overlap then says "nothing shared" while the unweighted one counts the word. With few
      documents the bound reaches ``default``: under about 30 documents every term weighs the same;
    - with ``max_share`` (the knowledge base's passages: :data:`MAX_DOCUMENT_SHARE`, half), terms in more
      than that share of the documents are stopwords of this deployment (:meth:`common`); an Idf given
      as ``stopwords`` lends its own. The company's name, in most of its passages, says no more about
      which question is asked than "you" does, so :func:`pair_features` leaves such terms out
      altogether. Question counts name no stopwords: a handful of early questions on one subject must
      not turn its key word into one (and the most common term of the Quora questions the weights are
      fitted on is in under 10% of them).

    With fewer documents than ``min_frequency`` (no questions yet, an empty knowledge base: nothing says
    which words are common) every term weighs 1 (uniform): the IDF-weighted features equal their
    unweighted twins and any one-sided term counts as the rarest, the cautious reading (a look-alike
    stays apart); the ``stopwords`` still apply.
    """

    def __init__(self, documents: int, lookup: FrequencyLookup | None, *,
                 min_frequency: int = MIN_DOCUMENT_FREQUENCY, max_share: float | None = None,
                 stopwords: Idf | None = None, source: str = "") -> None:
        self._floor = max(1, int(min_frequency))
        self._max_share = float(max_share) if max_share is not None else math.inf
        # Fewer documents than the floor cannot tell a common word from a rare one: uniform.
        self.documents = int(documents) if lookup is not None and documents >= self._floor else 0
        self._lookup = lookup if self.documents else None
        self.stopwords = stopwords
        self.source = source if self.documents else "uniform (too few documents)"
        self.default = math.log((self.documents + 1) / self._floor) if self.documents else 1.0
        self._least = min(MIN_IDF, self.default)
        self._weights: dict[str, float] = {}
        self._common: set[str] = set()

    @classmethod
    def uniform(cls, *, stopwords: Idf | None = None) -> Idf:
        """Every term weighs 1 (no text to learn rarity from); ``stopwords``' common terms are left out."""
        return cls(0, None, stopwords=stopwords)

    @classmethod
    def from_counts(cls, frequencies: Mapping[str, int], documents: int, *,
                    min_frequency: int = MIN_DOCUMENT_FREQUENCY, max_share: float | None = None,
                    stopwords: Idf | None = None, source: str = "counts") -> Idf:
        """From document frequencies (terms not in ``frequencies`` occur in no document). The mapping is
        read, not copied: a caller that keeps counting builds a new Idf when its counts change."""
        return cls(documents, lambda terms: {term: frequencies.get(term, 0) for term in terms},
                   min_frequency=min_frequency, max_share=max_share, stopwords=stopwords, source=source)

    @classmethod
    def from_questions(cls, questions: Iterable[QuestionTerms], *,
                       min_frequency: int = MIN_DOCUMENT_FREQUENCY) -> Idf:
        """Each question is a document (how ``kb eval duplicates`` weighs words: its dev questions)."""
        frequency: Counter[str] = Counter()
        count = 0
        for question in questions:
            frequency.update(question.terms)
            count += 1
        return cls.from_counts(frequency, count, min_frequency=min_frequency, source=f"{count} questions")

    @classmethod
    def from_keyword_index(cls, index: DocumentFrequencies, *, min_frequency: int = MIN_DOCUMENT_FREQUENCY,
                           max_share: float = MAX_DOCUMENT_SHARE) -> Idf:
        """Each passage of the knowledge base is a document (read lazily from the keyword index); terms in
        more than ``max_share`` of them are stopwords."""
        return cls(index.count, index.document_frequencies, min_frequency=min_frequency, max_share=max_share,
                   source=f"{index.count} passages")

    @property
    def is_uniform(self) -> bool:
        return self._lookup is None

    def prime(self, terms: Iterable[str]) -> None:
        """Look up the terms not seen yet in one batch (one call to the source instead of one per term)."""
        if self._lookup is None:
            return
        missing = [term for term in dict.fromkeys(terms) if term not in self._weights]
        if missing:
            found = self._lookup(missing)
            n, floor = self.documents, self._floor
            for term in missing:
                df = int(found.get(term, 0))
                if df > self._max_share * n:
                    self._common.add(term)
                self._weights[term] = max(math.log((n + 1) / max(df + 1, floor)), self._least)

    def common(self, terms: Iterable[str]) -> frozenset[str]:
        """Those of ``terms`` that are stopwords of this deployment (see the class docstring), which
        :func:`pair_features` leaves out."""
        terms = frozenset(terms)
        found = self.stopwords.common(terms) if self.stopwords is not None else frozenset()
        if self._lookup is not None:
            self.prime(terms)
            if self._common:
                found |= terms & self._common
        return found

    def __call__(self, term: str) -> float:
        if self._lookup is None:
            return 1.0
        weight = self._weights.get(term)
        if weight is None:
            self.prime((term,))
            weight = self._weights[term]
        return weight

    def __repr__(self) -> str:
        extra = f", stopwords from {self.stopwords.source}" if self.stopwords is not None else ""
        return f"Idf({self.source}, default={self.default:.3f}{extra})"


class DocumentFrequencies(Protocol):
    """What :meth:`Idf.from_keyword_index` needs (:class:`kb.keyword_index.KeywordIndex` has it)."""

    @property
    def count(self) -> int: ...

    def document_frequencies(self, terms: Iterable[str]) -> Mapping[str, int]: ...


FrequencyLookup = Callable[[Sequence[str]], Mapping[str, int]]
UNIFORM = Idf.uniform()  # every term weighs 1: the IDF features equal their unweighted twins


def pair_features(a: QuestionTerms, b: QuestionTerms, cosine: float, idf: Idf = UNIFORM) -> dict[str, float]:
    """The feature vector of one pair (see the module docstring); symmetric in ``a`` and ``b``. ``idf``
    weighs the terms of the IDF features (uniform: they equal their unweighted twins); the terms it calls
    common (:meth:`Idf.common`) are left out of every lexical feature, like stopwords."""
    common = idf.common(a.terms | b.terms)
    if common:
        a, b = _without(a, common), _without(b, common)
    shared = len(a.terms & b.terms)
    union = len(a.terms | b.terms)
    missing_a = 1.0 - shared / len(a.terms) if a.terms else 0.0
    missing_b = 1.0 - shared / len(b.terms) if b.terms else 0.0
    longer = max(a.count, b.count)
    return {
        "cosine": float(cosine),
        "cosine_sq": float(cosine) ** 2,
        "jaccard": shared / union if union else 1.0,
        "missing_max": max(missing_a, missing_b),
        "missing_min": min(missing_a, missing_b),
        "number_mismatch": 1.0 if a.numbers != b.numbers else 0.0,
        "lead_match": 1.0 if a.lead and a.lead == b.lead else 0.0,
        "negation_mismatch": 1.0 if a.negated != b.negated else 0.0,
        "length_ratio": min(a.count, b.count) / longer if longer else 1.0,
        "no_terms": 1.0 if not a.terms or not b.terms else 0.0,
    } | _weighted_overlap(a.terms, b.terms, idf)


def _without(question: QuestionTerms, common: frozenset[str]) -> QuestionTerms:
    """``question`` without the ``common`` terms (its term count loses one per distinct term dropped)."""
    dropped = question.terms & common
    if not dropped:
        return question
    terms = question.terms - dropped
    return replace(question, terms=terms, numbers=question.numbers - dropped,
                   count=max(len(terms), question.count - len(dropped)))


def _weighted_overlap(a: frozenset[str], b: frozenset[str], idf: Idf) -> dict[str, float]:
    """The IDF-weighted twins of jaccard and missing, and the rarest one-sided term."""
    idf.prime(a | b)
    weight_a, weight_b = sum(idf(t) for t in a), sum(idf(t) for t in b)
    shared = sum(idf(t) for t in a & b)
    union = weight_a + weight_b - shared
    missing_a = 1.0 - shared / weight_a if weight_a else 0.0
    missing_b = 1.0 - shared / weight_b if weight_b else 0.0
    rarest = max((idf(t) for t in a ^ b), default=0.0)
    return {
        "idf_jaccard": shared / union if union else 1.0,
        "idf_missing_max": max(missing_a, missing_b),
        "idf_missing_min": min(missing_a, missing_b),
        "rare_unshared": rarest / idf.default if idf.default else 0.0,
    }


def feature_matrix(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    """Rows of feature dicts as a float64 matrix with the columns ``names`` (missing ones are 0)."""
    return np.array([[row.get(name, 0.0) for name in names] for row in rows], dtype=np.float64).reshape(
        len(rows), len(names)
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


@dataclass(frozen=True)
class DuplicateModel:
    """A fitted logistic model over :data:`FEATURES`, its decision threshold and the cosine-only fallback."""

    features: tuple[str, ...]
    weights: dict[str, float]
    bias: float
    threshold: float  # a pair is a duplicate when its probability is >= this
    fallback_weights: dict[str, float] = field(default_factory=dict)  # over FALLBACK_FEATURES
    fallback_bias: float = 0.0
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))  # JSON gives a list

    def probabilities(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """The duplicate probability of each feature row (from :func:`pair_features`)."""
        weights = np.array([self.weights.get(name, 0.0) for name in self.features])
        return _sigmoid(feature_matrix(rows, self.features) @ weights + self.bias)

    def cosine_probabilities(self, cosines: np.ndarray) -> np.ndarray:
        """The fallback model's probability from the cosine alone (pairs outside the top ``top_n``)."""
        c = np.asarray(cosines, dtype=np.float64)
        w = self.fallback_weights
        return _sigmoid(w.get("cosine", 0.0) * c + w.get("cosine_sq", 0.0) * c * c + self.fallback_bias)

    def score(
        self,
        text: str,
        vector: np.ndarray,
        other_texts: Sequence[str],
        other_vectors: np.ndarray,
        *,
        idf: Idf,
        other_terms: Sequence[QuestionTerms] | None = None,
        top_n: int | None = TOP_N,
    ) -> np.ndarray:
        """The probability that ``text`` duplicates each of ``other_texts``, in their order.

        Vectors are L2-normalised rows (``other_vectors``: shape (n, dimension)). ``idf`` is the word
        rarity of the deployment (:class:`Idf`; :func:`kb.topic_matching.deployment_idf` in the product,
        :meth:`Idf.uniform` when there is no text to learn it from). The ``top_n`` most similar by cosine
        get the full model, the rest the cosine-only fallback (``top_n=None``: all get the full model).
        ``other_terms``, if given, are the :func:`analyse_question` of ``other_texts``.
        """
        if len(other_texts) != len(other_vectors) or (other_terms is not None and len(other_terms) != len(other_texts)):
            raise ValueError("other_texts, other_vectors and other_terms must have the same length")
        if len(other_texts) == 0:
            return np.zeros(0, dtype=np.float64)
        cosines = np.asarray(other_vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        cosines = np.clip(cosines.astype(np.float64), -1.0, 1.0)
        probs = self.cosine_probabilities(cosines)
        near = _nearest(cosines, top_n)
        mine = analyse_question(text)
        theirs = [other_terms[i] if other_terms is not None else analyse_question(other_texts[i]) for i in near]
        idf.prime(mine.terms.union(*(other.terms for other in theirs)))  # one batch lookup for all the pairs
        rows = [pair_features(mine, other, cosines[i], idf) for i, other in zip(near, theirs, strict=True)]
        probs[near] = self.probabilities(rows)
        return probs

    def is_duplicate(self, prob: float) -> bool:
        return bool(prob >= self.threshold)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = asdict(self)
        data["features"] = list(self.features)
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | None = None) -> DuplicateModel:
        """The model at ``path`` if given and readable, else the shipped ``duplicate_model.json``."""
        if path is not None and path.is_file():
            try:
                return cls._from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError, AttributeError):
                pass  # a damaged local model falls back to the shipped one, as the confidence model does
        return cls._from_dict(json.loads((files("kb") / "duplicate_model.json").read_text()))

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> DuplicateModel:
        """The model in ``data``; keys of older files (the IDF table models once carried) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def _nearest(cosines: np.ndarray, top_n: int | None) -> np.ndarray:
    """Indexes of the ``top_n`` highest cosines (all of them when ``top_n`` is None or not smaller)."""
    if top_n is None or top_n >= len(cosines):
        return np.arange(len(cosines))
    if top_n <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-cosines, top_n - 1)[:top_n]

