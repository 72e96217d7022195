"""Caption files (WebVTT, SRT) to clean, timed cues; a bad file never raises.

:func:`parse_captions` takes the bytes of a caption track as fetched and returns what it could keep
plus counted reasons for what it dropped (reliability checklist C-51..C-56):

* bytes: UTF-8/16/32 byte-order marks, UTF-16 without one, non-UTF-8 (cp1252, else latin-1, with a
  problem noted), a size cap (the tail is cut at a line end and noted);
* format by content, not by name: ``WEBVTT`` header -> WebVTT; cue timings without it -> SRT;
  neither -> no cues and the problem "neither WebVTT nor SRT";
* blocks: webvtt-py (the maintained parser for both formats; it reads all 50 real caption files of
  the company-site data set) reads the file; the lenient scanner of :mod:`ingest.caption_blocks`
  checks that it lost no block and takes over when webvtt-py raised or skipped one, so malformed
  blocks are counted per reason instead of silently lost or aborting the file;
* cues: timings checked (``end_before_start``, ``negative_time``, ``beyond_24h`` dropped), sorted by
  start (``warnings["out_of_order"]``), markup and sound-only lines removed, speakers taken from
  voice spans, rolling auto-caption repeats and duplicate cues collapsed, a cap on the cue count.
"""

from __future__ import annotations

import codecs
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from ingest.caption_blocks import TIMING_RE, RawCue, scan_blocks, split_lines
from ingest.caption_text import CueLines, clean_cue, is_rolling, remove_rolling_repeats

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_CUES", "CaptionParse", "Cue", "cue_text", "parse_captions"]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024  # ~10 hours of dense captions; more is a broken or hostile file
DEFAULT_MAX_CUES = 20_000  # a 3-hour auto-captioned talk has ~6,000 cues
_MAX_SECONDS = 24 * 3600  # no recording we index is a day long: such a timestamp is a typo
# Drops that lose no speech: sound-only and empty cues, repeats. The rest is flagged past 5 %.
_NOT_LOST = frozenset({"no_speech", "empty", "duplicate", "rolling_duplicate"})
_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Cue:
    """One caption cue: times in seconds, plain text on one line, speaker if a voice named one."""

    start: float
    end: float
    text: str
    speaker: str | None = None


@dataclass
class CaptionParse:
    """Result of :func:`parse_captions`.

    ``blocks`` counts the cue blocks seen; ``dropped`` counts the ones not kept, by reason, so
    ``1 - sum(dropped.values()) / blocks`` is the share kept. ``warnings`` counts oddities of kept
    cues (``out_of_order``, ``overlapping``); ``problems`` are file-level sentences for a report.
    """

    cues: list[Cue] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    format: str | None = None  # "webvtt", "srt", or None when neither
    blocks: int = 0

    @property
    def kept_share(self) -> float:
        """Share of cue blocks kept (1.0 for a file without blocks: nothing was lost)."""
        return 1.0 - sum(self.dropped.values()) / self.blocks if self.blocks else 1.0


