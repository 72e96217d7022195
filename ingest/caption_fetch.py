"""Fetching a page's caption file with the crawler's safe fetcher, and a per-URL reason when it fails.

Why a module of its own: a caption URL comes from an untrusted page, so it gets the same treatment as
a page URL (allowed hosts, robots.txt, the fetcher's deadline, address checks and size cap) and every
way it can go wrong must end as one reason in the crawl report -- ``caption_off_site``,
``caption_robots_disallowed``, ``caption_http_404``, ``caption_too_large``, ``caption_timeout``,
``caption_unsupported_type``, ``caption_unparseable`` -- while the page itself is still stored from its
text. Nothing here raises for bad input.

A re-crawl passes the validators it remembers (``If-None-Match``/``If-Modified-Since``); a 304 answer is
outcome ``not_modified`` with no parse, and a fetched file carries its own validators and a digest of its
bytes so the caller can tell a changed file from the same one served again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingest.captions import DEFAULT_MAX_BYTES, CaptionParse, parse_captions
from ingest.fetch import Fetcher, FetchError

__all__ = ["CAPTION_MAX_BYTES", "CaptionFetch", "accept_caption_type", "fetch_captions"]

CAPTION_MAX_BYTES = DEFAULT_MAX_BYTES  # 5 MB: ~10 hours of dense captions
# Policy failures: the URL was refused, not broken (as for pages, see ingest.crawler._visit).
_SKIP_REASONS = frozenset({"off_site", "robots_disallowed", "unsupported_type", "blocked_address",
                           "blocked_scheme", "invalid_url"})
_REFUSED_TYPES = ("text/html", "application/xhtml+xml", "image/", "audio/", "video/", "application/pdf",
                  "application/zip")


@dataclass
class CaptionFetch:
    """What became of one caption URL: parsed cues, or an outcome and reason for the crawl report."""

    url: str
    parse: CaptionParse | None = None  # None when nothing usable was fetched
    outcome: str = "fetched"  # "fetched" | "not_modified" | "skipped" | "failed"
    reason: str | None = None  # caption_<why> when not fetched or not usable
    detail: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    elapsed: float = 0.0
    etag: str | None = None  # validators of a fetched file, for the next crawl's conditional request
    last_modified: str | None = None
    digest: str | None = None  # sha256 of the bytes fetched: the same file served again is not a change


def accept_caption_type(content_type: str) -> bool:
    """Caption files come as text/vtt, application/x-subrip, text/plain, octet-stream or no type at all.

    An HTML answer is a soft 404 (a "not found" page with status 200); media and archives are not text.
    """
    return not content_type.startswith(_REFUSED_TYPES)


def _refused(url: str, reason: str, detail: str | None = None) -> CaptionFetch:
    outcome = "skipped" if reason in _SKIP_REASONS else "failed"
    return CaptionFetch(url, outcome=outcome, reason=f"caption_{reason}", detail=detail)


def fetch_captions(
    fetcher: Fetcher,
    url: str,
    *,
    refuse: Callable[[str], str | None],
    wait: Callable[[], None] = lambda: None,
    max_bytes: int = CAPTION_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
) -> CaptionFetch:
    """Fetch and parse the caption file at ``url``.

    ``refuse(url)`` returns a reason (``off_site``, ``robots_disallowed``...) when the crawl may not
    fetch it, checked before the request and again on the final URL after redirects; ``wait()`` is
    the crawler's politeness delay, called just before the request. ``max_bytes`` caps what is parsed
    (the fetcher's own cap bounds what is downloaded). ``headers`` are conditional request headers.
    """
    reason = refuse(url)
    if reason is not None:
        return _refused(url, reason, "the caption file was not fetched")
    wait()
    began = time.monotonic()
    try:
        result = fetcher.fetch(url, headers=dict(headers or {}), accept=accept_caption_type)
    except FetchError as exc:
        refused = _refused(url, exc.reason, exc.detail)
        refused.elapsed = time.monotonic() - began
        return refused
    common = {"http_status": result.status, "final_url": result.final_url, "elapsed": time.monotonic() - began}
    if result.status == 304 and headers:
        return CaptionFetch(url, outcome="not_modified", **common)
    if not 200 <= result.status < 300:
        return CaptionFetch(url, outcome="failed", reason=f"caption_http_{result.status}", **common)
    if result.final_url != url:
        reason = refuse(result.final_url)
        if reason is not None:
            return CaptionFetch(url, outcome="skipped", reason=f"caption_{reason}",
                                detail=f"redirected to {result.final_url}", **common)
    if len(result.body) > max_bytes:
        return CaptionFetch(url, outcome="failed", reason="caption_too_large",
                            detail=f"{len(result.body)} bytes, more than {max_bytes}", **common)
    parse = parse_captions(result.body, filename=url, content_type=result.headers.get("content-type", ""),
                           max_bytes=max_bytes)
    if not parse.cues:
        problems = "; ".join(parse.problems) or "no cue with text"
        return CaptionFetch(url, parse=None, outcome="failed", reason="caption_unparseable",
                            detail=f"{problems} ({parse.blocks} cue blocks)", **common)
    return CaptionFetch(url, parse=parse, etag=result.headers.get("etag"),
                        last_modified=result.headers.get("last-modified"),
                        digest=hashlib.sha256(result.body).hexdigest(), **common)
