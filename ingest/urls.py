"""URL canonicalisation and crawl scope.

Every URL the crawler sees (links in pages, sitemap <loc>s, feed links, redirect
targets) goes through :func:`canonicalize` so that one document has exactly one
key in the frontier and in the store. The function is pure and idempotent:
``canonicalize(canonicalize(u)) == canonicalize(u)`` for every accepted input.

:class:`UrlScope` then decides whether a canonical URL is worth fetching and,
if not, says why (the reason strings end up in crawl reports).
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

try:  # IDNA 2008 / UTS-46, what browsers use; installed with requests. Else: stdlib IDNA 2003.
    import idna
except ImportError:  # pragma: no cover
    idna = None

MAX_URL_LENGTH = 2083  # the historical IE limit; longer URLs are almost always traps or junk

# Query parameters that only carry analytics state. Names are compared lower-cased;
# entries ending in "_" are prefixes (utm_source, utm_medium, ...).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "utm_",
        "gclid",
        "fbclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_hsenc",
        "_hsmi",
        "ref_src",
        "yclid",
        "igshid",
    }
)
_TRACKING_PREFIXES = tuple(p for p in TRACKING_PARAMS if p.endswith("_") and p != "_")

# Extensions of resources that are never HTML pages worth extracting.
NON_PAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        *("png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "heic"),
        *("css", "js", "mjs", "map"),
        *("zip", "gz", "tgz", "tar", "rar", "7z", "bz2", "xz"),
        *("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp"),
        *("mp4", "m4v", "mov", "avi", "wmv", "mkv", "webm", "ogv", "flv"),
        *("mp3", "m4a", "wav", "ogg", "oga", "flac", "aac"),
        *("woff", "woff2", "ttf", "otf", "eot"),
        *("exe", "dmg", "msi", "apk", "iso", "bin"),
    }
)

# Reason strings (stable: they are stored in crawl reports).
BLOCKED_SCHEME = "blocked_scheme"
CREDENTIALS_IN_URL = "credentials_in_url"
MISSING_HOST = "missing_host"
INVALID_HOST = "invalid_host"
INVALID_PORT = "invalid_port"
INVALID_URL = "invalid_url"
URL_TOO_LONG = "url_too_long"

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Characters allowed literally (RFC 3986 pchar plus "/"; the query also allows "?").
# Everything else (space, quotes, <>, [], {}, |, \, ^, `, non-ASCII, controls, stray %)
# is percent-encoded as UTF-8.
_PATH_UNSAFE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/]")
_QUERY_UNSAFE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?]")
# Escapes that are decoded: the unreserved set (RFC 3986 §6.2.2.2) plus sub-delims that no
# server we know of treats differently from their escaped form. This is what makes
# /why-we're-friends/ and /why-we%27re-friends/ one URL. Deliberately NOT decoded:
# "/" "?" "#" "%" (structural), "&" "=" "+" ";" (query/matrix separators).
_DECODE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*,:@")

# An HTML character reference left in an href, e.g. "?a=1&amp;b=2". Only the
# semicolon-terminated form is decoded: "&copy=1" is a query parameter, not "©=1".
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_STRIP = "".join(chr(c) for c in range(0x21)) + "\x7f"  # C0 controls and space


class UrlError(ValueError):
    """A URL that cannot (or must not) be crawled; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, url: str, detail: str = "") -> None:
        self.reason = reason
        self.url = url
        shown = url if len(url) <= 200 else url[:200] + "..."
        super().__init__(f"{reason}: {detail + ': ' if detail else ''}{shown}")


