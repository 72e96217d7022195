"""What video and audio a crawled page holds, and whether the page is *about* one recording.

The entry point for the crawler: :func:`find_media` reads one fetched page (no network) and returns a
:class:`~ingest.media_items.PageMedia` -- every recording seen (HTML5 players with their caption
tracks, YouTube/Vimeo/Wistia/Loom iframes and links, JSON-LD ``VideoObject``/``AudioObject``/
``PodcastEpisode``, ``og:video``), merged so that one recording seen in an iframe, a link and JSON-LD
is one item, plus the transcript written in the body (:func:`find_transcript_turns`). Google video
sitemap entries become items with :func:`media_from_sitemap` and can be merged in through ``known``.

Why the readers are split: markup (``ingest.media_embeds``), JSON-LD (``ingest.media_jsonld``) and
body transcripts (``ingest.media_turns``) fail in different ways; this module only parses, merges and
decides which recording, if any, the page is about. Bad input never raises: it is counted in
``PageMedia.dropped``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from lxml import etree
from lxml import html as lxml_html

from ingest import metadata as md
from ingest.links import safe_urljoin
from ingest.media_embeds import scan_markup
from ingest.media_items import CaptionTrack, Clip, MediaItem, PageMedia, Turn
from ingest.media_jsonld import JsonLdMedia, iso_duration, read_jsonld_media
from ingest.media_turns import turns_from_tree
from ingest.sitemaps import SitemapEntry
from kb.timed_links import media_ref

__all__ = [
    "CaptionTrack", "Clip", "MediaItem", "PageMedia", "Turn",
    "find_media", "find_transcript_turns", "media_from_sitemap", "parse_page",
]

_SUBJECT_KINDS = {"video", "podcast"}


def parse_page(html: str | bytes) -> lxml_html.HtmlElement | None:
    """An lxml document for ``html``, or None when there is nothing to parse.

    Bytes are read as UTF-8 when they decode as such, otherwise lxml follows the page's ``<meta charset>``.
    """
    if isinstance(html, bytes):
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-8: lxml follows the page's <meta charset>
            html = html.decode("utf-8")
    if isinstance(html, str):
        html = re.sub(r"^\s*<\?xml[^>]*>", "", html.lstrip("\ufeff"))  # lxml refuses str with an encoding decl
    if not html or not html.strip():
        return None
    try:
        return lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def find_transcript_turns(html: str | bytes, page_url: str) -> list[Turn]:
    """Speaker turns of a transcript written in the page body; [] unless the page reads as one.

    ``page_url`` is accepted for symmetry with :func:`find_media` (turn text holds no URLs to resolve).
    """
    tree = parse_page(html)
    if tree is None:
        return []
    try:
        return turns_from_tree(tree)
    except RecursionError:
        return []


def find_media(
    html: str | bytes, page_url: str, *, page_kind: str | None = None, known: Iterable[MediaItem] = ()
) -> PageMedia:
    """Every recording on the page fetched from ``page_url``, merged, with the page's subject marked.

    ``page_kind`` (``ingest.kinds.detect_kind``'s answer, if the caller has it) lets a "video" or
    "podcast" page with a single recording claim it. ``known`` are items found elsewhere for this page
    (``media_from_sitemap``); they are merged like any other sighting.
    """
    result = PageMedia(page_url=page_url)
    tree = parse_page(html)
    if tree is None:
        result.dropped["unparseable or empty HTML"] += 1
        return result
    try:
        head = md.read_head(tree, page_url)
        sightings = scan_markup(tree, head, page_url, result.dropped)
        jsonld = read_jsonld_media(tree, page_url, head.base_url, result.dropped)
        result.turns = turns_from_tree(tree, result.dropped)
    except RecursionError:
        result.dropped["page nested too deeply"] += 1
        return result
    merged_into: dict[int, MediaItem] = {}
    result.items = _merge([*sightings, *jsonld.items, *known], merged_into)
    subject = _subject(result, jsonld, head, tree, page_kind, merged_into)
    if subject is not None:
        subject.embedded_in_post = False
        if not subject.title:
            nodes = list(md.jsonld_nodes(md.parse_jsonld(tree)))
            subject.title = md.page_title(head, nodes, page_url) or None
    return result


def _keys(item: MediaItem) -> list[str]:
    """Every identity of a sighting: platform id and media file URL (an anchor when it has neither)."""
    keys = [f"{item.platform}:{item.platform_id}"] if item.platform_id else []
    if item.content_url:
        keys.append("url:" + item.content_url.split("#")[0])
    return keys or [item.key]


def _merge(sightings: list[MediaItem], merged_into: dict[int, MediaItem]) -> list[MediaItem]:
    """One item per recording, in order of first sighting; ``merged_into`` maps id(sighting) -> item."""
    items: list[MediaItem] = []
    by_key: dict[str, MediaItem] = {}
    for sighting in sightings:
        keys = _keys(sighting)
        target = next((by_key[k] for k in keys if k in by_key), None)
        if target is None:
            target = sighting
            items.append(sighting)
        else:
            target.merge(sighting)
        for key in [*keys, *_keys(target)]:
            by_key.setdefault(key, target)
        merged_into[id(sighting)] = target
    # Sightings with no URL at all (a JSON-LD node without embedUrl/contentUrl, a bare <video> with only
    # tracks) describe the page's one other recording of their kind, if there is exactly one.
    for orphan in [i for i in items if _keys(i)[0].startswith("anchor:")]:
        partners = [i for i in items if i is not orphan and i.kind == orphan.kind and not i.only_linked]
        if len(partners) == 1:
            partners[0].merge(orphan)
            items.remove(orphan)
            for sighting_id, target in merged_into.items():
                if target is orphan:
                    merged_into[sighting_id] = partners[0]
    return items


def _subject(
    page: PageMedia,
    jsonld: JsonLdMedia,
    head: md.HeadMeta,
    tree: lxml_html.HtmlElement,
    page_kind: str | None,
    merged_into: dict[int, MediaItem],
) -> MediaItem | None:
    """The recording the page is about: a video/episode page's one recording, never a post's embed.

    In order: the page's JSON-LD main entity is a recording (and no Article sits beside it); og:type
    video.*; on a video/podcast page or one with a body transcript, its single played recording, or of
    several (an episode's audio and its YouTube version) the one in the page's own player; on a page
    that is not an article, a single played recording named like the page. Everything else -- a blog
    post's iframe, a link, a JSON-LD VideoObject next to an Article -- is embedded.
    """
    played = [item for item in page.items if not item.only_linked]
    og_type = (head.first("og:type") or "").lower()
    if jsonld.main is not None and not jsonld.has_article:
        return merged_into.get(id(jsonld.main))
    if og_type.startswith("video"):
        from_og = [item for item in played if "og" in item.found_in]
        videos = [item for item in played if item.kind == "video"]
        return from_og[0] if from_og else videos[0] if len(videos) == 1 else None
    if page_kind in _SUBJECT_KINDS or page.turns:
        own = [item for item in played if item.platform == "html5"]
        return played[0] if len(played) == 1 else own[0] if len(own) == 1 else None
    if len(played) != 1 or jsonld.has_article or og_type == "article":
        return None
    title = head.first("og:title") or head.h1 or head.title_tag
    return played[0] if played[0].title and title and md.same_title(played[0].title, title) else None


def media_from_sitemap(entry: SitemapEntry) -> list[MediaItem]:
    """Items from the ``<video:video>`` children of one Google video sitemap ``<url>`` entry.

    ``player_loc``/``content_loc`` are resolved against the entry's page; a hosted player becomes that
    platform's item, anything else an "other" item watched on the page itself.
    """
    items = []
    for video in entry.videos:
        player = safe_urljoin(entry.loc, video.get("player_loc"))
        content = safe_urljoin(entry.loc, video.get("content_loc"))
        ref = media_ref(player or "") or media_ref(content or "")
        if ref is not None:
            item = MediaItem.from_ref(ref, "sitemap")
            item.content_url = content if content and media_ref(content) is None else None
        else:
            item = MediaItem(kind="video", platform="other", watch_url=entry.loc, embed_url=player,
                             content_url=content, found_in=["sitemap"])
            if content is None:
                item.anchor = f"sitemap:{entry.loc}:{video.get('title', '')}"
        item.title = md.clean_space(video.get("title")) or None
        item.description = md.clean_space(video.get("description")) or None
        item.thumbnail_url = safe_urljoin(entry.loc, video.get("thumbnail_loc"))
        item.duration_seconds = iso_duration(video.get("duration")) if video.get("duration") else None
        item.upload_date = md.parse_date(video.get("publication_date"))
        items.append(item)
    return items
