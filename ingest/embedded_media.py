"""Videos embedded in a blog post, each as a record of its own linked to the post (issue 6).

A post about month-end close that embeds a YouTube demo holds two things a rep may be looking for: the
article and the recording. The recording gets its own content (kind "video", or "podcast" for audio) so a
search hit can name it and land on its second on the platform's own page; :mod:`kb.media_content` stores
it under the post and retires it when the post drops the embed.

What is an embedded recording: every item :func:`ingest.media.find_media` found that is not the page's
subject and is *played* on the page (an iframe, a player element, a JSON-LD object), on a platform a
timed link understands. A plain link to a video is a reference, not an embed, and is left alone.

Its canonical URL -- the key that keeps a re-crawl from storing it twice -- is the platform's watch URL
(``https://www.youtube.com/watch?v=ID``, ``https://vimeo.com/ID``...); an HTML5 player on the post is
``<post>#media-<hash of its file>``, so every link built from it lands on the post's own player
(``#t=93``). Its title comes from JSON-LD ``name``, the iframe's or player's title, or the figure
caption around it, else "Video in: <post title>" (no oEmbed request: the crawl talks to the site only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.chunking import PassageDraft
from ingest.extract import ExtractedPage
from ingest.media_items import CaptionTrack, MediaItem, PageMedia
from ingest.transcript_locations import location_tracks
from ingest.transcripts import TRANSCRIPT_HEADING, Fetch, source_for, transcribe
from kb.content import PageRecord, PassageInput
from kb.media_content import ChildRecord

__all__ = ["CHILD_PLATFORMS", "EmbeddedRecording", "child_key", "embedded_recordings"]

CHILD_PLATFORMS = ("youtube", "vimeo", "wistia", "loom", "html5")


@dataclass
class EmbeddedRecording:
    """One embedded recording, ready to store, and a line for the crawl report."""

    child: ChildRecord
    note: str


def child_key(item: MediaItem, post_url: str) -> tuple[str, str] | None:
    """(canonical URL, media URL) of an embedded recording, or None when it cannot be one.

    Hosted: the watch URL, twice. HTML5: the post with a fragment naming the media file (or its first
    caption file when the player has no source), and the post as the place to watch it.
    """
    if item.platform in ("youtube", "vimeo", "wistia", "loom") and item.watch_url:
        return item.watch_url, item.watch_url
    if item.platform == "html5":
        anchor = item.content_url or (item.captions[0].url if item.captions else None)
        if anchor is None:
            return None
        digest = hashlib.sha256(anchor.split("#")[0].encode("utf-8")).hexdigest()[:12]
        return f"{post_url.split('#')[0]}#media-{digest}", post_url.split("#")[0]
    return None


def _title(item: MediaItem, post_title: str, number: int, total: int) -> str:
    """The recording's own title, else "Video in: <post>" ("Video 2 in: ..." among several untitled ones)."""
    if item.title:
        return item.title
    noun = "Video" if item.kind == "video" else "Recording"
    label = f"{noun} {number}" if total > 1 else noun
    return f"{label} in: {post_title}" if post_title else label


def _hash(canonical: str, title: str, description: str, transcript: str) -> str:
    """The child's content hash; its canonical URL is part of it so two untitled embeds never look alike."""
    normalised = "\n".join(" ".join(part.split()) for part in (canonical, title, description, transcript))
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def _passages(description: str, title: str, drafts: Sequence[PassageDraft]) -> list[PassageInput]:
    passages = [PassageInput(description, (title,), 0)] if description else []
    offset = len(passages)
    passages += [PassageInput(d.text, tuple(d.heading_path) or (TRANSCRIPT_HEADING,), offset + i, d.start_seconds,
                              d.end_seconds) for i, d in enumerate(drafts)]
    return passages


def embedded_recordings(
    media: PageMedia,
    page: ExtractedPage,
    post_url: str,
    *,
    fetcher: Callable[[dict[str, Any]], Fetch],
    locations: Sequence[str] = (),
    max_words: int,
    overlap_words: int,
) -> list[EmbeddedRecording]:
    """A record per recording the post at ``post_url`` embeds (not its own subject), in page order.

    ``fetcher(remember)`` gives the function that gets caption files for one recording (the crawl's
    caption getter), which puts the state of each file it fetched in ``remember``: it becomes that
    recording's ``caption_state``. ``locations`` are the site's transcript templates (only ``{id}`` ones
    apply to an embed). A transcript that fails leaves the recording with its title and description,
    never the post without it.
    """
    items = [i for i in media.items if i.embedded_in_post and not i.only_linked and i.platform in CHILD_PLATFORMS]
    keyed = [(item, key) for item in items if (key := child_key(item, post_url)) is not None and key[0] != post_url]
    found: list[EmbeddedRecording] = []
    untitled = [item for item, _ in keyed if not item.title]
    for item, (canonical, media_url) in keyed:
        title = _title(item, page.title, untitled.index(item) + 1 if item in untitled else 0, len(untitled))
        description = " ".join((item.description or "").split())
        extra: list[CaptionTrack] = location_tracks(locations, post_url, item, own_page=False)
        remember: dict[str, Any] = {}
        try:
            transcript = transcribe(source_for(item, extra_tracks=extra), fetcher(remember), other_text="",
                                    max_words=max_words, overlap_words=overlap_words)
        except Exception as exc:  # a transcript bug costs the transcript, never the recording or the post
            transcript, failure = None, f"transcript not indexed: {type(exc).__name__}: {exc}"
        else:
            failure = None
        drafts = transcript.passages if transcript is not None else []
        record = PageRecord(
            canonical_url=canonical,
            content_hash=_hash(canonical, title, description, transcript.text if transcript else ""),
            passages=_passages(description, title, drafts),
            kind="video" if item.kind == "video" else "podcast",
            title=title,
            published_at=item.upload_date,
            description=description or None,
            language=page.language,
        )
        note = failure or (transcript.note if transcript is not None else "no transcript")
        found.append(EmbeddedRecording(ChildRecord(record, media_url, item.platform, remember), note))
    return found