def _decode(data: bytes, problems: list[str]) -> str:
    """Text of caption bytes; never raises (latin-1 decodes any byte)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            unit = 4 if "32" in encoding else 2 if "16" in encoding else 1
            body = data[len(bom) :]
            return body[: len(body) - len(body) % unit].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # UTF-16 without a mark: ASCII-range text leaves every other byte NUL.
    head = data[:4096]
    if len(head) >= 4 and head.count(0) * 3 > len(head):
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        problems.append(f"no byte-order mark, decoded as {encoding.upper()}")
        return data[: len(data) - len(data) % 2].decode(encoding, errors="replace")
    try:
        text = data.decode("cp1252")
        problems.append("not UTF-8, decoded as cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        problems.append("not UTF-8, decoded as latin-1")
    return text


def _cut(data: bytes, max_bytes: int, problems: list[str]) -> bytes:
    """At most ``max_bytes``; 8-bit text ends at a line end (UTF-16/32 is trimmed after decoding)."""
    if len(data) <= max_bytes:
        return data
    problems.append(f"too large ({len(data)} bytes): cut at {max_bytes} bytes")
    cut = data[:max_bytes]
    if cut.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return cut
    newline = cut.rfind(b"\n")
    return cut[: newline + 1] if newline > 0 else cut


def _detect_format(text: str) -> str | None:
    """"webvtt" for a WEBVTT header, "srt" for cue timings near the start without one, else None."""
    lines = split_lines(text.lstrip("\ufeff \t\r\n"))
    first = lines[0] if lines else ""
    if first.startswith("WEBVTT") and first[6:7] in ("", " ", "\t"):
        return "webvtt"
    if "\x00" in text[:4096]:
        return None
    # An SRT's first timing sits on line 2; allow a few junk lines (stray header, comments) first.
    if any(TIMING_RE.match(line) for line in lines[:20]):
        return "srt"
    return None


def _read_with_webvtt(text: str, fmt: str) -> list[RawCue] | None:
    """webvtt-py's reading of the file, or None when it refuses it."""
    try:
        if fmt == "webvtt":
            captions = webvtt.WebVTT.from_string(text).captions
        else:
            captions = webvtt.WebVTT.from_buffer(io.StringIO(text), format="srt").captions
        return [
            RawCue(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, list(c.lines))
            for c in captions
        ]
    except (MalformedFileError, MalformedCaptionError, ValueError, TypeError):
        return None


def _same_blocks(ours: Sequence[RawCue], theirs: Sequence[RawCue]) -> bool:
    """Whether two readings agree on every cue's timing and text lines."""
    if len(ours) != len(theirs):
        return False
    return all(
        abs(a.start - b.start) < 0.0015 and abs(a.end - b.end) < 0.0015 and _text_lines(a) == _text_lines(b)
        for a, b in zip(ours, theirs, strict=True)
    )


def _text_lines(cue: RawCue) -> list[str]:
    return [line for line in cue.lines if line.strip()]


def _check_times(raw: Iterable[RawCue], dropped: Counter[str]) -> list[RawCue]:
    """Cues with plausible timings; the others counted by reason."""
    kept = []
    for cue in raw:
        if cue.start < 0 or cue.end < 0:
            dropped["negative_time"] += 1
        elif cue.start > _MAX_SECONDS or cue.end > _MAX_SECONDS:
            dropped["beyond_24h"] += 1
        elif cue.end < cue.start:
            dropped["end_before_start"] += 1
        else:
            kept.append(cue)
    return kept


def _sort(raw: list[RawCue], warnings: Counter[str]) -> list[RawCue]:
    """Cues by start time (stable: equal starts keep file order); out-of-order ones counted."""
    latest = float("-inf")
    for cue in raw:
        if cue.start < latest:
            warnings["out_of_order"] += 1
        latest = max(latest, cue.start)
    return sorted(raw, key=lambda c: c.start) if warnings["out_of_order"] else raw


def _to_cues(raw: Sequence[RawCue], dropped: Counter[str], warnings: Counter[str]) -> list[Cue]:
    """Clean text, speakers, duplicate handling; counted drops for cues that end up with no text."""
    cleaned = [clean_cue(cue.lines) for cue in raw]
    flat = [[line for run in runs for line in run.lines] for runs, _ in cleaned]
    rolling = is_rolling(flat)
    cues: list[Cue] = []
    prev_raw: RawCue | None = None
    prev_lines: list[str] = []
    for cue, (runs, had_sound), lines in zip(raw, cleaned, flat, strict=True):
        if not lines:
            dropped["no_speech" if had_sound else "empty"] += 1
            continue
        same_as_prev = prev_raw is not None and lines == prev_lines
        if same_as_prev and prev_raw is not None and (prev_raw.start, prev_raw.end) == (cue.start, cue.end):
            dropped["duplicate"] += 1  # the same cue written twice
            continue
        if rolling:
            new = remove_rolling_repeats(prev_lines, lines)
            prev_raw, prev_lines = cue, lines
            if not new:
                dropped["rolling_duplicate"] += 1
                continue
            skip = len(lines) - len(new)  # repeated lines come first: drop them from the runs too
            runs = _drop_leading_lines(runs, skip)
        else:
            prev_raw, prev_lines = cue, lines
        if cues and cue.start < cues[-1].end and not rolling:
            warnings["overlapping"] += 1
        for run in runs:
            cues.append(Cue(cue.start, cue.end, " ".join(run.lines), run.speaker))
    return cues


