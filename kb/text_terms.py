"""The text analyser shared by the keyword index (passages and queries) and result highlighting.

``tokenize`` turns text into index terms; ``query_terms`` gives the surface words of a query worth
highlighting. Both must stay in step, so both live here; bump :data:`ANALYZER_VERSION` whenever
the output of ``tokenize`` changes (saved keyword indexes built with another version are rebuilt).

The rules, in order:

1. **Normalise**: Unicode NFKC (full-width letters and digits, ligatures), case-fold, fold Latin
   diacritics ("café" -> "cafe"), drop apostrophes inside words and a possessive "'s"
   ("Okta's" -> "okta", "don't" -> "dont").
2. **Chunks**: a chunk is a run of letters/digits (any script) joined by in-word connectors
   ``- / . & + _`` (and "," between digits, as in "1,000"), e.g. "e-invoicing", "S/4HANA",
   "ISO/IEC", "node.js", "R&D", "1,000". Everything else separates chunks.
3. **Atoms**: each chunk splits at connectors and at letter/digit boundaries: "S/4HANA" -> s, 4,
   hana; "SOC2" -> soc, 2. Letter atoms need at least 2 characters ("AI", "EU", "HR", "PO" are
   kept; a lone "e" or "s" is not); digit atoms are always kept ("2" in "SOC 2").
4. **Joined forms**: a chunk of 2-4 atoms also yields its atoms glued together: "e-invoicing"
   -> einvoicing, "soc-2" / "SOC2" -> soc2, "S/4HANA" / "S4HANA" -> s4hana, "R&D" -> rd; numbers
   only across thousands separators ("1,000" -> 1000, but "2.5" and "2024-01-31" stay apart). A
   letter word followed (after whitespace only) by a number of 1-5 digits yields the pair glued:
   "SOC 2" -> soc2, "ISO 27001" -> iso27001. So every spelling of a product or standard name
   shares the same atoms *and* the same joined term, and the joined term acts like a phrase.
5. **Stopwords**: NLTK's 179-word English list (with apostrophe-free contractions, "dont") is
   removed, for atoms and joined forms alike. It drops the scaffolding of spoken questions ("how",
   "do", "you", "does", "can", "we") that Lucene's 33-word list keeps, so those neither score nor get
   highlighted. "it" and "us" are on it, so "IT" and "US" are lost; "ai", "eu", "hr", "po" are not.
6. **Stemming**: Snowball English (Porter2, via PyStemmer) on every letter-bearing term:
   "integrations" and "integration" -> integr. Pure numbers are not stemmed.

Known limits: "C++"/"C#" reduce to nothing (single letter), CamelCase is not split ("NetSuite" is
one term, so "net suite" does not match it), Roman numerals are not numbers ("Type II" != "Type 2").
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable

import Stemmer

# NLTK's English stopword list (179 words; bm25s ships it as STOPWORDS_EN_PLUS), plus the forms its
# contractions take once rule 1 has removed the apostrophe ("don't" -> "dont").
_NLTK_ENGLISH = (
    "a", "about", "above", "after", "again", "against", "ain", "all", "am", "an", "and", "any", "are", "aren",
    "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "couldn", "couldn't", "d", "did", "didn", "didn't", "do", "does", "doesn", "doesn't", "doing", "don",
    "don't", "down", "during", "each", "few", "for", "from", "further", "had", "hadn", "hadn't", "has", "hasn",
    "hasn't", "have", "haven", "haven't", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
    "how", "i", "if", "in", "into", "is", "isn", "isn't", "it", "it's", "its", "itself", "just", "ll", "m", "ma",
    "me", "mightn", "mightn't", "more", "most", "mustn", "mustn't", "my", "myself", "needn", "needn't", "no", "nor",
    "not", "now", "o", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over",
    "own", "re", "s", "same", "shan", "shan't", "she", "she's", "should", "should've", "shouldn", "shouldn't", "so",
    "some", "such", "t", "than", "that", "that'll", "the", "their", "theirs", "them", "themselves", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was", "wasn",
    "wasn't", "we", "were", "weren", "weren't", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "won", "won't", "wouldn", "wouldn't", "y", "you", "you'd", "you'll", "you're", "you've", "your",
    "yours", "yourself", "yourselves",
)
ENGLISH_STOPWORDS = frozenset(_NLTK_ENGLISH) | {w.replace("'", "") for w in _NLTK_ENGLISH}

_MIN_LETTERS = 2  # "ai", "eu", "hr", "po" stay; single letters go
_MAX_JOIN_ATOMS = 4  # "state-of-the-art" still joins; URLs and paths do not
_MAX_JOIN_DIGITS = 5  # "ISO 27001" joins; long numbers (phone numbers, ids) do not
_MAX_TERM_CHARS = 64  # longer "words" are base64, hashes and the like

_CONNECTOR = r"(?:[-/.&+_]|(?<=\d),(?=\d))"
# A chunk (rule 2), with the number chunk that follows it on the same line if there is one (rule 4's
# "SOC 2"). Possessive quantifiers: this regex is most of the analyser's time.
_PIECE = re.compile(
    rf"[^\W_]++(?:{_CONNECTOR}[^\W_]++)*+(?:[ \t]+\d{{1,{_MAX_JOIN_DIGITS}}}+(?![^\W_])(?!{_CONNECTOR}[^\W_]))?"
)
_PIECE_ASCII = re.compile(_PIECE.pattern, re.ASCII)  # same matches on ASCII text, about 20% faster
_ATOM = re.compile(r"\d+|[^\W\d_]+")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_QUERY_WORD = re.compile(rf"[^\W_]+(?:(?:{_CONNECTOR}|(?<=[^\W\d_])['’](?=[^\W\d_]))[^\W_]+)*")
_INNER_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_COMBINING_DIACRITICS = re.compile(r"[\u0300-\u036f]")
_CACHE_SIZE = 100_000  # chunks remembered with their terms (about 20 MB when full)


def normalize(text: str) -> str:
    """NFKC, case-fold, in-word apostrophes removed (rule 1; diacritics are folded per chunk)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if "'" in text or "’" in text:
        text = _INNER_APOSTROPHE.sub("", _POSSESSIVE.sub("", text))
    return text


