"""Recordings described in JSON-LD: ``VideoObject``, ``AudioObject`` and ``PodcastEpisode`` nodes.

Why a module of its own: ``ingest.metadata`` reads JSON-LD for the *page* (its main entity, dates,
authors) and deliberately ignores nested nodes; recordings are very often nested (an Article's
``video``, an ``@graph`` member, an ``@id`` reference, a list), so this reader walks the whole
structure. It reuses metadata's block parsing (``parse_jsonld``, run per ``<script>`` so a broken
block can be counted), ``@id`` index, text and date readers rather than duplicating them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import html as lxml_html

from ingest import metadata as md
from ingest.links import safe_urljoin
from ingest.media_items import CaptionTrack, Clip, MediaItem, caption_format
from kb.timed_links import media_ref

__all__ = ["JsonLdMedia", "iso_duration", "read_jsonld_media"]

_MEDIA_TYPES = {"VideoObject": "video", "AudioObject": "audio", "PodcastEpisode": "audio", "RadioEpisode": "audio"}
_ARTICLE_TYPES = {"Article", "BlogPosting", "NewsArticle", "TechArticle", "Report", "SocialMediaPosting"}
_MAX_DEPTH = 20
_MAX_DURATION = 31 * 24 * 3600  # a month: longer "durations" are typos or junk
_ISO_DURATION = re.compile(
    r"P(?:(?P<w>\d+(?:[.,]\d+)?)W)?(?:(?P<d>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"(?:(\d+):)?([0-5]?\d):([0-5]\d(?:\.\d+)?)")


@dataclass
class JsonLdMedia:
    """The recordings of a page's JSON-LD, and what its top-level entity says about the page."""

    items: list[MediaItem]
    main: MediaItem | None  # the item built from the page's main entity, if that entity is a recording
    has_article: bool  # a top-level Article-like entity: the page is a post, recordings in it are embeds


def iso_duration(value: object) -> float | None:
    """'PT1H2M3S' -> 3723.0; also 'P0DT4M', a bare number of seconds and '1:02:03'; junk -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = md.jsonld_text(value) or ""
        match = _ISO_DURATION.fullmatch(text)
        clock = _CLOCK.fullmatch(text)
        if match and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
            parts = {k: float((v or "0").replace(",", ".")) for k, v in match.groupdict().items()}
            seconds = (parts["w"] * 7 + parts["d"]) * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
        elif clock:
            seconds = int(clock.group(1) or 0) * 3600 + int(clock.group(2)) * 60 + float(clock.group(3))
        else:
            try:
                seconds = float(text)
            except ValueError:
                return None
    return seconds if 0 <= seconds <= _MAX_DURATION else None


def read_jsonld_media(tree: lxml_html.HtmlElement, page_url: str, base: str, dropped: Counter[str]) -> JsonLdMedia:
    """Every recording node in the page's JSON-LD blocks (malformed blocks are counted, not fatal)."""
    objects: list[dict] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").split(";")[0].strip().lower() != "application/ld+json":
            continue
        parsed = md.parse_jsonld(script)  # iter() includes the element itself: just this block
        if not parsed and (script.text or "").strip():
            dropped["JSON-LD block unreadable or without objects"] += 1
        objects.extend(parsed)
    ids = md.id_index(_all_nodes(objects, 0))
    built: dict[int, MediaItem] = {}
    for node in _media_nodes(objects, ids, set(), 0):
        built[id(node)] = _item(node, ids, page_url, base)
    top = list(md.jsonld_nodes(objects))
    entity = md.main_entity(top)
    main = built.get(id(ids.get(entity.get("@id"), entity))) if entity is not None else None
    has_article = any(_ARTICLE_TYPES & {md.local_type(t) for t in md.node_types(n)} for n in top)
    return JsonLdMedia(list(built.values()), main, has_article)


def _all_nodes(value: object, depth: int) -> Iterator[dict]:
    """Every dict anywhere in the JSON-LD (for the ``@id`` index)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            yield from _all_nodes(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _all_nodes(child, depth + 1)


def _media_type(node: dict) -> str | None:
    return next((_MEDIA_TYPES[t] for t in map(md.local_type, md.node_types(node)) if t in _MEDIA_TYPES), None)


def _media_nodes(value: object, ids: dict[str, dict], seen: set[int], depth: int) -> Iterator[dict]:
    """Recording nodes in document order; ``@id`` references resolved; a recording's own parts not descended."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            yield from _media_nodes(item, ids, seen, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if "@type" not in value and isinstance(value.get("@id"), str) and value["@id"] in ids:
        value = ids[value["@id"]]
    if id(value) in seen:
        return
    seen.add(id(value))
    if _media_type(value):
        yield value
        return
    for child in value.values():
        yield from _media_nodes(child, ids, seen, depth + 1)


