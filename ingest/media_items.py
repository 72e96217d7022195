"""What a page's video or audio is, as plain data: the result type of :func:`ingest.media.find_media`.

Why a module of its own: the same recording is seen several times on one page (an iframe, a link to
it, a JSON-LD ``VideoObject``, an ``og:video``), by readers that know nothing of each other
(``ingest.media_embeds``, ``ingest.media_jsonld``). Each reader emits a :class:`MediaItem`; this module
says how two sightings of one recording are recognised (:attr:`MediaItem.key`) and merged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from kb.timed_links import MediaRef

__all__ = ["CaptionTrack", "Clip", "MediaItem", "PageMedia", "Turn", "caption_format"]


@dataclass(frozen=True)
class CaptionTrack:
    """A timed-text file of a recording (``<track>`` or a JSON-LD ``caption`` MediaObject)."""

    url: str  # absolute http(s)
    kind: str = "captions"  # "captions" | "subtitles" | "chapters"
    language: str | None = None  # srclang / inLanguage, as given
    label: str | None = None
    is_default: bool = False
    format: str | None = None  # "vtt" | "srt" | None: guessed from the MIME type or the file extension


def caption_format(url: str, mime: str | None = None) -> str | None:
    """'vtt' / 'srt' from a MIME type (text/vtt, application/x-subrip) or the URL's extension."""
    mime = (mime or "").lower()
    if "vtt" in mime:
        return "vtt"
    if "subrip" in mime or mime.endswith("/srt"):
        return "srt"
    path = url.split("?")[0].split("#")[0].lower()
    return "vtt" if path.endswith(".vtt") else "srt" if path.endswith(".srt") else None


@dataclass(frozen=True)
class Clip:
    """A named segment (JSON-LD ``hasPart`` Clip), kept raw: chapter building happens elsewhere."""

    name: str
    start_seconds: float | None
    end_seconds: float | None = None
    url: str | None = None


@dataclass(frozen=True)
class Turn:
    """One speaker turn of a transcript written in a page body."""

    speaker: str
    start_seconds: float | None
    text: str
    # Timestamps written inside the turn ("... and [00:03:00] then ..."), removed from ``text``:
    # (character offset in text, seconds). They let a passage cutter place text that has no turn time.
    marks: tuple[tuple[int, float], ...] = ()


@dataclass
class MediaItem:
    """One recording found on a page (merged over every place it was seen)."""

    kind: str  # "video" | "audio"
    platform: str  # "youtube" | "vimeo" | "wistia" | "loom" | "html5" (the page's own player) | "other"
    platform_id: str | None = None
    watch_url: str | None = None  # where a person watches it; the page itself for html5
    embed_url: str | None = None
    content_url: str | None = None  # the media file, when known
    thumbnail_url: str | None = None
    title: str | None = None
    description: str | None = None
    duration_seconds: float | None = None
    upload_date: datetime | None = None  # tz-aware UTC
    transcript: str | None = None  # JSON-LD ``transcript`` text
    captions: list[CaptionTrack] = field(default_factory=list)  # kind captions/subtitles
    chapter_tracks: list[CaptionTrack] = field(default_factory=list)  # <track kind="chapters">
    clips: list[Clip] = field(default_factory=list)  # JSON-LD hasPart: the raw chapter source
    found_in: list[str] = field(default_factory=list)  # "element", "iframe", "link", "jsonld", "og", "sitemap"
    # False only for the one recording the page is *about* (a video or episode page). A recording a
    # blog post embeds or links to stays True: it becomes its own Content linked to the post.
    embedded_in_post: bool = True
    anchor: str | None = None  # merge key for sightings without a URL (internal; see ``key``)

    @classmethod
    def from_ref(cls, ref: MediaRef, found_in: str) -> MediaItem:
        """An item for a hosted recording (every platform we recognise hosts video)."""
        return cls(kind="video", platform=ref.platform, platform_id=ref.media_id, watch_url=ref.watch_url,
                   embed_url=ref.embed_url, found_in=[found_in])

    @property
    def key(self) -> str:
        """Identity of the recording: platform + id, else its file URL, else a per-sighting anchor."""
        if self.platform_id:
            return f"{self.platform}:{self.platform_id}"
        if self.content_url:
            return "url:" + self.content_url.split("#")[0]
        return "anchor:" + (self.anchor or str(id(self)))

    @property
    def only_linked(self) -> bool:
        """Seen only as a plain link: the page points at it rather than playing it."""
        return set(self.found_in) == {"link"}

    def merge(self, other: MediaItem) -> None:
        """Fill what this item lacks from ``other`` (another sighting of the same recording).

        A hosted platform beats html5/other, so a JSON-LD node pointing at YouTube stays YouTube;
        captions, clips and places are unioned in order, without duplicates.
        """
        if self.platform in ("html5", "other") and other.platform not in ("html5", "other"):
            self.platform, self.platform_id = other.platform, other.platform_id
            self.watch_url, self.embed_url = other.watch_url, other.embed_url
        elif self.platform == "other" and other.platform == "html5":
            self.platform, self.watch_url = "html5", other.watch_url
        if other.kind == "video" and other.platform_id:
            self.kind = "video"
        for name in ("watch_url", "embed_url", "content_url", "thumbnail_url", "title", "description",
                     "duration_seconds", "upload_date", "transcript"):
            if getattr(self, name) in (None, "") and getattr(other, name) not in (None, ""):
                setattr(self, name, getattr(other, name))
        for name in ("captions", "chapter_tracks"):
            mine: list[CaptionTrack] = getattr(self, name)
            seen = {t.url for t in mine}
            for track in getattr(other, name):
                if track.url not in seen:
                    seen.add(track.url)
                    mine.append(track)
        if not self.clips:
            self.clips = list(other.clips)
        self.found_in.extend(f for f in other.found_in if f not in self.found_in)


@dataclass
class PageMedia:
    """Everything playable a page holds, plus the transcript written in its body."""

    page_url: str
    items: list[MediaItem] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)  # see ingest.media_turns.find_transcript_turns
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> count: what was seen but not kept

    @property
    def main(self) -> MediaItem | None:
        """The recording the page is about, or None for a page that only embeds or links media."""
        return next((item for item in self.items if not item.embedded_in_post), None)

    @property
    def caption_tracks(self) -> list[CaptionTrack]:
        """Every caption/subtitle track of every item, in order (what the crawler will fetch)."""
        return [track for item in self.items for track in item.captions]
