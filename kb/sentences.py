"""Sentence boundaries in plain text: where the chunker may cut, and where a timed link may open.

Shared by the chunker (:mod:`ingest.chunking`, :mod:`ingest.timed_chunking`) and the search's answer
moment (:mod:`kb.answer_moment`), so a passage is cut and later read back by the same rules.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

# End of a sentence: terminal punctuation (plus closing quotes/brackets) and whitespace, not
# followed by a lower-case ASCII letter ("e.g. the" stays together); CJK full stops need no space.
# Line breaks (list items, table rows) always end a sentence.
_SENTENCE_END_RE = re.compile(
    r"(?<=[.!?…。！？])[\"'”’)\]]*\s+(?=[^\sa-z])|(?<=[。！？])(?=\S)|\s*\n\s*"
)
# "Mr. Smith", "Acme Inc. Today", "J. Doe": a full stop after these is not a sentence end.
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "inc", "ltd", "co", "corp", "vs", "etc",
    "no", "fig", "approx", "dept", "est", "gen", "gov", "sen", "rep",
})


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (and lines); whitespace-only pieces are dropped."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        # A bounded look-back: a run of abbreviations must not make this quadratic.
        before = text[max(start, match.start() - 40) : match.start()]
        last_word = before.rsplit(None, 1)[-1] if before.strip() else ""
        if "\n" not in match.group(0) and last_word.endswith("."):
            stem = last_word.rstrip(".").lstrip("\"'“‘(")
            if stem.lower() in _ABBREVIATIONS or (len(stem) == 1 and stem.isupper()):
                continue
        # Closing quotes/brackets stay with the sentence they close.
        end = match.start() + len(match.group(0)) - len(match.group(0).lstrip("\"'”’)]"))
        pieces.append(text[start:end])
        start = match.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]
