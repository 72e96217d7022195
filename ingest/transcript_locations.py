"""Transcripts a site keeps in a known place no page links to: a site setting of URL templates.

Some sites publish caption files at a fixed address (``/transcripts/<slug>.vtt``, a folder named after the
YouTube id) without a ``<track>`` or link on the page. A marketer lists templates in the site's
``transcripts`` setting (config.toml ``[[sites]]`` or the admin site form), for example::

    transcripts = ["https://www.example.com/transcripts/{slug}.vtt", "/captions/{id}.srt"]

Placeholders, filled from the page being crawled and its recording:

- ``{slug}``: the last segment of the page's path (``/videos/sso-setup/`` -> ``sso-setup``);
- ``{path}``: the page's whole path without the slashes around it (``videos/sso-setup``);
- ``{id}``: the recording's platform id (YouTube, Vimeo, Wistia, Loom), for embedded players too.

A template is tried for a recording only when all its placeholders have a value, and it resolves against
the page (so ``/captions/...`` works); the URL then goes through the crawl's caption fetch like any
``<track>`` (same hosts, robots.txt, size cap), and is used when the page's own tracks give nothing.
Pure string work here, no network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from ingest.links import safe_urljoin
from ingest.media_items import CaptionTrack, MediaItem, caption_format
from kb.transcript_locations import PLACEHOLDERS, check_template

__all__ = ["PLACEHOLDERS", "check_template", "location_tracks"]

_FIELD = re.compile(r"\{([^{}]*)\}")


def _values(page_url: str, item: MediaItem | None, *, own_page: bool) -> dict[str, str]:
    """Placeholder values: slug and path only for the page's own recording, id for any hosted one."""
    values: dict[str, str] = {}
    if own_page:
        path = urlsplit(page_url).path.strip("/")
        if path:
            values["path"] = quote(path, safe="/")
            values["slug"] = quote(path.rsplit("/", 1)[-1], safe="")
    if item is not None and item.platform_id:
        values["id"] = quote(item.platform_id, safe="")
    return values


def location_tracks(
    templates: Sequence[str], page_url: str, item: MediaItem | None, *, own_page: bool
) -> list[CaptionTrack]:
    """Caption tracks the site's templates give for ``item`` on ``page_url`` (none when a value is missing).

    ``own_page``: the recording is the page's subject (``{slug}``/``{path}`` name the page); for a
    video embedded in a post only ``{id}`` templates apply.
    """
    values = _values(page_url, item, own_page=own_page)
    tracks: list[CaptionTrack] = []
    for template in templates:
        if check_template(template) is not None:
            continue
        names = _FIELD.findall(template)
        if any(name not in values for name in names):
            continue
        url = safe_urljoin(page_url, _FIELD.sub(lambda m: values[m.group(1)], template))
        if url is not None and all(t.url != url for t in tracks):
            tracks.append(CaptionTrack(url=url, kind="captions", label="transcript location",
                                       format=caption_format(url)))
    return tracks
