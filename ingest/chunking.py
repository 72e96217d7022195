"""Heading-aware passages sized for the embedding model.

all-MiniLM-L6-v2 reads at most 256 word-piece tokens and silently drops the rest, so passages
are bounded in words (``max_words``). Measured with the model's tokenizer on the 160 English pages
of the Zyte benchmark, prose runs about 1.3 pieces per word; with a title and heading line added
by ``kb.indexing.passage_embedding_text``, the default 200 words leaves about 22% of passages slightly over 256
pieces (their last sentence or so is not embedded), 180 words about 4%, 160 words about 1%.
Passages never straddle two headings, so a search hit can always be labelled with the one
heading path it came from.

Rules, in order of priority:

* no text is ever dropped: every word of every section ends up in at least one passage;
* a passage holds whole paragraphs when they fit, else whole sentences, else (a single sentence
  longer than ``max_words``) a hard cut every ``max_words - overlap_words`` words;
* consecutive passages of one section overlap by up to ``overlap_words`` words, taken as whole
  trailing sentences of the previous passage when possible, so a fact cut at a boundary is still
  retrievable with its lead-in;
* a section shorter than ``min_words`` is merged into the following section when that section
  sits under the same parent heading (a sibling or one of its own subsections); the merged
  passage carries the common heading path and keeps each member's own heading as a text line.
  With nothing suitable to merge into, it stays a passage of its own.

Everything is deterministic: same input, same passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.extract import Section
from kb.sentences import split_sentences


@dataclass(frozen=True)
class PassageDraft:
    """One passage to store and embed; timestamps are for transcripts (None for pages)."""

    text: str
    heading_path: tuple[str, ...]
    ordinal: int
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclass
class _Unit:
    """A packable piece of text: a paragraph, a sentence, or a hard-cut run of words."""

    text: str
    paragraph: int  # index of the source paragraph within its section group
    words: int



def _count(text: str) -> int:
    return len(text.split())


def _units(paragraphs: Sequence[str], max_words: int, overlap_words: int) -> list[_Unit]:
    """Break paragraphs into units no longer than ``max_words``.

    An over-long sentence is cut every ``max_words - overlap_words`` words so that each cut
    piece still has room for the overlap carried over from the piece before it.
    """
    step = max(1, max_words - overlap_words)
    units: list[_Unit] = []
    for index, paragraph in enumerate(paragraphs):
        words = _count(paragraph)
        if words <= max_words:
            units.append(_Unit(paragraph, index, words))
            continue
        for sentence in split_sentences(paragraph):
            tokens = sentence.split()
            if len(tokens) <= max_words:
                units.append(_Unit(sentence, index, len(tokens)))
                continue
            for i in range(0, len(tokens), step):
                piece = tokens[i : i + step]
                units.append(_Unit(" ".join(piece), index, len(piece)))
    return units


def _join(units: Sequence[_Unit]) -> str:
    """Units of one paragraph join with a space, different paragraphs with a blank line."""
    out: list[str] = []
    for i, unit in enumerate(units):
        if i:
            out.append(" " if unit.paragraph == units[i - 1].paragraph else "\n\n")
        out.append(unit.text)
    return "".join(out)


def _overlap(units: Sequence[_Unit], budget: int) -> list[_Unit]:
    """Trailing whole sentences of a passage worth at most ``budget`` words (else its last words)."""
    if budget <= 0 or not units:
        return []
    taken: list[_Unit] = []
    used = 0
    for unit in reversed(units):
        for sentence in reversed(split_sentences(unit.text)):
            words = _count(sentence)
            if used + words > budget:
                if not taken:  # no whole sentence fits: fall back to the last words
                    tail = sentence.split()[-budget:]
                    return [_Unit(" ".join(tail), unit.paragraph, len(tail))]
                return taken
            taken.insert(0, _Unit(sentence, unit.paragraph, words))
            used += words
    return taken


def _pack(paragraphs: Sequence[str], max_words: int, overlap_words: int) -> list[tuple[str, set[int]]]:
    """Greedy packing of one section group; returns (text, indices of paragraphs it draws on)."""
    passages: list[tuple[str, set[int]]] = []
    current: list[_Unit] = []
    new_words = 0  # words in ``current`` that are not overlap from the previous passage
    for unit in _units(paragraphs, max_words, overlap_words):
        if current and new_words and sum(u.words for u in current) + unit.words > max_words:
            passages.append((_join(current), {u.paragraph for u in current}))
            # The overlap must leave room for the unit that forces the new passage.
            current = _overlap(current, min(overlap_words, max_words - unit.words))
            new_words = 0
        current.append(unit)
        new_words += unit.words
    if current and new_words:
        passages.append((_join(current), {u.paragraph for u in current}))
    return passages


def _parent(path: tuple[str, ...]) -> tuple[str, ...]:
    return path[:-1]


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def chunk_sections(
    sections: Sequence[Section],
    *,
    max_words: int = 200,
    overlap_words: int = 30,
    min_words: int = 8,
) -> list[PassageDraft]:
    """Split sections into passages of at most ``max_words`` words (see module docstring)."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    # More than half a passage of overlap would make passages mostly repeats.
    overlap_words = max(0, min(overlap_words, max_words // 2))

    drafts: list[PassageDraft] = []
    pending: list[Section] = []  # tiny sections waiting to merge into the next suitable one

    def emit(group: list[Section]) -> None:
        common = group[0].heading_path
        for section in group[1:]:
            common = _common_prefix(common, section.heading_path)
        paragraphs: list[str] = []
        owners: list[int] = []  # which group member each paragraph came from
        for position, section in enumerate(group):
            own = [p.strip() for p in section.text.split("\n\n") if p.strip()]
            extra = section.heading_path[len(common) :]
            if extra and len(group) > 1:
                # Merged passages carry the common path: keep the member's own heading as text.
                own[0] = f"{' > '.join(extra)}\n{own[0]}"
            paragraphs.extend(own)
            owners.extend([position] * len(own))
        last = len(group) - 1
        for text, used in _pack(paragraphs, max_words, overlap_words):
            # A passage drawing only on the last (full-size) section keeps that section's path.
            only_last = all(owners[i] == last for i in used)
            path = group[-1].heading_path if only_last else common
            drafts.append(PassageDraft(text=text, heading_path=path, ordinal=len(drafts)))

    for section in sections:
        if not section.text.strip():
            continue
        if pending:
            group_parent = _parent(pending[0].heading_path)
            for tiny in pending[1:]:
                group_parent = _common_prefix(group_parent, _parent(tiny.heading_path))
            if section.heading_path[: len(group_parent)] != group_parent:
                emit(pending)  # nothing to merge with under the same parent: stays on its own
                pending = []
        if _count(section.text) < min_words:
            pending.append(section)
            continue
        emit([*pending, section])
        pending = []
    if pending:
        emit(pending)
    return drafts
