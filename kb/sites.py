"""Crawl sources: sites live in the database; those declared in ``config.toml`` are loaded into it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import Site
from kb.settings import CrawlSettings, SiteSettings
from kb.sql_dialect import insert_if_absent
from kb.transcript_locations import check_template

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class SitePolicy:
    """A site's crawl settings with the global defaults filled in."""

    page_budget: int
    delay_seconds: float
    max_depth: int


def effective_policy(site: Site, crawl: CrawlSettings) -> SitePolicy:
    return SitePolicy(
        page_budget=site.page_budget if site.page_budget > 0 else crawl.page_budget,
        delay_seconds=site.delay_seconds if site.delay_seconds >= 0 else crawl.delay_seconds,
        max_depth=site.max_depth if site.max_depth >= 0 else crawl.max_depth,
    )


def allowed_hosts(site: Site) -> list[str]:
    """The site's own host plus any extra hosts it declares (e.g. a blog on a subdomain)."""
    hosts = [urlsplit(site.base_url).netloc.lower()]
    hosts += [h.lower() for h in site.allowed_hosts if h.lower() not in hosts]
    return hosts


def validate_site(name: str, base_url: str, patterns: Sequence[str] = (), transcripts: Sequence[str] = ()) -> None:
    if not _NAME.match(name or ""):
        raise ValidationError(f"site name {name!r} must be 1-100 letters, digits, '.', '_' or '-'")
    parts = urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"site {name}: base URL must be an http(s) URL, got {base_url!r}")
    if parts.username or parts.password:
        raise ValidationError(f"site {name}: base URL must not contain credentials")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(f"site {name}: bad pattern {pattern!r}: {exc}") from None
    for template in transcripts:
        problem = check_template(template)
        if problem:
            raise ValidationError(f"site {name}: transcripts: {template[:100]!r}: {problem}")


def add_site(session: Session, spec: SiteSettings, *, source: str = "cli") -> Site:
    """Add a new site; a name already in use is a conflict."""
    validate_site(spec.name, spec.base_url, [*spec.include, *spec.exclude], spec.transcripts)
    if session.scalar(select(Site).where(Site.name == spec.name)) is not None:
        raise ConflictError(f"a site named {spec.name!r} already exists")
    site = Site(name=spec.name, source=source)
    _apply(site, spec)
    session.add(site)
    session.flush()
    return site


def update_site(session: Session, site: Site, spec: SiteSettings) -> Site:
    """Replace a site's crawl settings with ``spec`` (its name and source stay), checked like a new site."""
    validate_site(site.name, spec.base_url, [*spec.include, *spec.exclude], spec.transcripts)
    _apply(site, spec)
    session.flush()
    return site


def sync_config_sites(session: Session, specs: Sequence[SiteSettings]) -> list[Site]:
    """Create or update the sites declared in ``config.toml`` (the file wins for those sites)."""
    sites = []
    for spec in specs:
        validate_site(spec.name, spec.base_url, [*spec.include, *spec.exclude], spec.transcripts)
        site = session.scalar(select(Site).where(Site.name == spec.name))
        if site is None:  # ON CONFLICT: two crawls starting at once on a fresh database make one site
            insert_if_absent(session, Site, "name", {"name": spec.name, "base_url": spec.base_url, "source": "config"})
            site = session.scalars(select(Site).where(Site.name == spec.name)).one()
        _apply(site, spec)
        sites.append(site)
    session.flush()
    return sites


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.name)))


def get_site(session: Session, name: str) -> Site:
    site = session.scalar(select(Site).where(Site.name == name))
    if site is None:
        raise NotFoundError(f"no site named {name!r} (see `kb sites list`)")
    return site


def _apply(site: Site, spec: SiteSettings) -> None:
    site.base_url = spec.base_url
    site.sitemaps = list(spec.sitemaps)
    site.feeds = list(spec.feeds)
    site.include = list(spec.include)
    site.exclude = list(spec.exclude)
    site.allowed_hosts = list(spec.allowed_hosts)
    site.page_budget = spec.page_budget
    site.delay_seconds = spec.delay_seconds
    site.max_depth = spec.max_depth
    site.allow_private_addresses = spec.allow_private_addresses
    site.transcripts = list(spec.transcripts)


def site_to_dict(site: Site) -> dict[str, object]:
    return {
        "name": site.name,
        "base_url": site.base_url,
        "sitemaps": site.sitemaps,
        "feeds": site.feeds,
        "include": site.include,
        "exclude": site.exclude,
        "allowed_hosts": site.allowed_hosts,
        "page_budget": site.page_budget,
        "delay_seconds": site.delay_seconds,
        "max_depth": site.max_depth,
        "allow_private_addresses": site.allow_private_addresses,
        "transcripts": list(site.transcripts or []),
        "source": site.source,
    }