def _drop_leading_lines(runs: Sequence[CueLines], count: int) -> list[CueLines]:
    """Per-speaker runs without their first ``count`` lines in total."""
    out: list[CueLines] = []
    for run in runs:
        if count >= len(run.lines):
            count -= len(run.lines)
            continue
        out.append(CueLines(run.speaker, run.lines[count:]))
        count = 0
    return out


def parse_captions(
    data: bytes,
    *,
    filename: str = "",
    content_type: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_cues: int = DEFAULT_MAX_CUES,
) -> CaptionParse:
    """Parse a WebVTT or SRT caption file (see the module docstring); never raises on bad input.

    ``filename`` and ``content_type`` are hints only: the content decides the format, and a
    mismatch is noted as a problem (a ``.srt`` URL serving WebVTT is common and harmless).
    """
    result = CaptionParse()
    text = _decode(_cut(data, max_bytes, result.problems), result.problems)
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if len(data) > max_bytes and "\n\n" in text:
        text = text[: text.rfind("\n\n")]  # the last block may be cut short: keep whole blocks only
    result.format = _detect_format(text)
    if result.format is None:
        result.problems.append("neither WebVTT nor SRT")
        return result
    hinted = _hinted_format(filename, content_type)
    if hinted and hinted != result.format:
        result.problems.append(f"named as {hinted} but the content is {result.format}")

    scan = scan_blocks(text, max_cues=max_cues, webvtt=result.format == "webvtt")
    result.blocks = scan.blocks
    result.dropped.update(scan.dropped)
    raw = scan.cues
    # webvtt-py is the reference reading; where it refused the file or lost or misread a block that
    # the lenient scan kept, the scan's reading is used (and it counts what it could not read).
    theirs = _read_with_webvtt(text, result.format)
    if theirs is not None and scan.dropped["over_cue_cap"]:
        theirs = theirs[:max_cues]  # the cap applies to both readings
    if theirs is not None and _same_blocks(raw, theirs):
        raw = theirs
    elif theirs is None:
        result.problems.append("webvtt-py refused the file: read with the lenient parser")
    else:
        result.problems.append(f"webvtt-py skipped or misread cue blocks ({len(theirs)} read): used the lenient parser")
    if scan.dropped["over_cue_cap"]:
        result.problems.append(f"too many cues: kept the first {max_cues}")
    raw = _sort(_check_times(raw, result.dropped), result.warnings)
    result.cues = _to_cues(raw, result.dropped, result.warnings)
    lost = sum(n for reason, n in result.dropped.items() if reason not in _NOT_LOST)
    if result.blocks and lost > 0.05 * result.blocks:  # checklist C-53: flag a transcript losing > 5 %
        result.problems.append(f"{lost} of {result.blocks} cue blocks lost (unreadable, implausible or over the cap)")
    return result


def _hinted_format(filename: str, content_type: str) -> str | None:
    """The format a URL's extension or a Content-Type claims, if any."""
    name, ctype = filename.lower().split("?")[0], content_type.lower()
    if name.endswith(".vtt") or "text/vtt" in ctype:
        return "webvtt"
    if name.endswith(".srt") or "subrip" in ctype:
        return "srt"
    return None


def cue_text(cues: Sequence[Cue]) -> str:
    """A readable transcript: one paragraph per speaker turn, "Speaker: " where a voice names one.

    A cue without a speaker continues the current turn (voice spans usually mark only a turn's
    first cue).
    """
    paragraphs: list[str] = []
    speaker: str | None = None
    for cue in cues:
        if cue.speaker is not None and (cue.speaker != speaker or not paragraphs):
            speaker = cue.speaker
            paragraphs.append(f"{speaker}: {cue.text}")
        elif paragraphs:
            paragraphs[-1] += " " + cue.text
        else:
            paragraphs.append(cue.text)
    return "\n\n".join(paragraphs)
