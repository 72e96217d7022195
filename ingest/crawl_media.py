"""The crawl's media step: a fetched page's recordings become transcripts, players and embedded content.

Why a module of its own (split out of :mod:`ingest.crawler`, which keeps the frontier and the page
outcomes): everything a page's video or audio needs happens here, once per page --

- :meth:`MediaStep.read` (before the page is stored): :func:`ingest.media.find_media` reads the page
  once; the recording the page is about adds its timed passages to the page's record
  (:func:`ingest.transcripts.add_transcript`, with the site's transcript locations); each recording the
  page only embeds becomes a record of its own (:func:`ingest.embedded_media.embedded_recordings`).
  Caption and chapter files go through the crawl's :class:`ingest.crawl_captions.CaptionGetter`
  (same fetcher, hosts, robots.txt and delay; a crawl-report row for every fetch).
- :meth:`MediaStep.save` (in the page's transaction): the page's player (where timed links land), its
  caption state for the next crawl, and its embedded recordings (:func:`kb.media_content.store_children`,
  which also retires the ones the page dropped).
- :meth:`MediaStep.refresh_needed` (the page answered 304): ask its caption files conditionally; only
  a changed file, or one that failed last time and works now, makes the crawler read the page again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ingest.crawl_captions import CaptionGetter, LogRow
from ingest.embedded_media import EmbeddedRecording, embedded_recordings
from ingest.fetch import Fetcher
from ingest.media import find_media
from ingest.pipeline import ProcessedPage
from ingest.transcript_locations import location_tracks
from ingest.transcripts import add_transcript
from ingest.urls import UrlError, canonicalize
from kb import content as content_store
from kb.media_content import caption_states, children_of, retire_children, set_player, store_children
from kb.models import Content

__all__ = ["HOSTED_PLATFORMS", "MediaStep", "PageMediaResult"]

HOSTED_PLATFORMS = ("youtube", "vimeo", "wistia", "loom")


@dataclass
class PageMediaResult:
    """What :meth:`MediaStep.read` found on one page, waiting for the page to be stored."""

    note: str | None = None  # for the page's crawl-report line
    media_url: str | None = None  # the page's own recording on a hosting platform: timed links go there
    platform: str | None = None
    captions: dict[str, dict[str, Any]] = field(default_factory=dict)  # caption URL -> state to remember
    embedded: list[EmbeddedRecording] = field(default_factory=list)


@dataclass
class ChildOutcome:
    """An embedded recording after the post was stored: for its crawl-report line."""

    url: str
    outcome: str
    content_id: int
    note: str
    reason: str | None = None  # why a retired one was retired: no_longer_embedded / parent_gone


class MediaStep:
    """The media step of one site's crawl (see module docstring)."""

    def __init__(self, kb: Any, fetcher: Fetcher, *, hosts: list[str], transcripts: list[str],
                 allowed: Callable[[str], str | None], wait: Callable[[], None], log: LogRow) -> None:
        self.kb = kb
        self.hosts = hosts
        self.transcripts = list(transcripts or [])
        self._allowed = allowed
        self.captions = CaptionGetter(fetcher, refuse=self.refuse, wait=wait, log=log)

    def refuse(self, url: str) -> str | None:
        """Why the crawl may not fetch this caption URL (another host, robots.txt), or None."""
        try:
            key = canonicalize(url)
        except UrlError as exc:
            return getattr(exc, "reason", "invalid_url")
        if urlsplit(key).netloc not in self.hosts:
            return "off_site"
        return self._allowed(key)

    def _previous(self, urls: list[str]) -> dict[str, dict[str, Any]]:
        """Caption states remembered for the page stored under ``urls`` and its embedded recordings."""
        with self.kb.sessions() as session:
            found = content_store.find_content(session, urls)
            if found is None:
                return {}
            ids = [found.id, *(child.id for child in children_of(session, found.id))]
            return caption_states(session, ids)

    def read(self, html: str, page_url: str, processed: ProcessedPage, depth: int) -> PageMediaResult:
        """Transcript passages into ``processed.record``; embedded recordings and states into the result."""
        page, record = processed.page, processed.record
        result = PageMediaResult()
        media = find_media(html, page_url, page_kind=page.kind)
        if not media.items and not media.turns:
            return result
        previous = self._previous([page_url, record.canonical_url])
        chunking = self.kb.settings.chunking

        def fetcher_into(remember: dict[str, dict[str, Any]]) -> Callable[[str], Any]:
            return lambda url: self.captions.get(url, depth + 1, previous.get(url), remember)

        main = media.main
        if main is not None and main.platform in HOSTED_PLATFORMS:
            result.media_url, result.platform = main.watch_url, main.platform
        elif main is not None:
            result.platform = "html5" if main.platform == "html5" else None
        # The site's transcript locations name the page's own recording ({slug}, {path}) or any hosted one ({id}).
        extra = location_tracks(self.transcripts, page_url, main, own_page=True) if main is not None else []
        result.note = add_transcript(media, page, record, fetch=fetcher_into(result.captions),
                                     max_words=chunking.max_words, overlap_words=chunking.overlap_words,
                                     extra_tracks=extra)
        result.embedded = embedded_recordings(media, page, record.canonical_url, fetcher=fetcher_into,
                                              locations=self.transcripts, max_words=chunking.max_words,
                                              overlap_words=chunking.overlap_words)
        return result

    def save(self, session: Session, site_id: int, content: Content,
             result: PageMediaResult | None) -> list[ChildOutcome]:
        """Store what :meth:`read` found with the stored page ``content`` (in the page's transaction)."""
        if result is None:
            return []
        set_player(content, result.media_url, result.platform)
        if result.captions or content.caption_state:
            content.caption_state = dict(result.captions) or None
        stored = store_children(session, site_id, content, [r.child for r in result.embedded])
        notes = {r.child.record.canonical_url: r.note for r in result.embedded}
        dropped = ("the post no longer embeds it", "no_longer_embedded")
        return [ChildOutcome(child.canonical_url, outcome, child.id, *dropped) if outcome == "retired"
                else ChildOutcome(child.canonical_url, outcome, child.id, notes.get(child.canonical_url, ""))
                for outcome, child in stored]

    def refresh_needed(self, content_id: int, depth: int) -> bool:
        """The page answered 304: whether a caption file it (or an embedded recording) uses has news."""
        with self.kb.sessions() as session:
            ids = [content_id, *(child.id for child in children_of(session, content_id, live_only=True))]
            states = caption_states(session, ids)
        return bool(states) and self.captions.changed_since(states, depth + 1)

    def retire_embedded(self, session: Session, parent_id: int) -> list[ChildOutcome]:
        """The post is gone: retire its embedded recordings too."""
        return [ChildOutcome(child.canonical_url, "retired", child.id, "the post embedding it is gone", "parent_gone")
                for child in retire_children(session, parent_id, "parent_gone")]

