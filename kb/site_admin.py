"""Managing crawl sources from the admin pages and API: list with the last crawl, add, edit, crawl health.

Sites are :mod:`kb.sites` (shared with ``kb sites``); this module turns request fields (a form's text or
an API's JSON) into a checked :class:`kb.settings.SiteSettings` with the same type checks as a
``[[sites]]`` table of ``config.toml``, plus bounds for values that come from a browser: every URL
http(s) without credentials, host names that are host names, a page budget and delay within reason.

``allow_private_addresses`` (crawling loopback and private networks) is deliberately not a field here:
from a web form it would let anyone with an admin session point the server at internal addresses
(SSRF), so it is set only in ``config.toml`` or with ``kb sites add --allow-private-addresses``. Sites
declared in ``config.toml`` are read-only here, because the file wins again at every crawl.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from kb.crawl_jobs import crawl_job
from kb.crawl_report import OUTCOMES, page_rows, run_counts
from kb.demand import as_utc
from kb.errors import ConflictError, NotFoundError, SettingsError, ValidationError
from kb.models import URL_LENGTH, CrawlRun, Site
from kb.settings import SiteSettings
from kb.settings_loading import build_dataclass
from kb.sites import add_site, list_sites, site_to_dict, sync_config_sites, update_site
from kb.transcript_locations import check_template

EDIT_FIELDS = ("base_url", "sitemaps", "feeds", "include", "exclude", "allowed_hosts", "page_budget",
               "delay_seconds", "max_depth", "transcripts")
CREATE_FIELDS = ("name", *EDIT_FIELDS)
LIST_FIELDS = ("sitemaps", "feeds", "include", "exclude", "allowed_hosts", "transcripts")
MAX_ITEMS, MAX_PATTERN = 50, 500
MAX_BUDGET, MAX_DELAY, MAX_DEPTH = 100_000, 60.0, 50
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$")


# -- reading ---------------------------------------------------------------------------------------
def _run_dict(run: CrawlRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    counts = run.counts or {}
    return {"id": run.id, "status": run.status, "started_at": as_utc(run.started_at).isoformat(),
            "finished_at": as_utc(run.finished_at).isoformat() if run.finished_at else None,
            "fetched": counts.get("fetched", 0), "outcomes": counts.get("outcomes", {}),
            "reasons": counts.get("reasons", {}), "error": run.error}


def _site_dict(kb: Any, site: Site, last_run: CrawlRun | None) -> dict[str, Any]:
    job = crawl_job(kb, site.id)
    return {"id": site.id, **site_to_dict(site), "last_crawl": _run_dict(last_run),
            "crawl_job": job.to_dict() if job is not None else None,
            "editable": site.source != "config"}


def _latest_run(session: Any, site_id: int) -> CrawlRun | None:
    return session.scalar(select(CrawlRun).where(CrawlRun.site_id == site_id).order_by(CrawlRun.id.desc()).limit(1))


def site_rows(kb: Any) -> list[dict[str, Any]]:
    """Every site with its settings, its last crawl's summary and any crawl running in this process
    (sites declared in config.toml are loaded first, as ``kb sites list`` does)."""
    with kb.transaction() as session:
        sync_config_sites(session, kb.settings.sites)
        return [_site_dict(kb, site, _latest_run(session, site.id)) for site in list_sites(session)]


def _get(session: Any, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError(f"no site {site_id}")
    return site


def site_details(kb: Any, site_id: int, *, runs: int = 10) -> dict[str, Any]:
    """One site with its recent crawl runs (newest first)."""
    with kb.sessions() as session:
        site = _get(session, site_id)
        recent = list(session.scalars(select(CrawlRun).where(CrawlRun.site_id == site_id)
                                      .order_by(CrawlRun.id.desc()).limit(runs)))
        data = _site_dict(kb, site, recent[0] if recent else None)
        data["runs"] = [_run_dict(run) for run in recent]
        return data


def site_health(kb: Any, site_id: int, *, outcomes: Sequence[str] = (), limit: int = 200,
                offset: int = 0) -> dict[str, Any]:
    """Every URL of the site's latest crawl with outcome and reason (optionally only some outcomes),
    with the counts by outcome and by reason of the whole crawl."""
    with kb.sessions() as session:
        site = _get(session, site_id)
        run = _latest_run(session, site_id)
        data: dict[str, Any] = {"site": {"id": site.id, "name": site.name, "base_url": site.base_url},
                                "run": _run_dict(run), "outcomes": {}, "reasons": {}, "pages": [], "total": 0}
        bad = [o for o in outcomes if o not in OUTCOMES]
        if bad:
            raise ValidationError(f"unknown outcome {bad[0]!r}; outcomes: {', '.join(OUTCOMES)}")
        if run is None:
            return data
        rows = page_rows(session, site=site.name, outcomes=outcomes, run_id=run.id, limit=limit, offset=offset)
        by_outcome, by_reason = run_counts(session, run.id)
    data["outcomes"] = dict(by_outcome.most_common())
    data["reasons"] = dict(by_reason.most_common())
    data["pages"] = [row.to_dict() for row in rows]
    data["total"] = sum(n for outcome, n in by_outcome.items() if not outcomes or outcome in outcomes)
    return data


# -- checking request fields ------------------------------------------------------------------------
def _lines(value: Any) -> Any:
    """A form's textarea (one item a line) as a list; JSON lists pass through to the type check."""
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if len(url) > URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{name}: {url[:100]!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValidationError(f"{name}: URLs must not contain credentials")


def spec_from_fields(fields: Mapping[str, Any], *, allowed: Sequence[str] = CREATE_FIELDS,
                     current: SiteSettings | None = None) -> SiteSettings:
    """A checked SiteSettings from request fields (over ``current`` when editing)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(allowed)}")
    data = asdict(current) if current is not None else {}
    for key, value in fields.items():
        if isinstance(value, str) and key not in LIST_FIELDS:
            value = value.strip()
            if value == "" and key not in ("name", "base_url"):
                continue  # a blank number field: keep the default / current value
        data[key] = _lines(value) if key in LIST_FIELDS else value
    try:
        spec = build_dataclass(SiteSettings, data, "site.")
    except SettingsError as exc:
        raise ValidationError(exc.message.replace("setting 'site.", "field '")) from None
    _check_bounds(spec)
    return spec


def _check_bounds(spec: SiteSettings) -> None:
    if len(spec.base_url) > URL_LENGTH:
        raise ValidationError("base_url is too long")
    for name in LIST_FIELDS:
        items = getattr(spec, name)
        if len(items) > MAX_ITEMS:
            raise ValidationError(f"{name}: at most {MAX_ITEMS} entries")
    for name in ("sitemaps", "feeds"):
        for url in getattr(spec, name):
            _check_url(name, url)
    for template in spec.transcripts:
        problem = check_template(template) if len(template) <= URL_LENGTH else "is too long"
        if problem:
            raise ValidationError(f"transcripts: {template[:100]!r}: {problem}")
    for pattern in (*spec.include, *spec.exclude):
        if len(pattern) > MAX_PATTERN:
            raise ValidationError(f"patterns may be at most {MAX_PATTERN} characters")
    for host in spec.allowed_hosts:
        if not _HOST.match(host.lower()):
            raise ValidationError(f"allowed_hosts: {host[:100]!r} is not a host name (like blog.example.com)")
    if not 0 <= spec.page_budget <= MAX_BUDGET:
        raise ValidationError(f"page_budget must be between 0 (the default) and {MAX_BUDGET}")
    if spec.delay_seconds > MAX_DELAY:
        raise ValidationError(f"delay_seconds must be at most {MAX_DELAY:g} (negative: the default)")
    if spec.max_depth > MAX_DEPTH:
        raise ValidationError(f"max_depth must be at most {MAX_DEPTH} (negative: the default)")


# -- changing --------------------------------------------------------------------------------------
def create_site(kb: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Add a site from request fields; its name must be new."""
    spec = spec_from_fields(fields)
    with kb.transaction() as session:
        site = add_site(session, spec, source="web")
        return _site_dict(kb, site, None)


def edit_site(kb: Any, site_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Change some of a site's settings (the others stay); sites from config.toml are read-only here."""
    with kb.transaction() as session:
        site = _get(session, site_id)
        if site.source == "config":
            raise ConflictError(f"site {site.name} is declared in config.toml: change it there "
                                "(the file wins again at every crawl)")
        if "name" in fields:
            raise ValidationError("a site's name cannot change (crawl history and the CLI refer to it)")
        current = SiteSettings(**{k: v for k, v in site_to_dict(site).items() if k != "source"})
        update_site(session, site, spec_from_fields(fields, allowed=EDIT_FIELDS, current=current))
        return _site_dict(kb, site, _latest_run(session, site_id))