def _unescape_entity(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


def _escape_entity(match: re.Match[str]) -> str:
    # Keeps the output idempotent: text that *would* decode as an entity on a second
    # pass (e.g. "&amp;" rebuilt from "&%61mp;") gets its ";" escaped instead.
    text = match.group(0)
    return text[:-1] + "%3B" if html.unescape(text) != text else text


def _escape_leading_entity(param: str) -> str:
    """Query version of :func:`_escape_entity`: after splitting on "&", an entity can only
    start a parameter. Escaped regardless of position so that sorting stays stable."""
    match = _ENTITY.match("&" + param)
    if match and html.unescape(match.group(0)) != match.group(0):
        semicolon = match.end() - 2  # index of ";" in param
        return param[:semicolon] + "%3B" + param[semicolon + 1 :]
    return param


def _fix_escape(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] == "%" and len(token) == 3:
        char = chr(int(token[1:], 16))
        return char if char in _DECODE else token.upper()
    return "".join(f"%{b:02X}" for b in token.encode("utf-8", "surrogatepass"))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path (always starts with "/")."""
    segments = path[1:].split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." -> "/a/": the result names a directory
    return "/" + "/".join(out)


def _encode_host(host: str, url: str) -> str:
    """Lower-case ASCII host; IDNA (UTS-46, as browsers do) for internationalised names."""
    if host.endswith("."):
        host = host[:-1]  # "example.com." is the same DNS name
    if ":" in host:  # IPv6 literal (urlsplit removed the brackets)
        try:
            return "[" + ipaddress.IPv6Address(host).compressed + "]"
        except ValueError as exc:
            raise UrlError(INVALID_HOST, url, "bad IPv6 literal") from exc
    if not host.isascii():
        try:
            if idna is None:
                raise UnicodeError("idna package not installed")
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (UnicodeError, ValueError):
            # IDNA 2008 refuses symbols such as "☃.net" that browsers still resolve.
            try:
                host = host.encode("idna").decode("ascii").lower()
            except UnicodeError as exc:
                raise UrlError(INVALID_HOST, url, "cannot IDNA-encode host") from exc
    if not _HOST_RE.fullmatch(host):
        raise UrlError(INVALID_HOST, url)
    return host


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _normalize_query(query: str) -> str:
    query = _QUERY_UNSAFE.sub(_fix_escape, query)
    params = [_escape_leading_entity(p) for p in query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    # Stable sort on the key only: repeated keys (a=2&a=1) keep their relative order,
    # which matters to servers that read them as arrays.
    params.sort(key=lambda p: p.split("=", 1)[0])
    return "&".join(params)


def canonicalize(url: str, base: str | None = None) -> str:
    """Return the canonical absolute form of ``url`` (resolved against ``base``).

    In order: strip surrounding whitespace/controls and embedded tabs/newlines; decode
    HTML character references (``&amp;``); resolve against ``base``; lower-case scheme and
    host, IDNA-encode the host, drop a default port; normalise percent-encoding (upper-case
    hex, decode unreserved and harmless characters, encode unsafe ones as UTF-8); resolve
    dot segments (empty path becomes "/", a trailing slash is kept); drop the fragment and
    tracking parameters and sort the remaining query parameters by key.

    Raises :class:`UrlError` (a ``ValueError``) with ``reason`` one of
    ``blocked_scheme`` (anything but http/https, including a relative URL without a base),
    ``credentials_in_url``, ``missing_host``, ``invalid_host``, ``invalid_port``,
    ``invalid_url`` or ``url_too_long``.
    """
    # Bound the work on absurd input before doing anything else.
    if len(url) > 8 * MAX_URL_LENGTH:
        raise UrlError(URL_TOO_LONG, url)
    url = url.strip(_STRIP).replace("\t", "").replace("\n", "").replace("\r", "")
    if "&" in url:
        url = _ENTITY.sub(_unescape_entity, url)
    try:
        # urljoin is the slow part of this function; absolute http(s) URLs skip it.
        if base and not _ABSOLUTE.match(url):
            url = urljoin(base.strip(_STRIP), url)
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlError(INVALID_URL, url, str(exc)) from exc

    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlError(BLOCKED_SCHEME, url, "relative URL without a base" if not scheme else "")
    if "@" in parts.netloc:
        raise UrlError(CREDENTIALS_IN_URL, url)
    if not parts.hostname:
        raise UrlError(MISSING_HOST, url)
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError(INVALID_PORT, url) from exc
    netloc = _encode_host(parts.hostname, url)
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"

    path = _PATH_UNSAFE.sub(_fix_escape, parts.path or "/")
    if not path.startswith("/"):
        path = "/" + path
    path = _remove_dot_segments(path)
    if "&" in path:
        path = _ENTITY.sub(_escape_entity, path)
    query = _normalize_query(parts.query) if parts.query else ""

    result = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    if len(result) > MAX_URL_LENGTH:
        raise UrlError(URL_TOO_LONG, url)
    return result


def _normalize_host_entry(entry: str) -> str:
    """Normalise an allowed-host entry ("Example.COM", "example.com:8080", or a full URL)."""
    entry = entry.strip()
    if "://" not in entry:
        entry = "http://" + entry
    parts = urlsplit(entry)
    host = _encode_host(parts.hostname or "", entry)
    # Default ports of either scheme are dropped: "example.com:443" means "example.com".
    if parts.port is not None and parts.port not in (80, 443):
        return f"{host}:{parts.port}"
    return host


def same_site(url: str, hosts: Iterable[str]) -> bool:
    """True if the canonical host[:port] of ``url`` is one of ``hosts``.

    Comparison is case-insensitive and ignores default ports; "www." is NOT stripped
    (www.example.com and example.com can be different sites). Invalid URLs are off-site.
    """
    try:
        netloc = urlsplit(canonicalize(url)).netloc
        allowed = {_normalize_host_entry(h) for h in hosts}
    except ValueError:
        return False
    return netloc in allowed


def _has_repeated_segments(segments: list[str], times: int = 3) -> bool:
    """True if some run of segments repeats ``times`` times back to back (/a/b/a/b/a/b/).

    For each period k, count consecutive positions where seg[i] == seg[i+k]; a run of
    (times-1)*k such positions is a block repeated ``times`` times. O(n^2 / times).
    """
    n = len(segments)
    for k in range(1, n // times + 1):
        run = 0
        for i in range(n - k):
            run = run + 1 if segments[i] == segments[i + k] else 0
            if run >= (times - 1) * k:
                return True
    return False


@dataclass(frozen=True)
class UrlScope:
    """Which URLs a crawl may fetch.

    ``hosts`` are host or host:port strings (as in the base URL's netloc); ``include`` and
    ``exclude`` are regexes searched in the canonical path+query (empty include = all).
    """

    hosts: frozenset[str]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_depth: int = 5
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _include: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _exclude: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.hosts, str):
            raise TypeError("UrlScope.hosts must be a collection of hosts, not a string")
        # Normalise and compile once; a bad regex fails here, at configuration time.
        object.__setattr__(self, "_hosts", frozenset(_normalize_host_entry(h) for h in self.hosts))
        object.__setattr__(self, "_include", tuple(re.compile(p) for p in self.include))
        object.__setattr__(self, "_exclude", tuple(re.compile(p) for p in self.exclude))

    def check(self, url: str, depth: int = 0) -> str | None:
        """Return None if ``url`` (at link ``depth`` from a seed) is in scope, else a reason.

        Reasons, in the order checked: a :class:`UrlError` reason (``blocked_scheme``,
        ``url_too_long``, ...), ``off_site``, ``too_deep``, ``non_page_extension``,
        ``repeated_segments``, ``excluded_pattern``, ``not_included``.
        """
        try:
            canonical = canonicalize(url)
        except UrlError as exc:
            return exc.reason
        parts = urlsplit(canonical)
        if parts.netloc not in self._hosts:
            return "off_site"
        if depth > self.max_depth:
            return "too_deep"
        last = parts.path.rsplit("/", 1)[-1].split(";", 1)[0]
        if "." in last and last.rsplit(".", 1)[1].lower() in NON_PAGE_EXTENSIONS:
            return "non_page_extension"
        if _has_repeated_segments([s for s in parts.path.split("/") if s]):
            return "repeated_segments"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if any(p.search(target) for p in self._exclude):
            return "excluded_pattern"
        if self._include and not any(p.search(target) for p in self._include):
            return "not_included"
        return None
