"""A crawled page's recording becomes timed passages: which transcript to use, and how it is cut.

The crawler calls this module for every stored page (no network and no database here; fetching the
caption file is :mod:`ingest.caption_fetch`):

1. :func:`transcript_source` reads the page once with :func:`ingest.media.find_media` and picks what to
   transcribe: the caption track of the recording the page is *about* (an English captions track
   first), else that recording's JSON-LD ``transcript`` text, else the speaker turns written in the
   body (a podcast episode page). A blog post's embedded video is not the page's subject and is left
   to its own Content (issue 6, not yet built).
2. :func:`build_transcript` cuts what was found into passages: caption cues with
   :func:`ingest.timed_chunking.timed_passages`, body turns with ``timed_passages_from_turns`` (timed
   when the turns carry timestamps), a JSON-LD transcript as untimed text. Chapters come from JSON-LD
   ``hasPart`` clips, else from a timestamp list in the recording's description or the page text.
3. :func:`merge_transcript` adds the passages to the page's own text passages (the body's transcript
   paragraphs are re-chunked out, so the words are not indexed twice) and folds the transcript into
   the content hash, so a changed caption file re-ingests the page.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest import timed_chunking
from ingest.caption_fetch import CaptionFetch
from ingest.captions import CaptionParse
from ingest.chapters import Chapter, chapters_from_description
from ingest.chunking import PassageDraft, chunk_sections
from ingest.extract import ExtractedPage, Section
from ingest.media import find_media
from ingest.media_items import CaptionTrack, MediaItem, Turn
from kb.content import PageRecord, PassageInput
from kb.timed_links import format_moment

__all__ = ["PageTranscript", "TranscriptSource", "add_transcript", "build_transcript", "choose_track",
           "merge_transcript", "transcript_source"]

TRANSCRIPT_HEADING = "Transcript"  # heading of transcript passages outside any chapter
_TAIL_CHARS = 60  # a body paragraph whose last characters occur in the turns is transcript text
_LABEL_RE = re.compile(r"^\s*(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?[\])]?\s*)?[^:\n]{1,60}:\s*")


@dataclass
class TranscriptSource:
    """What a page offers to transcribe (see module docstring, step 1)."""

    main: MediaItem | None = None
    track: CaptionTrack | None = None  # the caption file to fetch, if any
    transcript_text: str | None = None  # JSON-LD ``transcript`` of the main recording
    turns: list[Turn] = field(default_factory=list)  # speaker turns in the page body
    dropped: dict[str, int] = field(default_factory=dict)  # find_media's counted oddities

    @property
    def empty(self) -> bool:
        return self.track is None and not self.transcript_text and not self.turns


@dataclass
class PageTranscript:
    """Transcript passages of one page, and what to say about them in the crawl report."""

    source: str  # "captions" | "jsonld_transcript" | "body_turns"
    passages: list[PassageDraft]
    text: str  # the transcript's words, for the content hash
    note: str  # one line for the page's PageLog detail
    # Body turns the passages came from: their paragraphs are taken out of the page's text passages.
    turns: list[Turn] = field(default_factory=list)

    @property
    def media_seconds(self) -> float:
        """Seconds of recording covered by timed passages (0 when untimed)."""
        ends = [p.end_seconds for p in self.passages if p.end_seconds is not None]
        return max(ends, default=0.0)


def choose_track(tracks: list[CaptionTrack]) -> CaptionTrack | None:
    """The caption track to index: English captions before subtitles and other languages, default first.

    Tracks without a language count as English (a site's single unlabelled track usually is).
    """
    def rank(track: CaptionTrack) -> tuple[int, int, int]:
        language = (track.language or "en").lower()
        return (0 if language.split("-")[0] == "en" else 1, 0 if track.kind == "captions" else 1,
                0 if track.is_default else 1)

    usable = [t for t in tracks if t.kind in ("captions", "subtitles")]
    return min(usable, key=rank) if usable else None  # min() is stable: ties keep page order


def transcript_source(html: str, page_url: str, *, page_kind: str | None = None) -> TranscriptSource:
    """What to transcribe on the page fetched from ``page_url``; empty when it has no recording of its own."""
    media = find_media(html, page_url, page_kind=page_kind)
    main = media.main
    source = TranscriptSource(main=main, turns=list(media.turns), dropped=dict(media.dropped))
    if main is not None:
        source.track = choose_track(main.captions)
        source.transcript_text = (main.transcript or "").strip() or None
    return source


def _chapters(main: MediaItem | None, other_text: str) -> list[Chapter]:
    """JSON-LD clips first, then a timestamp list in the recording's description, then in the page text."""
    if main is not None and main.clips:
        clips = sorted((c for c in main.clips if c.start_seconds is not None and c.name),
                       key=lambda c: c.start_seconds or 0.0)
        chapters = [Chapter(c.start_seconds or 0.0, c.name) for c in clips]
        if len(chapters) >= 2 and len({c.start for c in chapters}) == len(chapters):
            return chapters
    duration = main.duration_seconds if main is not None else None
    for text in (main.description if main is not None else None, other_text):
        found = chapters_from_description(text or "", duration=duration)
        if found:
            return found
    return []


def _normal(text: str) -> str:
    return " ".join(text.split())


def _is_turn_paragraph(paragraph: str, joined_turns: str) -> bool:
    """A body paragraph that is (part of) a transcript turn: its end occurs in the turns' text."""
    body = _normal(_LABEL_RE.sub("", paragraph, count=1))
    if not body:
        return False
    tail = body[-_TAIL_CHARS:]
    return (len(tail) >= 15 or body == tail) and tail in joined_turns


def sections_without_turns(sections: list[Section], turns: list[Turn]) -> list[Section]:
    """The page's sections with the paragraphs that hold transcript turns removed (empty sections go)."""
    joined = " \n ".join(_normal(t.text) for t in turns)
    kept = []
    for section in sections:
        paragraphs = [p for p in section.text.split("\n\n") if not _is_turn_paragraph(p, joined)]
        if any(p.strip() for p in paragraphs):
            kept.append(Section(section.heading_path, "\n\n".join(paragraphs)))
    return kept


def _cue_note(parse: CaptionParse) -> str:
    """'kept 812 of 820 cues (8 no_speech)' plus the file's problems, for the crawl report."""
    kept = len(parse.cues)
    note = f"kept {kept} of {parse.blocks} cues"
    if parse.dropped:
        note += " (" + ", ".join(f"{n} {reason}" for reason, n in parse.dropped.most_common()) + ")"
    if parse.problems:
        note += "; " + "; ".join(parse.problems)
    return note


def build_transcript(
    source: TranscriptSource,
    captions: CaptionParse | None,
    page: ExtractedPage,
    *,
    max_words: int,
    overlap_words: int,
) -> PageTranscript | None:
    """Passages from the best transcript the page has (captions > JSON-LD text > body turns), or None.

    ``captions`` is the parsed caption file of ``source.track`` (None when it was not fetched or
    failed); a chapter list may also be in ``page``'s text outside the body transcript.
    """
    sections = sections_without_turns(page.sections, source.turns) if source.turns else page.sections
    chapters = _chapters(source.main, "\n".join(s.text for s in sections))
    if captions is not None and captions.cues:
        passages = [_with_heading(p) for p in timed_chunking.timed_passages(captions.cues, chapters)]
        words = "\n".join(cue.text for cue in captions.cues)
        media = PageTranscript("captions", passages, words, "")
        media.note = (f"captions {source.track.url if source.track else ''}: {_cue_note(captions)}; "
                      f"{len(passages)} timed passages, {format_moment(media.media_seconds)} of media")
        return media
    if source.transcript_text:
        drafts = chunk_sections([Section((TRANSCRIPT_HEADING,), source.transcript_text)],
                                max_words=max_words, overlap_words=overlap_words)
        return PageTranscript("jsonld_transcript", drafts, source.transcript_text,
                              f"JSON-LD transcript: {len(drafts)} untimed passages")
    if source.turns:
        turns = [timed_chunking.Turn(t.speaker, t.text, t.start_seconds) for t in source.turns]
        passages = [_with_heading(p) for p in timed_chunking.timed_passages_from_turns(turns, chapters)]
        words = "\n".join(f"{t.speaker}: {t.text}" for t in source.turns)
        media = PageTranscript("body_turns", passages, words, "", turns=list(source.turns))
        timed = "timed" if any(p.start_seconds is not None for p in passages) else "untimed"
        speakers = len({t.speaker for t in source.turns})
        media.note = (f"body transcript: {len(source.turns)} turns by {speakers} speakers; "
                      f"{len(passages)} {timed} passages")
        if timed == "timed":
            media.note += f", {format_moment(media.media_seconds)} of media"
        return media
    return None


def _with_heading(draft: PassageDraft) -> PassageDraft:
    """Transcript passages outside any chapter are headed "Transcript", so a hit says where it is from."""
    if draft.heading_path:
        return draft
    return PassageDraft(draft.text, (TRANSCRIPT_HEADING,), draft.ordinal, draft.start_seconds, draft.end_seconds)


def transcript_hash(title: str, page_text: str, transcript: PageTranscript | None) -> str:
    """The content hash of a page with its transcript (whitespace-insensitive, like the page's own)."""
    normalised = _normal(title) + "\n" + _normal(page_text)
    if transcript is not None:
        normalised += "\n" + transcript.source + "\n" + _normal(transcript.text)
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def merge_transcript(
    record: PageRecord,
    page: ExtractedPage,
    transcript: PageTranscript,
    *,
    max_words: int,
    overlap_words: int,
) -> None:
    """Add ``transcript``'s passages to ``record`` after the page's own text passages, and re-hash it."""
    passages = list(record.passages)
    if transcript.turns:
        kept = sections_without_turns(page.sections, transcript.turns)
        drafts = chunk_sections(kept, max_words=max_words, overlap_words=overlap_words) if kept else []
        passages = [PassageInput(d.text, tuple(d.heading_path), d.ordinal, d.start_seconds, d.end_seconds)
                    for d in drafts]
    offset = len(passages)
    passages += [PassageInput(d.text, tuple(d.heading_path), offset + i, d.start_seconds, d.end_seconds)
                 for i, d in enumerate(transcript.passages)]
    record.passages = passages
    record.content_hash = transcript_hash(page.title, page.text, transcript)



def add_transcript(
    html: str,
    page_url: str,
    page: ExtractedPage,
    record: PageRecord,
    *,
    fetch: Callable[[str], CaptionFetch],
    max_words: int,
    overlap_words: int,
) -> str | None:
    """Steps 1-3 for one page: ``record`` gains the transcript passages; returns a note for the crawl report.

    ``fetch(url)`` gets the caption file (the crawler's :func:`ingest.caption_fetch.fetch_captions`, which
    also reports a refused or failed URL). None when the page has no transcript of its own.
    """
    try:
        source = transcript_source(html, page_url, page_kind=page.kind)
        if source.empty:
            return None
        captions = fetch(source.track.url).parse if source.track is not None else None
        transcript = build_transcript(source, captions, page, max_words=max_words, overlap_words=overlap_words)
        if transcript is None:
            return "captions not usable: the page is indexed from its text"
        merge_transcript(record, page, transcript, max_words=max_words, overlap_words=overlap_words)
        return transcript.note
    except Exception as exc:  # a transcript bug must cost the transcript, never the page or the crawl
        return f"transcript not indexed: {type(exc).__name__}: {exc}"
