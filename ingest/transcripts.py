"""A crawled page's recording becomes timed passages: which transcript to use, and how it is cut.

The crawler calls this module for every stored page (no network and no database here; fetching caption
files is :mod:`ingest.crawl_captions`, reached through the ``fetch`` callable):

1. :func:`transcript_source` takes the page's media (:func:`ingest.media.find_media`, read once by the
   caller) and picks what to transcribe: the caption tracks of the recording the page is *about*
   (English captions first, then the site's transcript locations, :mod:`ingest.transcript_locations`;
   the next one is tried when one fails), else that recording's JSON-LD ``transcript`` text, else the
   speaker turns written in the body (a podcast episode page). A blog post's embedded videos are not the
   page's subject: each becomes its own content (:mod:`ingest.embedded_media`, same building blocks).
2. :func:`build_transcript` cuts what was found into passages: caption cues with
   :func:`ingest.timed_chunking.timed_passages`, body turns with ``timed_passages_from_turns`` (timed
   when the turns carry timestamps), a JSON-LD transcript as untimed text. Chapters come from a
   ``<track kind="chapters">`` file, else JSON-LD ``hasPart`` clips, else a timestamp list in the
   recording's description or the page text.
3. :func:`merge_transcript` adds the passages to the page's own text passages (the body's transcript
   paragraphs are re-chunked out, so the words are not indexed twice) and folds the transcript into
   the content hash, so a changed caption file re-ingests the page.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest import timed_chunking
from ingest.caption_fetch import CaptionFetch
from ingest.captions import CaptionParse
from ingest.chapters import Chapter, chapters_from_description
from ingest.chunking import PassageDraft, chunk_sections
from ingest.crawl_captions import cue_counts
from ingest.extract import ExtractedPage, Section
from ingest.media_items import CaptionTrack, MediaItem, PageMedia, Turn
from kb.content import PageRecord, PassageInput
from kb.timed_links import format_moment

__all__ = ["TRANSCRIPT_HEADING", "Fetch", "PageTranscript", "TranscriptSource", "add_transcript", "build_transcript",
           "chapters_from_cues", "choose_track", "first_captions", "merge_transcript", "ranked_tracks", "source_for",
           "transcribe", "transcript_source"]

TRANSCRIPT_HEADING = "Transcript"  # heading of transcript passages outside any chapter
_TAIL_CHARS = 60  # a body paragraph whose last characters occur in the turns is transcript text
_LABEL_RE = re.compile(r"^\s*(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?[\])]?\s*)?[^:\n]{1,60}:\s*")
_MAX_CHAPTER_TITLE = 120

Fetch = Callable[[str], CaptionFetch]


@dataclass
class TranscriptSource:
    """What a recording offers to transcribe (see module docstring, step 1)."""

    main: MediaItem | None = None
    tracks: list[CaptionTrack] = field(default_factory=list)  # caption files to try, best first
    chapter_track: CaptionTrack | None = None  # a <track kind="chapters"> file
    transcript_text: str | None = None  # JSON-LD ``transcript`` of the recording
    turns: list[Turn] = field(default_factory=list)  # speaker turns in the page body
    dropped: dict[str, int] = field(default_factory=dict)  # find_media's counted oddities

    @property
    def track(self) -> CaptionTrack | None:
        """The caption file tried first."""
        return self.tracks[0] if self.tracks else None

    @property
    def empty(self) -> bool:
        return not self.tracks and not self.transcript_text and not self.turns


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


def ranked_tracks(tracks: Sequence[CaptionTrack]) -> list[CaptionTrack]:
    """Caption tracks worth indexing, best first: English captions before subtitles and other languages,
    default first. Tracks without a language count as English (a site's single unlabelled track usually is).
    """
    def rank(track: CaptionTrack) -> tuple[int, int, int]:
        language = (track.language or "en").lower()
        return (0 if language.split("-")[0] == "en" else 1, 0 if track.kind == "captions" else 1,
                0 if track.is_default else 1)

    return sorted((t for t in tracks if t.kind in ("captions", "subtitles")), key=rank)  # stable: page order


def choose_track(tracks: list[CaptionTrack]) -> CaptionTrack | None:
    """The caption track to index first (see :func:`ranked_tracks`), or None."""
    ranked = ranked_tracks(tracks)
    return ranked[0] if ranked else None


def source_for(item: MediaItem | None, *, turns: Sequence[Turn] = (),
               extra_tracks: Sequence[CaptionTrack] = ()) -> TranscriptSource:
    """What to transcribe for one recording: its own tracks, then ``extra_tracks`` (transcript locations)."""
    source = TranscriptSource(main=item, turns=list(turns))
    if item is not None:
        source.tracks = ranked_tracks(item.captions)
        chapter_tracks = ranked_tracks([CaptionTrack(t.url, "captions", t.language, t.label, t.is_default)
                                        for t in item.chapter_tracks])
        source.chapter_track = chapter_tracks[0] if chapter_tracks else None
        source.transcript_text = (item.transcript or "").strip() or None
    known = {t.url for t in source.tracks}
    source.tracks += [t for t in extra_tracks if t.url not in known]
    return source


def transcript_source(media: PageMedia, extra_tracks: Sequence[CaptionTrack] = ()) -> TranscriptSource:
    """What to transcribe on a page, from its media; empty when it has no recording of its own."""
    source = source_for(media.main, turns=media.turns, extra_tracks=extra_tracks if media.main else ())
    source.dropped = dict(media.dropped)
    return source


def first_captions(tracks: Sequence[CaptionTrack], fetch: Fetch) -> tuple[CaptionTrack | None, CaptionParse | None]:
    """The first of ``tracks`` (best first) whose file gives cues, with its parse; (None, None) if none does."""
    for track in tracks:
        parse = fetch(track.url).parse
        if parse is not None and parse.cues:
            return track, parse
    return None, None


def chapters_from_cues(parse: CaptionParse | None) -> list[Chapter]:
    """Chapters of a ``<track kind="chapters">`` file: each cue's start and text, in ascending order."""
    if parse is None:
        return []
    chapters: list[Chapter] = []
    for cue in sorted(parse.cues, key=lambda c: c.start):
        title = " ".join(cue.text.split())[:_MAX_CHAPTER_TITLE]
        if title and (not chapters or cue.start > chapters[-1].start):
            chapters.append(Chapter(cue.start, title))
    return chapters


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


def turns_at_marks(turns: Sequence[Turn]) -> list[timed_chunking.Turn]:
    """Body turns for the passage cutter, split where the page stamped the time inside a turn.

    Many podcast pages stamp the minute rather than the turn ("... did [00:03:00] you ..."); each piece
    after a mark starts at that mark's second, so those episodes still get passages that link to the
    moment instead of untimed ones. A mark at the turn's very start already dated the turn itself.
    """
    pieces = []
    for turn in turns:
        cuts = [(0, turn.start_seconds)] + [(at, seconds) for at, seconds in turn.marks if 0 < at < len(turn.text)]
        ends = [at for at, _ in cuts[1:]] + [len(turn.text)]
        for (begin, start), end in zip(cuts, ends, strict=True):
            text = turn.text[begin:end].strip()
            if text:
                pieces.append(timed_chunking.Turn(turn.speaker, text, start))
    return pieces


def build_transcript(
    source: TranscriptSource,
    captions: CaptionParse | None,
    *,
    other_text: str = "",
    chapters: Sequence[Chapter] = (),
    captions_url: str | None = None,
    max_words: int,
    overlap_words: int,
) -> PageTranscript | None:
    """Passages from the best transcript there is (captions > JSON-LD text > body turns), or None.

    ``captions`` is the parsed caption file (None when none was fetched or usable); ``chapters`` from a
    chapter track win, else they come from the recording or ``other_text`` (the page's text outside the
    body transcript, which may hold a chapter list).
    """
    chapters = list(chapters) or _chapters(source.main, other_text)
    if captions is not None and captions.cues:
        passages = [_with_heading(p) for p in timed_chunking.timed_passages(captions.cues, chapters)]
        words = "\n".join(cue.text for cue in captions.cues)
        media = PageTranscript("captions", passages, words, "")
        media.note = (f"captions {captions_url or ''}: {cue_counts(captions)}; "
                      f"{len(passages)} timed passages, {format_moment(media.media_seconds)} of media")
        return media
    if source.transcript_text:
        drafts = chunk_sections([Section((TRANSCRIPT_HEADING,), source.transcript_text)],
                                max_words=max_words, overlap_words=overlap_words)
        return PageTranscript("jsonld_transcript", drafts, source.transcript_text,
                              f"JSON-LD transcript: {len(drafts)} untimed passages")
    if source.turns:
        turns = turns_at_marks(source.turns)
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


def transcribe(source: TranscriptSource, fetch: Fetch, *, other_text: str, max_words: int,
               overlap_words: int) -> PageTranscript | None:
    """Fetch what ``source`` needs (caption tracks until one works, its chapter track) and build passages."""
    track, captions = first_captions(source.tracks, fetch)
    chapters: list[Chapter] = []
    if source.chapter_track is not None and (captions is not None or source.turns):
        chapters = chapters_from_cues(fetch(source.chapter_track.url).parse)
    return build_transcript(source, captions, other_text=other_text, chapters=chapters,
                            captions_url=track.url if track else None, max_words=max_words,
                            overlap_words=overlap_words)


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
    media: PageMedia,
    page: ExtractedPage,
    record: PageRecord,
    *,
    fetch: Fetch,
    max_words: int,
    overlap_words: int,
    extra_tracks: Sequence[CaptionTrack] = (),
) -> str | None:
    """Steps 1-3 for one page: ``record`` gains the transcript passages; returns a note for the crawl report.

    ``fetch(url)`` gets a caption file (the crawl's :class:`ingest.crawl_captions.CaptionGetter`, which
    also reports every fetch). ``extra_tracks`` are the site's transcript locations for this page. None
    when the page has no transcript of its own.
    """
    try:
        source = transcript_source(media, extra_tracks)
        if source.empty:
            return None
        sections = sections_without_turns(page.sections, source.turns) if source.turns else page.sections
        transcript = transcribe(source, fetch, other_text="\n".join(s.text for s in sections),
                                max_words=max_words, overlap_words=overlap_words)
        if transcript is None:
            return "captions not usable: the page is indexed from its text"
        merge_transcript(record, page, transcript, max_words=max_words, overlap_words=overlap_words)
        return transcript.note
    except Exception as exc:  # a transcript bug must cost the transcript, never the page or the crawl
        return f"transcript not indexed: {type(exc).__name__}: {exc}"
