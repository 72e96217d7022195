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
  its IDF, so "best"/"way"/"learn" count less than "okta"/"scim";
- ``rare_unshared``: the IDF of the rarest term found on one side only, over the largest IDF. This is the
  strongest lexical signal: a rare word only one side has ("Python" vs "Java") usually means another
  question, however close the embeddings are.

The IDF table (:class:`TermRarity`) comes from the questions the model was fitted on and ships inside the
model file: only terms seen in at least 3 of them (common words and well-known names: word statistics,
no question text); any other term counts as the rarest, which is what an unseen product name should be.

The weights are fitted on labelled question pairs by ``kb eval duplicates`` (weights, IDF and threshold
all from the dev split only) and shipped in ``duplicate_model.json`` with the command that made them.

What the fit on Quora question pairs says, and its limit: the cosine carries most of the weight; the rare
one-sided term (``rare_unshared``) is the lexical signal that helps most (leaving it out costs 0.7 F1
points in dev cross-validation; the IDF features together bring 1.2); and *given the cosine*, more word
overlap makes a duplicate slightly *less* likely (the overlap features share their weight in large
opposite-signed amounts, being near-collinear; only their sum is meaningful). That is how that data set
was built: its non-duplicates are look-alikes with many shared words, its duplicates often paraphrases in
other words. So a look-alike that the embedding puts above a paraphrase stays above it: for "Do you
support SSO with Okta?", "...SCIM provisioning with Okta?" (cosine 0.700, probability 0.41, just above
the 0.37 threshold) beats "Can we log in through Okta single sign-on?" (0.692, 0.35); paraphrases that
keep a key term ("Can I use Okta for SSO?", 0.85) come first, and a swapped rare word ("...SSO with
Azure AD?", 0.11) is not a duplicate. Feedback from the product's own merged topics should refit it.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path

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
MIN_DOCUMENT_FREQUENCY = 3  # terms in fewer fitting questions are left out of the IDF table (they count as rarest)

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


@dataclass(frozen=True)
class TermRarity:
    """IDF of analysed terms; a term outside the table counts as the rarest (``default``)."""

    idf: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0

    @classmethod
    def from_questions(cls, questions: Iterable[QuestionTerms], *,
                       min_frequency: int = MIN_DOCUMENT_FREQUENCY) -> TermRarity:
        """Smoothed IDF, ``log((n + 1) / (df + 1)) + 1``, of the terms in at least ``min_frequency`` of
        ``questions``; the default is the IDF a term of document frequency ``min_frequency`` would have."""
        frequency: Counter[str] = Counter()
        count = 0
        for question in questions:
            frequency.update(question.terms)
            count += 1
        floor = max(1, min_frequency)
        idf = {term: round(math.log((count + 1) / (df + 1)) + 1, 4)
               for term, df in sorted(frequency.items()) if df >= floor}
        return cls(idf, round(math.log((count + 1) / floor) + 1, 4))

    def __call__(self, term: str) -> float:
        return self.idf.get(term, self.default)


UNIFORM = TermRarity()  # every term weighs 1: the IDF features equal their unweighted twins


def pair_features(a: QuestionTerms, b: QuestionTerms, cosine: float,
                  rarity: TermRarity = UNIFORM) -> dict[str, float]:
    """The feature vector of one pair (see the module docstring); symmetric in ``a`` and ``b``."""
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
    } | _weighted_overlap(a.terms, b.terms, rarity)


def _weighted_overlap(a: frozenset[str], b: frozenset[str], rarity: TermRarity) -> dict[str, float]:
    """The IDF-weighted twins of jaccard and missing, and the rarest one-sided term."""
    weight_a, weight_b = sum(rarity(t) for t in a), sum(rarity(t) for t in b)
    shared = sum(rarity(t) for t in a & b)
    union = weight_a + weight_b - shared
    missing_a = 1.0 - shared / weight_a if weight_a else 0.0
    missing_b = 1.0 - shared / weight_b if weight_b else 0.0
    rarest = max((rarity(t) for t in a ^ b), default=0.0)
    return {
        "idf_jaccard": shared / union if union else 1.0,
        "idf_missing_max": max(missing_a, missing_b),
        "idf_missing_min": min(missing_a, missing_b),
        "rare_unshared": rarest / rarity.default if rarity.default else 0.0,
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
    idf_default: float = 1.0  # the IDF table (see TermRarity), last in the file as it is long
    idf: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))  # JSON gives a list

    @property
    def rarity(self) -> TermRarity:
        return TermRarity(self.idf, self.idf_default)

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
        other_terms: Sequence[QuestionTerms] | None = None,
        top_n: int | None = TOP_N,
    ) -> np.ndarray:
        """The probability that ``text`` duplicates each of ``other_texts``, in their order.

        Vectors are L2-normalised rows (``other_vectors``: shape (n, dimension)). The ``top_n`` most
        similar by cosine get the full model, the rest the cosine-only fallback (``top_n=None``: all get
        the full model). ``other_terms``, if given, are the :func:`analyse_question` of ``other_texts``.
        """
        if len(other_texts) != len(other_vectors) or (other_terms is not None and len(other_terms) != len(other_texts)):
            raise ValueError("other_texts, other_vectors and other_terms must have the same length")
        if len(other_texts) == 0:
            return np.zeros(0, dtype=np.float64)
        cosines = np.asarray(other_vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        cosines = np.clip(cosines.astype(np.float64), -1.0, 1.0)
        probs = self.cosine_probabilities(cosines)
        near = _nearest(cosines, top_n)
        mine, rarity = analyse_question(text), self.rarity
        rows = [
            pair_features(mine, other_terms[i] if other_terms is not None else analyse_question(other_texts[i]),
                          cosines[i], rarity)
            for i in near
        ]
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
                return cls(**json.loads(path.read_text()))
            except (ValueError, TypeError):
                pass  # a damaged local model falls back to the shipped one, as the confidence model does
        return cls(**json.loads((files("kb") / "duplicate_model.json").read_text()))


def _nearest(cosines: np.ndarray, top_n: int | None) -> np.ndarray:
    """Indexes of the ``top_n`` highest cosines (all of them when ``top_n`` is None or not smaller)."""
    if top_n is None or top_n >= len(cosines):
        return np.arange(len(cosines))
    if top_n <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-cosines, top_n - 1)[:top_n]

