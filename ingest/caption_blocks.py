"""Lenient reading of WebVTT/SRT cue blocks: timings and raw text lines, with counted reasons.

Why a reader of our own beside webvtt-py (see :mod:`ingest.captions`): webvtt-py follows the WebVTT
spec and silently skips any block it cannot read (a cue without an SRT index number, a negative or
hour-less SRT timestamp, text after a stray blank line), and it raises on one timestamp with
minutes over 59, losing the whole file. This reader never raises: every line holding ``-->`` starts a
cue block, and each block either becomes a :class:`RawCue` or is counted under a reason. It also
serves as the count that webvtt-py's result is checked against, so no block is lost unnoticed.

Timings are read generously: hours optional and of any width (``01:02.500``, ``0:00:09.800``),
comma or dot before the fraction, fraction optional, a leading minus kept (and later dropped as
``negative_time`` rather than misread as positive).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# One timestamp: [-][hours:]minutes:seconds[(.|,)fraction]. Fields are range-checked in code.
_TS = r"(-?)(?:(\d{1,10}):)?(\d{1,3}):(\d{1,3})(?:[.,](\d{1,9}))?"
# A cue timings line: start --> end, then optional cue settings (``align:start position:10%``).
TIMING_RE = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}(?:[ \t]+\S.*)?\s*$")
# Blocks that hold no cue in WebVTT; their lines are skipped up to the next blank line.
_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION", "WEBVTT")


@dataclass
class RawCue:
    """A cue block as written: times in seconds (maybe absurd: checked later) and its text lines."""

    start: float
    end: float
    lines: list[str] = field(default_factory=list)


@dataclass
class BlockScan:
    """What :func:`scan_blocks` read: cues in file order, dropped blocks by reason, blocks seen."""

    cues: list[RawCue]
    dropped: Counter[str]
    blocks: int  # cue blocks seen (with a timing line) and stray text blocks, including dropped ones


def _seconds(sign: str, hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float | None:
    """A timestamp's value in seconds, or None when minutes or seconds are out of range."""
    mins, secs = int(minutes), int(seconds)
    if secs > 59 or (hours is not None and mins > 59):
        return None
    # Without hours, minutes may run past 59 ("75:00.000" is 75 minutes), as many players accept.
    value = int(hours or 0) * 3600 + mins * 60 + secs + (int(fraction[:3].ljust(3, "0")) / 1000 if fraction else 0)
    return -value if sign else value


def parse_timing(line: str) -> tuple[float, float] | None | str:
    """``(start, end)`` of a timings line; ``"bad_timestamp"`` for a timings line with impossible
    fields; None if the line is not a timings line at all."""
    match = TIMING_RE.match(line)
    if not match:
        return None
    g = match.groups()
    start, end = _seconds(*g[:5]), _seconds(*g[5:])
    if start is None or end is None:
        return "bad_timestamp"
    return start, end


def split_lines(text: str) -> list[str]:
    """Lines on CRLF, CR or LF (the WebVTT line terminators; U+2028 and friends stay in the line)."""
    return re.split(r"\r\n|\r|\n", text)


def scan_blocks(text: str, *, max_cues: int, webvtt: bool = True) -> BlockScan:
    """Read every cue block of a WebVTT or SRT text; never raises.

    A line with a valid timing starts a cue (a preceding identifier or SRT index is simply not
    part of its text); the cue's text runs to the next blank line or the next timings line (SRT
    files without blank lines or index numbers still read). A line with ``-->`` inside cue text that
    is no valid timing stays text. Text outside any cue that is not a NOTE/STYLE/REGION/header block
    or a lone identifier is counted as ``stray_text``; a timings line that cannot be read drops its
    block as ``bad_timestamp`` (or ``malformed_timing`` when the arrow line is not a timing at all).

    Only an empty line ends a WebVTT block: auto-generated captions put a line of one space inside
    cues. SRT writers are sloppier, so there a whitespace-only line ends the block too.
    """
    cues: list[RawCue] = []
    dropped: Counter[str] = Counter()
    blocks = 0
    current: RawCue | None = None
    skipping = False  # inside a NOTE/STYLE/REGION/header block, or a dropped cue's text
    outside: list[str] = []  # lines of the current block that belong to no cue

    def stray(lines: list[str]) -> bool:
        """Lines outside cues are stray unless they are a lone SRT index (its blank line misplaced)."""
        return bool(lines) and not (len(lines) == 1 and lines[0].strip().isdigit())

    for line in [*split_lines(text), ""]:
        if current is not None and webvtt and line and not line.strip():
            continue  # whitespace inside a WebVTT cue: neither text nor a block end
        if not line.strip():  # a blank line ends any block
            if stray(outside):
                blocks += 1
                dropped["stray_text"] += 1
            current, skipping, outside = None, False, []
            continue
        timing = parse_timing(line) if "-->" in line else None
        if current is not None and timing is None:
            current.lines.append(line)  # "-->" that is no timing stays text
            continue
        if timing is None and "-->" in line and not skipping:
            blocks += 1
            dropped["malformed_timing"] += 1
            current, skipping, outside = None, True, []
            continue
        if timing is not None:
            if current is not None and current.lines and current.lines[-1].strip().isdigit():
                current.lines.pop()  # an SRT index after a missing blank line: not text
            # One line before a timing is the cue's identifier or index; more is stray text.
            if len(outside) > 1:
                blocks += 1
                dropped["stray_text"] += 1
            outside = []
            blocks += 1
            if isinstance(timing, str):
                dropped[timing] += 1
                current, skipping = None, True
            elif len(cues) >= max_cues:
                dropped["over_cue_cap"] += 1
                current, skipping = None, True
            else:
                current, skipping = RawCue(timing[0], timing[1]), False
                cues.append(current)
            continue
        if skipping:
            continue
        if not outside and line.startswith(_SKIPPED_BLOCKS):
            skipping = True
        else:
            outside.append(line)
    return BlockScan(cues, dropped, blocks)
