"""Transcripts cut into timed passages by time and sense.

A search hit on a transcript should land on the moment the answer is spoken and read as a whole
thought, so passages are built in two steps:

1. **Units.** The transcript (caption cues, or podcast turns) becomes a stream of sentences, each
   timed by interpolating word positions inside the cue or turn it comes from. A speaker change
   always ends a unit. A sentence is cut mid-way only when it alone runs past ``max_seconds`` (or
   ``max_words``). Captions without punctuation (auto-generated) have no sentences to find: there,
   each cue is a unit.
2. **Passages.** Units are packed greedily: a passage closes once it holds ``target_seconds``, or
   earlier at a speaker change once it holds ``min_seconds``, and never grows past ``max_seconds``
   or ``max_words`` (a single longer unit stands alone). It never straddles a chapter, whose title
   is the passage's heading. The next passage repeats the previous one's trailing whole sentences
   worth at most ``overlap_seconds``, so an answer cut at a boundary keeps its lead-in. A last
   passage shorter than ``min_seconds`` joins the one before when the result still fits.

Speakers are written into the text as "Roger: ..." where the voice changes (and at a passage's
start), so a passage read alone still says who speaks. Untimed podcast turns are packed by words
at a speaking rate of 2.5 words a second and get ``start_seconds``/``end_seconds`` of None.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.captions import Cue
from ingest.chapters import Chapter
from ingest.chunking import PassageDraft, split_sentences

__all__ = ["Turn", "timed_passages", "timed_passages_from_turns"]

WORDS_PER_SECOND = 2.5  # ~150 words a minute: conversational English, to time untimed text
_TERMINAL_RE = re.compile(r"[.!?…。！？][\"'”’)\]]*$")


@dataclass(frozen=True)
class Turn:
    """A speaker turn of a podcast transcript; ``start`` in seconds when the page gives one."""

    speaker: str | None
    text: str
    start: float | None = None


@dataclass(frozen=True)
class _Segment:
    start: float
    end: float
    text: str
    speaker: str | None


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of one, or a whole cue) with its times, speaker and length."""

    start: float
    end: float
    text: str
    speaker: str | None
    words: int


@dataclass(frozen=True)
class _Limits:
    target: float
    minimum: float
    maximum: float
    overlap: float
    max_words: int


def _units(segments: Sequence[_Segment], limits: _Limits) -> list[_Unit]:
    """Sentences timed by word position inside their segment (see module docstring, step 1)."""
    with_text = [s for s in segments if s.text.strip()]
    punctuated = sum(bool(_TERMINAL_RE.search(s.text.strip())) for s in with_text) >= 0.05 * len(with_text)
    units: list[_Unit] = []
    words: list[tuple[str, float, float]] = []  # pending words of the unfinished sentence
    speaker: str | None = None

    def emit(count: int) -> None:
        taken, words[:] = words[:count], words[count:]
        if taken:
            text = " ".join(w for w, _, _ in taken)
            units.append(_Unit(taken[0][1], taken[-1][2], text, speaker, len(taken)))

    for segment in with_text:
        if segment.speaker is not None and segment.speaker != speaker:
            emit(len(words))  # a new voice ends the unfinished sentence
            speaker = segment.speaker
        tokens = segment.text.split()
        step = (segment.end - segment.start) / len(tokens)
        words.extend((w, segment.start + i * step, segment.start + (i + 1) * step) for i, w in enumerate(tokens))
        if not punctuated:
            emit(len(words))
            continue
        pieces = split_sentences(" ".join(w for w, _, _ in words))
        counts = [len(p.split()) for p in pieces]
        if sum(counts) == len(words):  # (CJK splits inside a "word": then wait for a clean break)
            for count in counts[:-1]:  # the last piece may go on in the next segment
                emit(count)
        # A sentence longer than the limits is cut where it reaches the target length.
        while words and (words[-1][2] - words[0][1] > limits.maximum or len(words) > limits.max_words):
            cut = sum(1 for _, _, end in words if end - words[0][1] <= limits.target)
            emit(max(1, min(cut, limits.max_words)))
    emit(len(words))
    return units


