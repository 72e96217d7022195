"""Where a tracked link may send a prospect: only to the company's own configured sites.

An allowlist, not a denylist (OWASP "Unvalidated Redirects"; checklist W-33): a destination must be
an absolute ``http(s)`` URL, plain ASCII with no whitespace, control characters or backslashes, no
user name or password, and its host and port must be those of a site in the database (its base URL
or one of its ``allowed_hosts``). Every trick in the checklist fails one of these rules:
``//evil.example`` and ``/\\evil.example`` have no scheme, ``https:evil.example`` no host,
``https://company.com@evil.example`` a user name, ``https://company.com.evil.example`` a foreign host,
``evil。com`` is not ASCII, ``%0d%0a...``, ``javascript:`` and ``data:`` are not http(s) URLs.

The same check runs at creation (a clear 400) and again on every visit, so a site removed or moved
after a link was made stops its redirects rather than sending prospects somewhere unmanaged.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import URL_LENGTH, Site

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, int] | None:
    """(host, port) of a netloc, the port defaulted from the scheme; None when it does not parse."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.lower().rstrip("."), port or DEFAULT_PORTS.get(scheme, 443)


def allowed_origins(session: Session) -> set[tuple[str, int]]:
    """Every (host, port) of the configured sites: their base URLs and their extra allowed hosts.

    An extra host without a port is allowed on both default ports (a blog host listed as a bare name).
    """
    origins: set[tuple[str, int]] = set()
    for base_url, extra in session.execute(select(Site.base_url, Site.allowed_hosts)):
        parts = urlsplit(base_url or "")
        scheme = parts.scheme.lower()
        if scheme in DEFAULT_PORTS and (origin := _origin(scheme, parts.netloc)):
            origins.add(origin)
        for host in extra or []:
            for default in DEFAULT_PORTS:
                if origin := _origin(default, str(host)):
                    origins.add(origin)
    return origins


def destination_problem(url: object, origins: set[tuple[str, int]]) -> str | None:
    """Why ``url`` is not an acceptable destination (a sentence), or None when it is."""
    if not isinstance(url, str) or not url:
        return "the destination must be a URL"
    if len(url) > URL_LENGTH:
        return f"the destination URL is longer than {URL_LENGTH} characters"
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url) or "\\" in url:
        return "the destination URL must be plain ASCII without spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the destination is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url.lower().startswith(scheme + "://") or not parts.hostname:
        return "the destination must be an absolute http:// or https:// URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "the destination URL must not contain a user name or password"
    origin = (parts.hostname.lower().rstrip("."), port or DEFAULT_PORTS[scheme])
    if origin not in origins:
        return f"{parts.hostname} is not one of the company's configured sites"
    return None


def check_destination(session: Session, url: object) -> str:
    """``url`` when it is on a configured site; ValidationError (400) saying why not otherwise."""
    problem = destination_problem(url, allowed_origins(session))
    if problem:
        raise ValidationError(problem)
    return str(url)