def _first_url(value: object, base: str) -> str | None:
    """An http(s) URL from a string, an ``{"url"|"contentUrl"|"@id": ...}`` object or a list of them."""
    if isinstance(value, list):
        return next((u for u in (_first_url(v, base) for v in value) if u), None)
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl") or value.get("@id")
    return safe_urljoin(base, value) if isinstance(value, str) else None


def _text_block(value: object) -> str | None:
    """A transcript: markup-free text that keeps its line breaks (speaker lines matter)."""
    if isinstance(value, dict):
        value = value.get("text") or value.get("@value")
    if isinstance(value, list):
        value = "\n".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return None
    lines = (md.clean_space(line) for line in md.MARKUP_RE.sub(" ", value).splitlines())
    return "\n".join(line for line in lines if line) or None


def _item(node: dict, ids: dict[str, dict], page_url: str, base: str) -> MediaItem:
    """A MediaItem from one recording node (a PodcastEpisode borrows URLs from its associatedMedia)."""
    kind = _media_type(node) or "video"
    parts = [node]
    for name in ("associatedMedia", "audio", "video", "encoding"):
        child = node.get(name)
        for sub in child if isinstance(child, list) else [child]:
            if isinstance(sub, dict):
                if "@type" not in sub and isinstance(sub.get("@id"), str):
                    sub = ids.get(sub["@id"], sub)
                parts.append(sub)
                kind = "video" if _media_type(sub) == "video" else kind

    def pick(name: str) -> object:
        return next((p[name] for p in parts if p.get(name) not in (None, "", [])), None)

    embed_url, content_url = _first_url(pick("embedUrl"), base), _first_url(pick("contentUrl"), base)
    page_link = _first_url(node.get("url"), base)
    ref = next((r for r in map(media_ref, filter(None, (embed_url, content_url, page_link))) if r), None)
    if ref is not None:
        item = MediaItem.from_ref(ref, "jsonld")
        item.kind = kind if kind == "video" else item.kind
        item.content_url = content_url if content_url and media_ref(content_url) is None else None
    else:
        item = MediaItem(kind=kind, platform="other", watch_url=page_link or page_url, embed_url=embed_url,
                         content_url=content_url, found_in=["jsonld"])
        if content_url is None:
            item.anchor = "jsonld:" + str(node.get("@id") or md.jsonld_text(node.get("name")) or id(node))
    item.title = md.jsonld_text(node.get("name")) or md.jsonld_text(node.get("headline"))
    item.description = md.jsonld_text(node.get("description"))
    item.duration_seconds = iso_duration(pick("duration"))
    item.upload_date = md.parse_date(node.get("uploadDate")) or md.parse_date(node.get("datePublished"))
    item.thumbnail_url = _first_url(pick("thumbnailUrl"), base) or _first_url(node.get("image"), base)
    item.transcript = _text_block(pick("transcript"))
    item.captions = _captions(pick("caption"), base)
    item.clips = _clips(node.get("hasPart"), base)
    return item


def _captions(value: object, base: str) -> list[CaptionTrack]:
    """``caption`` as MediaObject(s) with contentUrl, or a URL string; caption *text* is not a track."""
    tracks: list[CaptionTrack] = []
    for entry in value if isinstance(value, list) else [value]:
        url = _first_url(entry, base) if isinstance(entry, dict | str) else None
        if url is None or (isinstance(entry, str) and not caption_format(url)):
            continue
        mime = md.jsonld_text(entry.get("encodingFormat")) if isinstance(entry, dict) else None
        language = md.jsonld_text(entry.get("inLanguage")) if isinstance(entry, dict) else None
        if all(t.url != url for t in tracks):
            tracks.append(CaptionTrack(url=url, language=language, format=caption_format(url, mime)))
    return tracks


def _clips(value: object, base: str) -> list[Clip]:
    """``hasPart`` Clips (name + startOffset) in start order; parts that are not clips are ignored."""
    clips = []
    for part in value if isinstance(value, list) else [value]:
        if not isinstance(part, dict):
            continue
        types = {md.local_type(t) for t in md.node_types(part)}
        if types and not types & {"Clip", "VideoObject", "AudioObject"}:
            continue
        name, start = md.jsonld_text(part.get("name")), iso_duration(part.get("startOffset"))
        if name and start is not None:
            clips.append(Clip(name, start, iso_duration(part.get("endOffset")), _first_url(part.get("url"), base)))
    return sorted(clips, key=lambda clip: clip.start_seconds or 0.0)
