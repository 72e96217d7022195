"""The second a timed search hit should open at: where the query's words are spoken, not the passage start.

A transcript passage runs 30-60 s and used to be linked at its first second; the answer is often a few
sentences in (in issue 6's evaluation the links that missed the answer landed 9-32 s early). A passage
stores only its start and end, so the sentence holding the most of the query's terms (the keyword
analyser's terms, as highlighting uses; weighted by IDF when the caller has the index's counts, so
"NetSuite" outweighs "sync") is timed by its word position in the passage: speech runs at a fairly steady
rate within half a minute, and the chunker timed its sentences by word position inside each cue in the
same way. The link opens :data:`LEAD_IN_SECONDS` before that sentence. When no later sentence matches
the query better than the first one, the passage start stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from kb.sentences import split_sentences
from kb.text_terms import tokenize

__all__ = ["LEAD_IN_SECONDS", "answer_second", "passage_moment"]

LEAD_IN_SECONDS = 2.0  # a breath before the sentence, so the listener hears it from its first word
# "Roger: " opening a line of a transcript passage names the voice; it is not spoken, so not timed.
_SPEAKER_LABEL = re.compile(r"^[^\W\d][\w .'’-]{0,38}:\s+", re.MULTILINE)


def answer_second(text: str, start: float | None, end: float | None, query: str,
                  weights: Mapping[str, float] | None = None) -> float | None:
    """The second to link to for a passage of ``text`` spoken from ``start`` to ``end``, given ``query``.

    ``weights`` maps the query's terms to their weight (IDF); without it every term counts 1. None for
    untimed passages; ``start`` when the passage has no length, the query no terms, or no later sentence
    matches the query better than the first.
    """
    if start is None or end is None or end <= start:
        return start
    terms = set(tokenize(query))
    if not terms:
        return start
    sentences = [_SPEAKER_LABEL.sub("", line) for line in split_sentences(text)]
    counts = [len(sentence.split()) for sentence in sentences]
    total = sum(counts)
    if total == 0:
        return start
    weight = weights or {}
    scores = [sum(weight.get(term, 1.0) for term in terms.intersection(tokenize(sentence))) for sentence in sentences]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the earliest of the best
    if best == 0:  # the opening sentence matches best (or nothing matches): the passage start it is
        return start
    spoken_at = start + (end - start) * sum(counts[:best]) / total
    return round(max(start, spoken_at - LEAD_IN_SECONDS), 3)


class _TimedPassage(Protocol):
    text: str
    start_seconds: float | None
    end_seconds: float | None


def passage_moment(passage: _TimedPassage | None, question: str) -> float | None:
    """:func:`answer_second` for a stored passage (a topic's suggested or confirmed answer), placed by the
    question it answers; None without a passage. Search hits weigh terms by IDF; here every term counts
    the same, as the index is not at hand."""
    if passage is None:
        return None
    return answer_second(passage.text, passage.start_seconds, passage.end_seconds, question)
