"""Snippets that help: the part of the best passage that holds the query's words, words marked.

Safety first: every piece of passage text is HTML-escaped, and only then are ``<mark>`` tags added
around whole matched words, so a crawled ``<script>`` or ``{{7*7}}`` is shown as text, never run.
Matching uses the keyword analyser, so "integrations" marks "integration" and "SOC2" marks "SOC 2".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape

from kb.text_terms import tokenize

_WORD = re.compile(r"\w+(?:[-/.]\w+)*", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Snippet:
    text: str  # plain text of the window ("…" where cut)
    html: str  # escaped text with <mark> around matched words
    matched: tuple[str, ...]  # the distinct words that matched, as written in the passage


@lru_cache(maxsize=50_000)
def _analysed(word: str) -> frozenset[str]:
    return frozenset(tokenize(word))


def make_snippet(passage: str, query: str, *, max_words: int = 60) -> Snippet:
    """The ``max_words``-word window of ``passage`` with the most query words, highlighted."""
    text = _CONTROL.sub(" ", passage)
    terms = set(tokenize(query))
    words = list(_WORD.finditer(text))
    hits = [bool(terms and _analysed(m.group().lower()) & terms) for m in words]
    start, end = _best_window(hits, max_words)
    if not words:
        return Snippet(text.strip(), escape(text.strip()), ())
    begin = 0 if start == 0 else words[start].start()
    finish = len(text) if end >= len(words) else words[end - 1].end()
    parts_html, parts_text, matched = [], [], []
    cursor = begin
    for index in range(start, min(end, len(words))):
        if not hits[index]:
            continue
        match = words[index]
        parts_html.append(escape(text[cursor : match.start()]))
        parts_html.append(f"<mark>{escape(match.group())}</mark>")
        matched.append(match.group())
        cursor = match.end()
    parts_html.append(escape(text[cursor:finish]))
    parts_text.append(text[begin:finish])
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(words) else ""
    body_html = " ".join("".join(parts_html).split())
    body_text = " ".join("".join(parts_text).split())
    return Snippet(prefix + body_text + suffix, prefix + body_html + suffix, tuple(dict.fromkeys(matched)))


def _best_window(hits: list[bool], size: int) -> tuple[int, int]:
    """Start and end word index of the window with the most hits (earliest wins ties)."""
    if len(hits) <= size:
        return 0, len(hits)
    current = best = sum(hits[:size])
    best_start = 0
    for start in range(1, len(hits) - size + 1):
        current += hits[start + size - 1] - hits[start - 1]
        if current > best:
            best, best_start = current, start
    # Begin a little before the first hit so the reader gets its context.
    if best and not hits[best_start]:
        best_start = next(i for i in range(best_start, best_start + size) if hits[i])
    best_start = max(0, best_start - 8)
    return best_start, min(len(hits), best_start + size)
