"""Which kind of content a page is: blog post, case study, podcast, video or plain page.

Why a module of its own: the kind is a classification rule set (configured URL regexes, JSON-LD
``@type``, ``og:type``, default URL patterns) that is tuned per site and tested on its own, while
:mod:`ingest.extract` is about getting clean main text out of HTML. ``ingest.extract`` calls
:func:`detect_kind` and re-exports it with :data:`KINDS`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from ingest import metadata as md

log = logging.getLogger(__name__)

KINDS = ("blog", "case_study", "podcast", "video", "page")

# Checked on the URL *path*, most specific first (a podcast under /blog/ is a podcast).
DEFAULT_KIND_PATTERNS: dict[str, tuple[str, ...]] = {
    "case_study": (r"/case-stud", r"/customers?(?:/|$)"),
    "podcast": (r"/podcasts?(?:/|$)",),
    "video": (r"/videos?(?:/|$)",),
    "blog": (r"/blog(?:/|$)",),
}
_JSONLD_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("video", frozenset({"VideoObject"})),
    ("podcast", frozenset({"PodcastEpisode", "PodcastSeries"})),
    ("blog", frozenset({"BlogPosting", "Article", "NewsArticle"})),
)


def detect_kind(
    url: str,
    jsonld_types: Sequence[str],
    og_type: str | None,
    kind_patterns: Mapping[str, Sequence[str]] | None,
) -> str:
    """Content kind: configured URL regexes, then JSON-LD @type, then og:type, then URL defaults.

    Configured patterns are searched (case-insensitively) in the full URL, so they can match a
    host too; default patterns only look at the path. Invalid patterns or unknown kinds are
    skipped with a warning rather than failing every page of a crawl.
    """
    for kind, patterns in (kind_patterns or {}).items():
        if kind not in KINDS:
            log.warning("kind_patterns: unknown kind %r ignored", kind)
            continue
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            compiled = _compile_pattern(pattern)
            if compiled is not None and compiled.search(url):
                return kind
    types = {md.local_type(t) for t in jsonld_types}
    for kind, wanted in _JSONLD_KINDS:
        if types & wanted:
            return kind
    if (og_type or "").strip().lower().startswith("video"):
        return "video"
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    for kind, patterns in DEFAULT_KIND_PATTERNS.items():
        if any(re.search(p, path, re.IGNORECASE) for p in patterns):
            return kind
    return "page"


@functools.lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a configured kind pattern once; an invalid one is reported once and ignored."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        log.warning("kind_patterns: invalid regex %r ignored", pattern)
        return None
