"""Discovery: what a site says about itself before link following (robots.txt, sitemaps, feeds).

Network I/O goes through the safe :class:`ingest.fetch.Fetcher`; parsing is delegated to the pure
modules ``robots``, ``sitemaps`` and ``feeds``. Every discovery URL fetched is reported to ``log``
so the crawl health report shows failed sitemaps and feeds too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest.feeds import parse_feed
from ingest.fetch import Fetcher, FetchError, maybe_gunzip
from ingest.robots import RobotsPolicy, robots_policy, robots_url
from ingest.sitemaps import SitemapWalker, parse_sitemap

# (url, outcome, reason, detail, http_status)
LogFn = Callable[[str, str, str | None, str | None, int | None], None]


@dataclass
class Discovered:
    """Page URLs found by discovery, with where each came from."""

    urls: list[tuple[str, str]] = field(default_factory=list)  # (url, "sitemap" | "feed")
    warnings: list[str] = field(default_factory=list)


# When robots.txt itself could not be fetched for one of these reasons, every page of the host
# would fail the same way: report that reason rather than blaming robots.txt.
HOST_FAILURES = ("blocked_address", "blocked_scheme", "dns_error", "connection_error")


@dataclass
class RobotsCheck:
    """The robots policy and the reason to log for the URLs it refuses."""

    policy: RobotsPolicy
    denied_reason: str  # robots_disallowed / robots_unavailable / blocked_address ...


def fetch_robots(fetcher: Fetcher, base_url: str, user_agent: str, log: LogFn) -> RobotsCheck:
    """robots.txt decides what may be fetched; a failed fetch means "disallow all" (RFC 9309)."""
    url = robots_url(base_url)
    try:
        result = fetcher.fetch(url)
    except FetchError as exc:
        log(url, "robots", exc.reason, exc.detail, None)
        denied = exc.reason if exc.reason in HOST_FAILURES else "robots_unavailable"
        return RobotsCheck(robots_policy(None, None, user_agent), denied)
    policy = robots_policy(result.status, result.body, user_agent)
    log(url, "robots", policy.reason, None, result.status)
    return RobotsCheck(policy, "robots_unavailable" if policy.reason == "unavailable" else "robots_disallowed")


def discover(
    fetcher: Fetcher,
    *,
    sitemaps: Sequence[str],
    feeds: Sequence[str],
    max_bytes: int,
    robots: RobotsCheck,
    log: LogFn,
) -> Discovered:
    """Walk nested sitemaps (each fetched once, depth-limited) and read RSS/Atom feeds."""
    found = Discovered()
    walker = SitemapWalker(list(dict.fromkeys(sitemaps)))
    while (url := walker.next_sitemap()) is not None:
        if not robots.policy.allowed(url):
            walker.failed(url, robots.denied_reason)
            log(url, "sitemap", robots.denied_reason, None, None)
            continue
        try:
            result = fetcher.fetch(url)
            if result.status != 200:
                raise FetchError(f"http_{result.status}", url, f"HTTP {result.status}")
            body = maybe_gunzip(result.body, max_bytes)
        except FetchError as exc:
            walker.failed(url, exc.reason)
            log(url, "sitemap", exc.reason, exc.detail, None)
            continue
        parsed = parse_sitemap(body, result.final_url)
        if parsed.kind == "invalid":
            walker.failed(url, parsed.error or "invalid_sitemap")
            log(url, "sitemap", "invalid_sitemap", parsed.error, result.status)
            continue
        walker.feed(url, parsed, final_url=result.final_url)
        log(url, "sitemap", None, f"{len(parsed.entries)} URLs, {len(parsed.children)} sitemaps", 200)
    found.urls.extend((entry.loc, "sitemap") for entry in walker.entries)
    found.warnings.extend(walker.warnings)

    for url in dict.fromkeys(feeds):
        if not robots.policy.allowed(url):
            log(url, "feed", robots.denied_reason, None, None)
            continue
        try:
            result = fetcher.fetch(url)
            if result.status != 200:
                raise FetchError(f"http_{result.status}", url, f"HTTP {result.status}")
        except FetchError as exc:
            log(url, "feed", exc.reason, exc.detail, None)
            continue
        entries, warning = parse_feed(result.body, result.final_url)
        if warning:
            found.warnings.append(f"{url}: {warning}")
        log(url, "feed", "invalid_feed" if not entries and warning else None, warning, result.status)
        found.urls.extend((entry.link, "feed") for entry in entries)
    return found
