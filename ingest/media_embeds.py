"""Recordings in a page's markup: ``<video>``/``<audio>`` players, platform iframes, links and ``og:video``.

Why a module of its own: the markup readers share one concern -- turning untrusted ``src``/``href``
values into absolute http(s) URLs (``ingest.links.safe_urljoin``: ``javascript:``, ``data:``, ``blob:``
are dropped) and recognising hosted players (``kb.timed_links.media_ref``) -- and none of them needs
JSON-LD. Each sighting is a :class:`~ingest.media_items.MediaItem`; merging them is the caller's job.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml import html as lxml_html

from ingest.links import safe_urljoin
from ingest.media_items import CaptionTrack, MediaItem, caption_format
from ingest.metadata import HeadMeta, clean_space
from kb.timed_links import MediaRef, media_ref

__all__ = ["scan_markup"]

_TRACK_KINDS = {"captions", "subtitles", "chapters"}
_WISTIA_CLASS = re.compile(r"\bwistia_async_([A-Za-z0-9]{6,})\b")
_MEDIA_FILE = re.compile(r"\.(?:mp4|m4v|webm|mov|ogv|m3u8|mpd|mp3|m4a|aac|oga|ogg|opus|wav|flac)$", re.IGNORECASE)
_AUDIO_FILE = re.compile(r"\.(?:mp3|m4a|aac|oga|ogg|opus|wav|flac)$", re.IGNORECASE)
# Iframe titles that name the player rather than the recording.
_GENERIC_TITLE = re.compile(
    r"^(?:(?:youtube|vimeo|wistia|loom)(?: video)?|video|embed(?:ded)?(?: content| video)?|.*\bplayer\b.*)$",
    re.IGNORECASE,
)


def scan_markup(tree: lxml_html.HtmlElement, head: HeadMeta, page_url: str, dropped: Counter[str]) -> list[MediaItem]:
    """Every recording sighting in ``tree``, in document order, then the ``og:video``/``og:audio`` one.

    ``head`` gives the base URL (``<base href>`` honoured) and the Open Graph tags; what was seen but
    unusable (a player without a source, a ``javascript:`` source, a track without ``src``) is counted
    in ``dropped``.
    """
    base = head.base_url or page_url
    items: list[MediaItem] = []
    for index, element in enumerate(tree.iter()):
        tag = element.tag if isinstance(element.tag, str) else ""
        item: MediaItem | None = None
        if tag in ("video", "audio"):
            item = _player(element, index, base, page_url, dropped)
        elif tag in ("iframe", "embed", "object"):
            item = _frame(element, base)
        elif tag == "a" and not _inside_player(element):
            ref = media_ref(safe_urljoin(base, element.get("href")) or "")
            item = MediaItem.from_ref(ref, "link") if ref else None
        elif tag == "wistia-player" and element.get("media-id"):
            item = _ref_item(f"https://fast.wistia.net/embed/iframe/{element.get('media-id')}", "iframe")
        elif tag and (match := _WISTIA_CLASS.search(element.get("class") or "")):
            item = _ref_item(f"https://fast.wistia.net/embed/iframe/{match.group(1)}", "iframe")
        if item is not None:
            items.append(item)
    items.extend(_open_graph(head, base))
    return items


def _ref_item(url: str, found_in: str) -> MediaItem | None:
    ref = media_ref(url)
    return MediaItem.from_ref(ref, found_in) if ref else None


def _inside_player(element: lxml_html.HtmlElement) -> bool:
    """A link in a player's fallback content belongs to the player (read by :func:`_player`)."""
    return any(parent.tag in ("video", "audio") for parent in element.iterancestors())


def _player(
    element: lxml_html.HtmlElement, index: int, base: str, page_url: str, dropped: Counter[str]
) -> MediaItem | None:
    """An HTML5 ``<video>``/``<audio>``: first http(s) source, caption and chapter tracks, poster."""
    kind = "video" if element.tag == "video" else "audio"
    raw_sources = [element.get("src"), element.get("data-src")]
    raw_sources += [s.get("src") or s.get("data-src") for s in element.iter("source")]
    content_url = None
    for raw in raw_sources:
        if not raw or not raw.strip():
            continue
        url = safe_urljoin(base, raw)
        if url is None:
            dropped["media source not an http(s) URL"] += 1
        elif content_url is None:
            content_url = url
    captions, chapters = _tracks(element, base, dropped)
    if content_url is not None:
        item = MediaItem(kind=kind, platform="html5", watch_url=page_url, content_url=content_url,
                         found_in=["element"])
    elif ref := _fallback_ref(element, base):
        # A placeholder player that defers to a hosted one (data-player-url, "watch on YouTube" link):
        # its tracks are that recording's captions.
        item = MediaItem.from_ref(ref, "element")
    elif captions or chapters:
        item = MediaItem(kind=kind, platform="html5", watch_url=page_url, found_in=["element"],
                         anchor=f"element:{index}")
    else:
        dropped[f"<{kind}> without a usable source"] += 1
        return None
    item.captions, item.chapter_tracks = captions, chapters
    item.thumbnail_url = safe_urljoin(base, element.get("poster"))
    item.title = clean_space(element.get("title") or element.get("aria-label")) or _figure_caption(element)
    return item


