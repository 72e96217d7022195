"""Chapters of a video or episode: from a description's timestamp list or JSON-LD ``hasPart`` clips.

Chapters become the headings of timed passages (:mod:`ingest.timed_chunking`), so a hit can say
"Setting up SSO, at 1:23". Both sources are checked the way YouTube checks a description's list:
at least two entries, in ascending order; a description list must also begin at (or near) 0:00,
otherwise its timestamps are more likely pointers to moments ("at 12:05 she mentions...") than a
table of contents. Bad input gives no chapters, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingest.metadata import clean_space, local_type, node_types

__all__ = ["Chapter", "chapters_from_description", "chapters_from_jsonld", "parse_clock"]

_MAX_FIRST_START = 15.0  # a list starting later than this is not a chapter list
_MAX_TITLE = 120
_CLOCK = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
# "0:00 Intro", "1:23 - Setting up SSO", "(12:05) Q&A", "[1:02:03] Wrap-up", "• 3:10 | Pricing"
_LEADING_RE = re.compile(rf"^\s*(?:[-*•·–]\s*)?[(\[]?({_CLOCK})[)\]]?\s*(?:[-–—:|.]\s*)?(\S.*?)\s*$")
# "Intro - 0:00", "Q&A (12:05)"
_TRAILING_RE = re.compile(rf"^\s*(?:[-*•·–]\s*)?(\S.*?)\s*(?:[-–—:|]\s*)?[(\[]?({_CLOCK})[)\]]?\s*$")


@dataclass(frozen=True)
class Chapter:
    """A chapter: where it starts (seconds) and its title."""

    start: float
    title: str


def parse_clock(value: str) -> float | None:
    """Seconds of "1:23", "01:02:03" (minutes and seconds below 60), else None."""
    parts = value.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    if numbers[-1] > 59 or (len(numbers) == 3 and numbers[1] > 59):
        return None
    hours, minutes, seconds = ([0] * (3 - len(numbers)) + numbers)[-3:]
    return float(hours * 3600 + minutes * 60 + seconds)


def _valid(chapters: list[Chapter], *, must_start_near_zero: bool) -> list[Chapter]:
    """The chapters if they form a table of contents (see module docstring), else []."""
    if len(chapters) < 2:
        return []
    if must_start_near_zero and chapters[0].start > _MAX_FIRST_START:
        return []
    if any(b.start <= a.start for a, b in zip(chapters, chapters[1:], strict=False)):
        return []
    return chapters


def chapters_from_description(text: str, *, duration: float | None = None) -> list[Chapter]:
    """Chapters from lines of a description that hold a timestamp and a title.

    The timestamp may lead (``0:00 Intro``) or trail (``Intro - 0:00``); lines without one are
    ignored, so the list may sit anywhere in the description. Entries past ``duration`` (when known)
    are dropped. A list that is not ascending or does not start near 0:00 gives [].
    """
    found: list[Chapter] = []
    for line in (text or "").splitlines():
        match = _LEADING_RE.match(line)
        clock, title = (match.group(1), match.group(2)) if match else (None, None)
        if not match:
            trailing = _TRAILING_RE.match(line)
            if trailing:
                clock, title = trailing.group(2), trailing.group(1)
        start = parse_clock(clock) if clock else None
        title = clean_space(title)[:_MAX_TITLE] if title else ""
        if start is None or not title or parse_clock(title) is not None:
            continue
        if duration is not None and start >= duration:
            continue
        found.append(Chapter(start, title))
    return _valid(found, must_start_near_zero=True)


def _offset(value: object) -> float | None:
    """A JSON-LD offset in seconds: a number, a numeric string, or {"@value": ...}."""
    if isinstance(value, Mapping):
        value = value.get("@value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if 0 <= number < 10**7 else None


def chapters_from_jsonld(node: Mapping[str, object]) -> list[Chapter]:
    """Chapters from a VideoObject/PodcastEpisode node's ``hasPart`` Clip objects.

    Each Clip needs a ``name`` and a ``startOffset`` (seconds); ``endOffset`` is not needed, since
    a chapter runs to the next one's start. Parts of other types (e.g. a nested WebPageElement)
    are ignored; clips are sorted by start, and two clips at one start keep the first.
    """
    parts = node.get("hasPart")
    items: Iterable[object] = parts if isinstance(parts, list) else [parts] if isinstance(parts, Mapping) else []
    found: dict[float, Chapter] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        types = [local_type(t) for t in node_types(dict(item))]
        if types and "Clip" not in types:
            continue
        start = _offset(item.get("startOffset"))
        title = clean_space(item.get("name"))[:_MAX_TITLE]
        if start is None or not title:
            continue
        found.setdefault(start, Chapter(start, title))
    return _valid(sorted(found.values(), key=lambda c: c.start), must_start_near_zero=False)
