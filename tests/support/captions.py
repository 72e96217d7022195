"""Caption files for crawl tests."""

from __future__ import annotations


def vtt(cues: list[tuple[int, str]]) -> str:
    """A WebVTT file with one cue per (second, text), each lasting until the next one."""
    blocks = ["WEBVTT", ""]
    for i, (start, text) in enumerate(cues):
        end = cues[i + 1][0] if i + 1 < len(cues) else start + 6
        blocks += [f"00:{start // 60:02d}:{start % 60:02d}.000 --> 00:{end // 60:02d}:{end % 60:02d}.000", text, ""]
    return "\n".join(blocks)