def _passage_text(units: Sequence[_Unit]) -> str:
    """Units joined; "Speaker: " where the voice changes (and first), a new line at each change."""
    out: list[str] = []
    for i, unit in enumerate(units):
        changed = unit.speaker is not None and (i == 0 or unit.speaker != units[i - 1].speaker)
        if changed:
            out.append(("\n" if out else "") + f"{unit.speaker}: {unit.text}")
        else:
            out.append((" " if out else "") + unit.text)
    return "".join(out)


def _chapter_index(starts: Sequence[float], at: float) -> int:
    """Index of the chapter playing at second ``at``; -1 before the first one."""
    return bisect.bisect_right(starts, at + 1e-6) - 1


_Packed = tuple[list[_Unit], int, int]  # a passage's units, its chapter index, how many lead units are overlap


def _pack(units: Sequence[_Unit], chapters: Sequence[Chapter], limits: _Limits) -> list[_Packed]:
    """Greedy packing (module docstring, step 2)."""
    starts = [c.start for c in chapters]
    passages: list[_Packed] = []
    current: list[_Unit] = []
    new_from = 0  # index in ``current`` of the first unit that is not overlap
    chapter = -2
    for unit in units:
        unit_chapter = _chapter_index(starts, unit.start)
        if current:
            length = current[-1].end - current[0].start
            grown = unit.end - current[0].start
            words = sum(u.words for u in current) + unit.words
            close = (
                unit_chapter != chapter
                or grown > limits.maximum
                or words > limits.max_words
                or length >= limits.target
                or (unit.speaker != current[-1].speaker and length >= limits.minimum)
            )
            if close:
                passages.append((current, chapter, new_from))
                current = [] if unit_chapter != chapter else _overlap(current[new_from:], unit, limits)
        if not current:
            chapter = unit_chapter
        new_from = len(current)
        current.append(unit)
    if current:
        passages.append((current, chapter, new_from))
    return _merge_short_tail(passages, limits)


def _overlap(previous: Sequence[_Unit], unit: _Unit, limits: _Limits) -> list[_Unit]:
    """The lead-in the next passage repeats from ``previous``, leaving room for ``unit``.

    Trailing whole sentences worth at most ``overlap`` seconds; when the last sentence alone is
    longer, it is taken whole up to twice that, else only its last words worth ``overlap`` seconds
    (word times interpolated), as :mod:`ingest.chunking` does with words. Where the voice changes
    at the boundary, only whole sentences within ``overlap`` seconds are repeated.
    """
    taken: list[_Unit] = []
    for candidate in reversed(previous):
        span = (taken[-1].end if taken else candidate.end) - candidate.start
        words = sum(u.words for u in taken) + candidate.words + unit.words
        if span > limits.overlap or unit.end - candidate.start > limits.maximum or words > limits.max_words:
            break
        taken.insert(0, candidate)
    if taken or not previous or limits.overlap <= 0 or previous[-1].speaker != unit.speaker:
        return taken  # at a change of voice, a half sentence of the last one would only confuse
    last = previous[-1]
    duration = last.end - last.start
    if duration <= 2 * limits.overlap and unit.end - last.start <= limits.maximum:
        return [last] if last.words + unit.words <= limits.max_words else []
    tokens = last.text.split()
    keep = min(len(tokens) - 1, int(len(tokens) * limits.overlap / duration)) if duration > 0 else 0
    if keep < 1:
        return []
    start = last.end - duration * keep / len(tokens)
    if unit.end - start > limits.maximum or keep + unit.words > limits.max_words:
        return []
    return [_Unit(start, last.end, " ".join(tokens[-keep:]), last.speaker, keep)]


def _merge_short_tail(passages: list[_Packed], limits: _Limits) -> list[_Packed]:
    """A too-short last passage joins the one before it (same chapter, still within the limits)."""
    if len(passages) < 2:
        return passages
    (before, chapter_before, overlap_before), (last, chapter_last, overlap_last) = passages[-2], passages[-1]
    new = last[overlap_last:]
    if (
        chapter_before == chapter_last
        and last[-1].end - last[0].start < limits.minimum
        and last[-1].end - before[0].start <= limits.maximum
        and sum(u.words for u in before) + sum(u.words for u in new) <= limits.max_words
    ):
        return [*passages[:-2], ([*before, *new], chapter_before, overlap_before)]
    return passages


