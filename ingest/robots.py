"""robots.txt policy (RFC 9309), decided from an already-fetched response.

Rule matching (wildcards, "$", longest match, Allow winning ties, user-agent group
selection) is Protego's, which follows Google's semantics. What Protego cannot know is
the HTTP outcome of the fetch, and that decides more than the rules do:

* 2xx            -> parse the body (first 512 KiB)                       reason "parsed"
* 4xx (not 429)  -> no robots.txt: everything allowed (RFC 9309 §2.3.1.3) reason "missing"
* 5xx, 429, 3xx that was not followed, fetch error (status None)
                 -> unreachable: everything disallowed (RFC 9309 §2.3.1.4) reason "unavailable"

429 is treated like a server error (as Google does): a site that rate-limits our
robots.txt request must not be read as "crawl everything".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from ingest.urls import canonicalize

MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309 §2.5: parse at least 500 KiB; content after it is ignored

_HTML_PREFIXES = (b"<!doctype", b"<html", b"<head", b"<body")


@dataclass
class RobotsPolicy:
    """The crawl rules of one origin for one user agent."""

    crawl_delay: float | None = None
    sitemaps: list[str] = field(default_factory=list)
    reason: str = "parsed"  # "parsed" | "missing" | "unavailable"
    user_agent: str = "*"
    allow_all: bool = False  # decided by status ("missing") or by an empty/HTML body
    _parser: Protego | None = field(default=None, repr=False, compare=False)

    def allowed(self, url: str) -> bool:
        """True if ``url`` may be fetched under this policy."""
        if self.reason == "unavailable":
            return False
        if self.allow_all or self._parser is None:
            return True
        return self._parser.can_fetch(url, self.user_agent)


def _decode_body(body: bytes) -> str:
    """Decode the first MAX_ROBOTS_BYTES as UTF-8, tolerating garbage bytes."""
    if len(body) > MAX_ROBOTS_BYTES:
        body = body[:MAX_ROBOTS_BYTES]
        # Drop the partial last line: half a "Disallow: /private" would widen the rule.
        cut = max(body.rfind(b"\n"), body.rfind(b"\r"))
        body = body[: cut + 1] if cut >= 0 else b""
    return body.decode("utf-8", errors="replace").lstrip("\ufeff")


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(_HTML_PREFIXES)


def _sane_delay(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def robots_policy(status: int | None, body: bytes | None, user_agent: str) -> RobotsPolicy:
    """Build the policy for ``user_agent`` from the robots.txt fetch outcome.

    ``status`` is the final HTTP status after redirects, or None if the fetch failed
    (timeout, connection refused, too many redirects). ``user_agent`` may be the product
    token ("SmarketingKB") or a full User-Agent header containing it.
    """
    if status is not None and 400 <= status < 500 and status != 429:
        return RobotsPolicy(reason="missing", user_agent=user_agent, allow_all=True)
    if status is None or not 200 <= status < 300:
        return RobotsPolicy(reason="unavailable", user_agent=user_agent)
    body = body or b""
    if _looks_like_html(body):
        # A CMS answering /robots.txt with its HTML home page: there are no rules in it,
        # and Protego would otherwise try to read tags as directives.
        return RobotsPolicy(reason="parsed", user_agent=user_agent, allow_all=True)
    parser = Protego.parse(_decode_body(body))
    return RobotsPolicy(
        crawl_delay=_sane_delay(parser.crawl_delay(user_agent)),
        sitemaps=list(parser.sitemaps),
        reason="parsed",
        user_agent=user_agent,
        _parser=parser,
    )


def robots_url(page_url: str) -> str:
    """The robots.txt URL governing ``page_url``: scheme://host[:port]/robots.txt.

    Raises :class:`ingest.urls.UrlError` for URLs that cannot be crawled at all.
    """
    parts = urlsplit(canonicalize(page_url))
    return f"{parts.scheme}://{parts.netloc}/robots.txt"
