"""From a cue's raw lines to plain spoken text with its speaker.

Captions carry markup a transcript must not keep: WebVTT voice spans (``<v Roger>``, which give the
speaker), class/italic/bold/underline/ruby spans, karaoke timestamps (``<00:00:01.500>``), HTML
entities, SRT ``{\\an8}`` position codes, dialogue dashes (``- [Instructor] In this video``), and
lines that only describe sounds (``(upbeat music)``, ``[Applause]``, ``♪ ... ♪``), which are noise to
a search. Auto-generated (YouTube-style) captions also repeat the previous cue's last line at the
top of each cue ("rolling" captions); :func:`remove_rolling_repeats` keeps each line once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

# <v Roger>, <v.loud Roger Bingham>; "<v ->" (an unnamed voice) gives no speaker.
_VOICE_RE = re.compile(r"<v(?:\.[\w-]+)*[ \t]+([^>]*)>")
# Ruby annotations (<rt>reading</rt>) are pronunciation hints, not spoken text.
_RUBY_TEXT_RE = re.compile(r"<rt\b[^>]*>.*?</rt>", re.IGNORECASE)
# Any other tag: <c.x>, </c>, <i>, <b>, <u>, <lang en>, <font ...>, and karaoke <00:00:01.500>.
_TAG_RE = re.compile(r"</?[A-Za-z0-9][^<>]*>|<\d[\d:.]*>|</?>")
_SRT_POSITION_RE = re.compile(r"\{\\[^{}]*\}")
# "- [Instructor] text" (dialogue dash, bracketed speaker) and a bare leading dialogue dash.
_DASH_SPEAKER_RE = re.compile(r"^-\s*\[([^\]]{1,40})\]\s*(\S.*)$")
_DASH_RE = re.compile(r"^[-–—]\s+")
# A line that is only a sound description: "(upbeat music)", "[Applause]", "♪ la la ♪", "()".
# Parentheses holding a comma or full stop are more likely an aside that was spoken, and stay.
_SOUND_RE = re.compile(r"^(?:\[[^\[\]]{0,60}\]|\([^(),.]{0,60}\)|♪[^♪]*♪?|[♪#]+)$")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class CueLines:
    """A cue's cleaned text lines for one speaker (None when the cue names nobody)."""

    speaker: str | None
    lines: tuple[str, ...]


def clean_line(line: str) -> tuple[str | None, str, bool]:
    """``(speaker, text, was_sound)`` of one raw cue line; text is '' for markup- or sound-only lines."""
    speaker = None
    voice = _VOICE_RE.search(line)
    if voice:
        name = _SPACE_RE.sub(" ", html.unescape(voice.group(1))).strip()
        speaker = name if name.strip("-– ") else None
    text = _TAG_RE.sub("", _RUBY_TEXT_RE.sub("", line))
    text = _SRT_POSITION_RE.sub("", text)
    # Entities are decoded after tags are removed, so "&lt;b&gt;" stays visible text "<b>".
    text = _SPACE_RE.sub(" ", html.unescape(text).replace("\xa0", " ")).strip()
    dash = _DASH_SPEAKER_RE.match(text)
    if dash:
        speaker, text = speaker or dash.group(1).strip(), dash.group(2)
    text = _DASH_RE.sub("", text)
    if _SOUND_RE.match(text):
        return speaker, "", True
    return speaker, text, False


def clean_cue(lines: Sequence[str]) -> tuple[list[CueLines], bool]:
    """Split a cue's raw lines into per-speaker runs of clean lines.

    A voice span names the speaker of its line and of the lines after it in the same cue (WebVTT
    allows ``<v A>...</v>`` on one line and ``<v B>...`` on the next: two speakers in one cue).
    Returns the runs and whether any sound-only line was removed (to tell "no speech" from "empty").
    """
    runs: list[CueLines] = []
    speaker: str | None = None
    current: list[str] = []
    had_sound = False
    for raw in lines:
        line_speaker, text, sound = clean_line(raw)
        had_sound = had_sound or sound
        if line_speaker is not None and line_speaker != speaker:
            if current:
                runs.append(CueLines(speaker, tuple(current)))
            speaker, current = line_speaker, []
        if text:
            current.append(text)
    if current:
        runs.append(CueLines(speaker, tuple(current)))
    return runs, had_sound


def is_rolling(cue_lines: Sequence[Sequence[str]]) -> bool:
    """Whether captions are "rolling": many cues start with the previous cue's last line.

    Hand-made captions repeat a line now and then ("No." / "No."); auto-generated ones do it in
    most cues. A quarter of consecutive pairs is far above the first and far below the second.
    """
    pairs = repeats = 0
    for prev, cur in zip(cue_lines, cue_lines[1:], strict=False):
        if prev and cur:
            pairs += 1
            repeats += cur[0] == prev[-1]
    return pairs > 0 and repeats >= max(2, pairs // 4)


def remove_rolling_repeats(prev: Sequence[str], cur: Sequence[str]) -> list[str]:
    """``cur`` without its leading lines that repeat the tail of ``prev`` (longest such overlap)."""
    for k in range(min(len(prev), len(cur)), 0, -1):
        if list(cur[:k]) == list(prev[-k:]):
            return list(cur[k:])
    return list(cur)