def _drafts(
    segments: Sequence[_Segment], chapters: Sequence[Chapter], limits: _Limits, timed: bool
) -> list[PassageDraft]:
    """Passage drafts; the heading is the title of the chapter the passage starts in."""
    ordered = sorted((c for c in chapters if c.title), key=lambda c: c.start)
    drafts = []
    for units, chapter, _ in _pack(_units(segments, limits), ordered, limits):
        heading = (ordered[chapter].title,) if chapter >= 0 else ()
        start = round(units[0].start, 3) if timed else None
        end = round(units[-1].end, 3) if timed else None
        drafts.append(PassageDraft(_passage_text(units), heading, len(drafts), start, end))
    return drafts


def _limits(target: float, minimum: float, maximum: float, overlap: float, max_words: int) -> _Limits:
    if not 0 < minimum <= target <= maximum or max_words < 1:
        raise ValueError("need 0 < min_seconds <= target_seconds <= max_seconds and max_words >= 1")
    return _Limits(target, minimum, maximum, max(0.0, min(overlap, minimum / 2)), max_words)


def timed_passages(
    cues: Sequence[Cue],
    chapters: Sequence[Chapter] = (),
    *,
    target_seconds: float = 45,
    min_seconds: float = 30,
    max_seconds: float = 60,
    overlap_seconds: float = 5,
    max_words: int = 180,
) -> list[PassageDraft]:
    """Passages of a captioned recording (see module docstring); cues as :func:`parse_captions` gives them.

    ``max_words`` bounds a passage for the embedding model (see :mod:`ingest.chunking`); at a
    normal speaking rate 60 seconds is ~150 words, so it binds only for fast talkers.
    """
    limits = _limits(target_seconds, min_seconds, max_seconds, overlap_seconds, max_words)
    segments = [_Segment(c.start, max(c.end, c.start), c.text, c.speaker) for c in sorted(cues, key=lambda c: c.start)]
    return _drafts(segments, chapters, limits, timed=True)


def timed_passages_from_turns(
    turns: Sequence[Turn],
    chapters: Sequence[Chapter] = (),
    *,
    target_seconds: float = 45,
    min_seconds: float = 30,
    max_seconds: float = 60,
    overlap_seconds: float = 5,
    max_words: int = 180,
) -> list[PassageDraft]:
    """Passages of a transcript given as speaker turns (a podcast page's body).

    Without any timestamp, turns are timed by words (2.5 a second) only to size the passages,
    which then have no start or end second (and chapters are not applied). With timestamps, a
    turn runs to the next timestamp; turns without one between two that have one share that
    span by words, and after the last one they are timed by words.
    """
    limits = _limits(target_seconds, min_seconds, max_seconds, overlap_seconds, max_words)
    kept = [t for t in turns if t.text and t.text.strip()]
    timed = any(t.start is not None and t.start >= 0 for t in kept)
    return _drafts(_turn_segments(kept, timed), chapters if timed else (), limits, timed)


def _turn_segments(turns: Sequence[Turn], timed: bool) -> list[_Segment]:
    """Turns as timed segments: given timestamps kept, missing ones filled in by word counts."""
    lengths = [len(t.text.split()) / WORDS_PER_SECOND for t in turns]
    starts: list[float | None] = [
        t.start if timed and t.start is not None and t.start >= 0 else None for t in turns
    ]
    clock = 0.0
    filled: list[float] = []
    for i, start in enumerate(starts):
        if start is not None and start >= clock - 1e-9:
            clock = start
        elif start is None:
            # Share the span up to the next known timestamp by words, else go at speaking rate.
            nxt = next((j for j in range(i + 1, len(starts)) if starts[j] is not None), None)
            if nxt is not None and starts[nxt] is not None and starts[nxt] > clock:
                span = sum(lengths[i:nxt])
                scale = min(1.0, (starts[nxt] - clock) / span) if span else 1.0
                lengths[i] *= scale
        filled.append(clock)
        clock += lengths[i]
    segments = []
    for i, turn in enumerate(turns):
        end = filled[i + 1] if i + 1 < len(turns) and filled[i + 1] > filled[i] else filled[i] + lengths[i]
        segments.append(_Segment(filled[i], end, " ".join(turn.text.split()), turn.speaker))
    return segments
