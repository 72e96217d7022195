"""Links that land on a second of a recording, and which hosted player a media URL belongs to.

Why a module of its own: "send the rep to 14:05 of this video" is one rule per player (YouTube wants
``&t=93s``, Vimeo ``#t=93s``, Wistia ``?wtime=93s``, Loom ``?t=93``, an HTML5 page ``#t=93``), and every
place that shows a search hit, an answer or a notification needs the same rule. Recognising the
platform and video id of a URL (:func:`media_ref`) lives here too because a timed link cannot be built
without it; the crawler (``ingest.media_embeds``) reuses it to find embeds, so ``kb`` stays the one
owner of the URL forms (``ingest`` may import ``kb``, never the reverse).

Pure functions on strings, no I/O; a URL that is not http(s) or not understood is returned unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["HOSTED", "PLATFORMS", "MediaRef", "content_moment_link", "format_moment", "media_ref", "moment_link",
           "timed_link"]

PLATFORMS = ("youtube", "vimeo", "wistia", "loom", "html5", "other")
HOSTED = ("youtube", "vimeo", "wistia", "loom")

_YT_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YT_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_YT_PATH = re.compile(r"/(?:embed|shorts|live|v|e)/([A-Za-z0-9_-]{11})(?:[/?#]|$)")
_VIMEO_PLAYER = re.compile(r"/video/(\d+)(?:/|$)")
# vimeo.com/123, vimeo.com/123/abcdef0123 (unlisted hash), /channels/x/123, /groups/x/videos/123,
# /showcase/x/video/123, /album/x/video/123
_VIMEO_PAGE = re.compile(
    r"^/(?:channels/[^/]+/|groups/[^/]+/videos/|(?:showcase|album)/[^/]+/video/)?(\d+)(?:/([0-9a-f]{6,}))?/?$"
)
_WISTIA_PATH = re.compile(r"/(?:embed/iframe|embed/medias|medias)/([A-Za-z0-9]{6,})(?:\.jsonp?)?(?:/|$)")
_LOOM_PATH = re.compile(r"^/(share|embed)/(?:[^/]*?-)?([0-9a-f]{32}|[A-Za-z0-9]{10,})/?$")
# Dropped from YouTube links: the id and old times (re-added), and player-only parameters of embed URLs
# that are meaningless (or annoying: autoplay) on a watch page.
_YT_DROP = {
    "v", "t", "start", "time_continue",
    "autoplay", "cc_lang_pref", "cc_load_policy", "color", "controls", "disablekb", "enablejsapi", "end", "fs",
    "hl", "iv_load_policy", "loop", "modestbranding", "mute", "origin", "playlist", "playsinline", "rel",
    "showinfo", "widget_referrer", "feature",
}


@dataclass(frozen=True)
class MediaRef:
    """A recording on a hosting platform: which one, its id, where to watch it and its player URL."""

    platform: str  # "youtube" | "vimeo" | "wistia" | "loom"
    media_id: str
    watch_url: str  # the canonical page a person opens (no time)
    embed_url: str  # the player URL an iframe would load


def _parts(url: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, host without www., path, query, fragment) of an http(s) URL, else None."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if url.startswith("//"):  # protocol-relative, as embed codes often are
        url = "https:" + url
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return parts.scheme.lower(), host.removeprefix("www."), parts.path, parts.query, parts.fragment


def media_ref(url: str) -> MediaRef | None:
    """The hosted recording a URL points at (watch page, short link, embed or share form), else None.

    Channel, playlist-only and profile URLs are not recordings and give None.
    """
    parsed = _parts(url)
    if parsed is None:
        return None
    _, host, path, query, _ = parsed
    path = path.replace("\\_", "_")  # Markdown-escaped ids ("YJjv\_OeiHmo") seen in real posts
    if host in _YT_HOSTS or host == "youtu.be":
        return _youtube(host, path, query)
    if host == "vimeo.com" or host == "player.vimeo.com":
        return _vimeo(host, path, query)
    if host.endswith(("wistia.net", "wistia.com", ".wi.st")) or host == "wi.st":
        match = _WISTIA_PATH.search(path)
        if match:
            media_id = match.group(1)
            embed = f"https://fast.wistia.net/embed/iframe/{media_id}"
            # An account page (acme.wistia.com/medias/ID) is a real watch page; otherwise the player is.
            account_page = path.startswith("/medias/")
            watch = f"https://{host}/medias/{media_id}" if account_page else embed
            return MediaRef("wistia", media_id, watch, embed)
        return None
    if host == "loom.com":
        match = _LOOM_PATH.match(path)
        if match:
            media_id = match.group(2)
            return MediaRef("loom", media_id, f"https://www.loom.com/share/{media_id}",
                            f"https://www.loom.com/embed/{media_id}")
    return None


def _youtube(host: str, path: str, query: str) -> MediaRef | None:
    video_id = None
    if host == "youtu.be":
        segment = path.strip("/").split("/")[0]
        video_id = segment if _YT_ID.fullmatch(segment) else None
    elif path.rstrip("/") == "/watch":
        value = dict(parse_qsl(query)).get("v", "")
        video_id = value if _YT_ID.fullmatch(value) else None
    elif match := _YT_PATH.match(path):
        video_id = match.group(1)
    if video_id is None:
        return None
    return MediaRef("youtube", video_id, f"https://www.youtube.com/watch?v={video_id}",
                    f"https://www.youtube-nocookie.com/embed/{video_id}")


def _vimeo(host: str, path: str, query: str) -> MediaRef | None:
    if host == "player.vimeo.com":
        match = _VIMEO_PLAYER.match(path)
        video_id, secret = (match.group(1), dict(parse_qsl(query)).get("h")) if match else (None, None)
    else:
        match = _VIMEO_PAGE.match(path)
        video_id, secret = (match.group(1), match.group(2)) if match else (None, None)
    if video_id is None:
        return None
    # Unlisted videos need their hash in both forms (vimeo.com/ID/HASH, player ...?h=HASH).
    if secret and re.fullmatch(r"[0-9a-f]{6,}", secret):
        return MediaRef("vimeo", video_id, f"https://vimeo.com/{video_id}/{secret}",
                        f"https://player.vimeo.com/video/{video_id}?h={secret}")
    return MediaRef("vimeo", video_id, f"https://vimeo.com/{video_id}", f"https://player.vimeo.com/video/{video_id}")


def _whole_seconds(seconds: float | None) -> int:
    """Seconds floored to an int; None, NaN, infinities and negatives give 0 (= no time)."""
    if seconds is None or isinstance(seconds, bool):
        return 0
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(value) or value <= 0:
        return 0
    return int(math.floor(value))


def format_moment(seconds: float | None) -> str:
    """845 -> '14:05', 3725 -> '1:02:05' (floored; None and negatives -> '0:00')."""
    total = _whole_seconds(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def timed_link(url: str, seconds: float | None, *, platform: str | None = None) -> str:
    """``url`` opened at ``seconds`` (floored), in the form its player understands.

    ``platform`` (one of :data:`PLATFORMS`) overrides detection from the URL: pass "html5" for a page
    with its own ``<video>`` player even when the URL happens to look like something else. Unknown
    platforms and own pages get a media fragment ``#t=93`` replacing any fragment. No time (None, 0,
    negative) or a non-http(s) URL returns ``url`` unchanged.
    """
    whole = _whole_seconds(seconds)
    if whole == 0 or _parts(url) is None:
        return url
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    ref = media_ref(url) if platform in (None, "youtube", "vimeo", "loom") else None
    chosen = platform or (ref.platform if ref else "html5")
    if chosen == "youtube" and ref is not None and ref.platform == "youtube":
        # Any form becomes the watch page; list/index/si survive, player-only and old time parameters go.
        kept = [(k, v) for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k not in _YT_DROP]
        return f"https://www.youtube.com/watch?{urlencode([('v', ref.media_id), *kept, ('t', f'{whole}s')])}"
    if chosen == "vimeo" and ref is not None and ref.platform == "vimeo":
        return f"{ref.watch_url}#t={whole}s"
    if chosen == "loom" and ref is not None and ref.platform == "loom":
        return f"{ref.watch_url}?t={whole}"
    if chosen == "wistia":
        # Wistia reads ?wtime= on its own media pages and on any page that embeds its player.
        parts = urlsplit(url)
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "wtime"]
        return urlunsplit(parts._replace(query=urlencode([*kept, ("wtime", f"{whole}s")])))
    return urlunsplit(urlsplit(url)._replace(fragment=f"t={whole}"))


def moment_link(url: str, seconds: float | None, *, media_url: str | None = None,
                media_platform: str | None = None) -> str:
    """The link to ``seconds`` of a stored content item: on its hosting platform when it has one.

    ``url`` is the item's canonical URL; ``media_url``/``media_platform`` are ``Content.media_url`` and
    ``Content.media_platform`` (kb.media_content): a video page whose player is YouTube/Vimeo/Wistia/Loom
    sends the reader to that moment on the platform's own page; anything else (an HTML5 player, text)
    gets the page itself. Without a time the page is the link either way.
    """
    if media_url and media_platform in HOSTED and _whole_seconds(seconds) > 0:
        return timed_link(media_url, seconds, platform=media_platform)
    return timed_link(url, seconds)


class StoredMedia(Protocol):
    """What :func:`content_moment_link` reads of a ``kb.models.Content`` (kept structural: no model import)."""

    canonical_url: str
    media_url: str | None
    media_platform: str | None


def content_moment_link(content: StoredMedia, seconds: float | None) -> str:
    """:func:`moment_link` for a stored content item."""
    return moment_link(content.canonical_url, seconds, media_url=content.media_url,
                       media_platform=content.media_platform)