def fold_diacritics(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _COMBINING_DIACRITICS.sub("", unicodedata.normalize("NFKD", text)))


class Analyzer:
    """The rule set above; options exist only to measure variants (the default is :data:`ANALYZER`)."""

    def __init__(self, *, stem: bool = True, stopwords: Iterable[str] = ENGLISH_STOPWORDS) -> None:
        self.stopwords = frozenset(stopwords)
        self._stemmer = Stemmer.Stemmer("english") if stem else None
        self._stemmer_lock = threading.Lock()  # a PyStemmer object must not be used by two threads at once
        # piece (chunk, or chunk + number) -> its terms; words repeat a lot (Zipf), analysing them is slow
        self._pieces: dict[str, tuple[str, ...]] = {}
        self.version = "kb-en/1 nfkc-fold joins stop={} stem={}".format(
            "nltk179" if self.stopwords == ENGLISH_STOPWORDS else f"custom{len(self.stopwords)}",
            "snowball-english" if stem else "none",
        )

    def tokenize(self, text: str) -> list[str]:
        terms: list[str] = []
        if not text:
            return terms
        cache = self._pieces
        text = normalize(text)
        for piece in (_PIECE_ASCII if text.isascii() else _PIECE).findall(text):
            found = cache.get(piece)
            if found is None:
                found = self._analyse(piece)
                if len(cache) < _CACHE_SIZE:
                    cache[piece] = found
            terms += found
        return terms

    def _analyse(self, piece: str) -> tuple[str, ...]:
        """Terms of one chunk, or of a chunk and the number after it (rules 3-6)."""
        chunk, *number = piece.split()
        chunk = fold_diacritics(chunk)
        atoms = _ATOM.findall(chunk)
        terms = [
            self._stem(atom)
            for atom in atoms
            if (atom[0].isdigit() or len(atom) >= _MIN_LETTERS) and self._keep(atom)
        ]
        numeric = all(atom[0].isdigit() for atom in atoms)
        if 2 <= len(atoms) <= _MAX_JOIN_ATOMS and (not numeric or chunk.replace(",", "").isdigit()):
            joined = "".join(atoms)  # numbers join only across thousands separators: "1,000", not "2.5"
            if self._keep(joined):
                terms.append(self._stem(joined))
        if number:
            terms.append(number[0])
            if len(atoms) == 1 and not numeric and len(chunk) >= _MIN_LETTERS and self._keep(chunk):
                terms.append(chunk + number[0])  # "soc" + "2": not stemmed, like "soc2" (see _stem)
        return tuple(terms)

    def _keep(self, term: str) -> bool:
        return term not in self.stopwords and len(term) <= _MAX_TERM_CHARS

    def _stem(self, term: str) -> str:
        if self._stemmer is None or term[-1].isdigit():
            return term  # numbers, and joined terms like "soc2" that must read the same however spelt
        with self._stemmer_lock:  # only on cache misses: cheap
            return self._stemmer.stemWord(term)


ANALYZER = Analyzer()
ANALYZER_VERSION = ANALYZER.version


def tokenize(text: str) -> list[str]:
    """Index terms of ``text``, in order (see the module docstring for the rules)."""
    return ANALYZER.tokenize(text)


def query_terms(query: str) -> list[str]:
    """Surface words of ``query`` worth highlighting: lower-cased, in order, no duplicates.

    A word is a chunk (rule 2, so "e-invoicing" and "S/4HANA" stay whole; "don't" too) that yields
    at least one index term: stopwords, lone letters and punctuation are left out. Possessives are
    dropped ("Okta's" -> "okta"); diacritics are kept, as the passage text has them.
    """
    text = _POSSESSIVE.sub("", unicodedata.normalize("NFKC", query or "")).lower()
    seen: dict[str, None] = {}
    for chunk in _QUERY_WORD.findall(text):
        if chunk not in seen and tokenize(chunk):
            seen[chunk] = None
    return list(seen)