def _fallback_ref(element: lxml_html.HtmlElement, base: str) -> MediaRef | None:
    """A hosted recording named by a player's attributes (``data-*`` URLs) or its fallback links."""
    for name, value in element.attrib.items():
        if name.startswith("data-") and (ref := media_ref(safe_urljoin(base, value) or "")):
            return ref
    for anchor in element.iter("a"):
        if ref := media_ref(safe_urljoin(base, anchor.get("href")) or ""):
            return ref
    return None


def _tracks(
    element: lxml_html.HtmlElement, base: str, dropped: Counter[str]
) -> tuple[list[CaptionTrack], list[CaptionTrack]]:
    """(caption/subtitle tracks, chapter tracks) of a player; descriptions/metadata tracks are skipped."""
    captions: list[CaptionTrack] = []
    chapters: list[CaptionTrack] = []
    for track in element.iter("track"):
        kind = (track.get("kind") or "subtitles").strip().lower()  # the HTML default kind is subtitles
        if kind not in _TRACK_KINDS:
            dropped[f"<track kind={kind}> is not captions"] += 1
            continue
        url = safe_urljoin(base, track.get("src"))
        if url is None:
            dropped["<track> without an http(s) src"] += 1
            continue
        found = CaptionTrack(
            url=url,
            kind=kind,
            language=clean_space(track.get("srclang")) or None,
            label=clean_space(track.get("label")) or None,
            is_default=track.get("default") is not None,
            format=caption_format(url, track.get("type")),
        )
        target = chapters if kind == "chapters" else captions
        if all(t.url != url for t in target):
            target.append(found)
    return captions, chapters


def _frame(element: lxml_html.HtmlElement, base: str) -> MediaItem | None:
    """A hosted player in an ``<iframe>`` (also lazy ``data-src``), ``<embed>`` or ``<object>``."""
    for name in ("src", "data-src", "data-lazy-src", "data"):
        ref = media_ref(safe_urljoin(base, element.get(name)) or "")
        if ref is not None:
            item = MediaItem.from_ref(ref, "iframe")
            title = clean_space(element.get("title"))
            item.title = title if title and not _GENERIC_TITLE.match(title) else _figure_caption(element)
            return item
    return None


def _figure_caption(element: lxml_html.HtmlElement) -> str | None:
    """The ``<figcaption>`` of the ``<figure>`` around a player: how posts often title an embed."""
    figure = next((parent for parent in element.iterancestors() if parent.tag == "figure"), None)
    caption = next(figure.iter("figcaption"), None) if figure is not None else None
    return clean_space(caption.text_content())[:200] or None if caption is not None else None


def _open_graph(head: HeadMeta, base: str) -> list[MediaItem]:
    """The ``og:video`` / ``og:audio`` of the page: a hosted player or a media file."""
    items = []
    for kind in ("video", "audio"):
        raw = head.first(f"og:{kind}:secure_url", f"og:{kind}:url", f"og:{kind}")
        if kind == "video":
            raw = raw or head.first("twitter:player")
        url = safe_urljoin(base, raw)
        if url is None:
            continue
        if ref := media_ref(url):
            item = MediaItem.from_ref(ref, "og")
        elif _MEDIA_FILE.search(url.split("?")[0]):
            audio = kind == "audio" or bool(_AUDIO_FILE.search(url.split("?")[0]))
            item = MediaItem(kind="audio" if audio else "video", platform="other", content_url=url, found_in=["og"])
        else:
            continue
        item.duration_seconds = _seconds(head.first(f"{kind}:duration", f"og:{kind}:duration"))
        items.append(item)
    return items


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 < seconds < 1e7 else None
