"""The demo site's crawler entry points: ``sitemap.xml``, the blog's RSS feed and ``robots.txt``.

Why a module of its own: these files are what a crawler reads *before* any page (discovery and
politeness rules), they have their own formats (sitemap XML, RSS 2.0 dates, robots.txt) and none of
the page layout in :mod:`kb.demo.site`; the robots.txt here is what keeps ``/internal/`` out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from email.utils import format_datetime

from jinja2 import Environment

from kb.demo.content import ContentPage


def rfc822(day: date) -> str:
    """RSS date for ``day`` (09:00 UTC), e.g. ``Wed, 04 Mar 2026 09:00:00 +0000``."""
    return format_datetime(datetime.combine(day, time(9, 0), tzinfo=UTC))


def feed_files(env: Environment, pages: Sequence[ContentPage], posts: Sequence[ContentPage],
               url: Callable[[str], str]) -> dict[str, str]:
    """``sitemap.xml``, ``blog/rss.xml`` and ``robots.txt`` by output path.

    ``pages`` are all content pages (for the sitemap), ``posts`` the blog posts newest first (for the
    feed) and ``url`` turns a root-relative path into an absolute URL.
    """
    files = {"sitemap.xml": env.get_template("sitemap.xml").render(pages=pages, url=url)}
    files["blog/rss.xml"] = env.get_template("rss.xml").render(
        posts=posts,
        url=url,
        rfc822=rfc822,
        last_build=rfc822(max(p.modified for p in posts)),
    )
    files["robots.txt"] = f"User-agent: *\nDisallow: /internal/\nAllow: /\n\nSitemap: {url('/sitemap.xml')}\n"
    return files
