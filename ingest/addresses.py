"""Where a URL may take the fetcher: URL validation and SSRF address checks.

The crawler fetches URLs that come from untrusted pages, sitemaps and feeds, so every URL (and every
redirect hop) is checked here before a socket is opened:

* :func:`parse_target` accepts only ``http``/``https`` URLs without userinfo;
* :func:`check_host` resolves the host once and refuses it when *any* address is not public, so the
  caller can connect to exactly the vetted address (pinning defeats DNS rebinding);
* :class:`PinnedHostAdapter` lets requests connect to that address while TLS still checks the name.

:class:`FetchError` lives here (and is re-exported by :mod:`ingest.fetch`) because both modules raise it
and ``fetch`` imports this module, not the other way round.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import idna
from requests.adapters import HTTPAdapter

Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Names that must never be fetched whatever they resolve to (cloud metadata, loopback aliases).
BLOCKED_HOSTNAMES = frozenset({"localhost", "metadata.google.internal"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTO4 = ipaddress.ip_network("2002::/16")
_HOSTNAME_CHARS = re.compile(r"^[a-z0-9._-]+$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class FetchError(Exception):
    """A fetch that did not produce an HTTP response the caller can use.

    ``reason`` is machine-readable (e.g. ``"timeout"``, ``"blocked_address"``), ``url`` is the URL (or
    redirect hop) whose fetch failed and ``detail`` explains it for logs.
    """

    def __init__(self, reason: str, url: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.url = url
        self.detail = detail


@dataclass(frozen=True)
class Target:
    """A validated http(s) URL split into what the fetcher needs to connect to it."""

    url: str
    scheme: str
    host: str  # lower-case ASCII (IDNA) hostname or bare IP literal, no brackets
    port: int
    path: str  # path plus query, never empty

    @property
    def is_ip_literal(self) -> bool:
        return _parse_ip(self.host) is not None

    @property
    def host_header(self) -> str:
        """Value for the ``Host`` header: the original authority, not the pinned address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def pinned_url(self, ip: str) -> str:
        """The same URL with the host replaced by the vetted ``ip`` (so no second DNS lookup happens)."""
        host = f"[{ip.replace('%', '%25')}]" if ":" in ip else ip
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_target(url: str) -> Target:
    """Validate ``url`` and split it; raises FetchError invalid_url / blocked_scheme / credentials_in_url."""
    url = url.strip() if isinstance(url, str) else ""
    if not url or _CONTROL_CHARS.search(url):
        raise FetchError("invalid_url", url, "empty URL or URL with control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("invalid_url", url, f"unparsable URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchError("invalid_url", url, "URL has no scheme")
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError("blocked_scheme", url, f"scheme {scheme!r} is not http/https")
    # Any '@' in the authority is userinfo; "https://company.com@evil.example/" goes to evil.example.
    if "@" in parts.netloc:
        raise FetchError("credentials_in_url", url, "URL carries userinfo (user:password@)")
    if "\\" in parts.netloc:
        raise FetchError("invalid_url", url, "backslash in the authority")
    host = _normalise_host(parts.hostname or "", url)
    if port == 0:
        raise FetchError("invalid_url", url, "port 0")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, scheme, host, port or DEFAULT_PORTS[scheme], path)


def _normalise_host(host: str, url: str) -> str:
    """Lower-case, drop a trailing dot and IDNA-encode non-ASCII names."""
    host = host.rstrip(".")
    if not host:
        raise FetchError("invalid_url", url, "URL has no host")
    if _parse_ip(host) is not None:
        return host
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise FetchError("invalid_url", url, f"invalid international hostname: {exc}") from exc
    if not _HOSTNAME_CHARS.match(host):
        raise FetchError("invalid_url", url, f"invalid hostname {host!r}")
    return host


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv4-mapped, NAT64 or 6to4 address actually reaches, if any.

    ``ipaddress`` calls e.g. ``64:ff9b::7f00:1`` and ``2002:7f00:1::`` global, yet they reach
    127.0.0.1 through a translator/relay, so they are judged by the embedded address.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTO4:
        return ip.sixtofour
    return None


def is_public_address(ip: str) -> bool:
    """True only for a globally routable unicast address; anything unparsable is not public."""
    parsed = _parse_ip(ip.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
    if parsed is None:
        return False
    if isinstance(parsed, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(parsed)
        if embedded is not None:
            return is_public_address(str(embedded))
        if parsed.is_site_local:
            return False
    # is_global alone is not enough: it is True for multicast (224/4, ff00::/8) in Python 3.11.
    return parsed.is_global and not (
        parsed.is_private
        or parsed.is_loopback
        or parsed.is_link_local
        or parsed.is_multicast
        or parsed.is_reserved
        or parsed.is_unspecified
    )


def is_blocked_hostname(host: str) -> bool:
    """``localhost``, ``*.localhost`` and cloud metadata names, whatever DNS says about them."""
    host = host.lower().rstrip(".")
    return host in BLOCKED_HOSTNAMES or host.endswith(".localhost")


def default_resolver(host: str, port: int) -> list[str]:
    """All addresses ``getaddrinfo`` returns for ``host`` (TCP), in its preference order."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def check_host(host: str, port: int, resolver: Resolver, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing it unless every address is public.

    An IP literal is used as is (an injected resolver must not be able to launder ``127.0.0.1``).
    Alternate spellings such as ``2130706433`` or ``0x7f000001`` are not literals for ``ipaddress`` but
    ``getaddrinfo`` turns them into 127.0.0.1, which is then refused like any other resolved address.
    Raises FetchError ``blocked_address`` or ``dns_error``.
    """
    host = host.strip("[]").lower().rstrip(".")
    if not allow_private and is_blocked_hostname(host):
        raise FetchError("blocked_address", host, f"host {host!r} is never fetched")
    if _parse_ip(host.split("%", 1)[0]) is not None:
        addresses = [host]
    else:
        try:
            addresses = list(dict.fromkeys(resolver(host, port)))
        except (OSError, UnicodeError) as exc:
            raise FetchError("dns_error", host, f"cannot resolve {host!r}: {exc}") from exc
        if not addresses:
            raise FetchError("dns_error", host, f"{host!r} has no addresses")
    for address in addresses:
        if _parse_ip(address.split("%", 1)[0]) is None:
            raise FetchError("dns_error", host, f"resolver returned a non-address {address!r}")
        if not allow_private and not is_public_address(address):
            raise FetchError("blocked_address", host, f"{host!r} -> non-public address {address}")
    return addresses


class PinnedHostAdapter(HTTPAdapter):
    """Connects to the pinned IP in the request URL but does TLS (SNI + certificate check) for the
    original host, taken from the ``Host`` header the fetcher sets.

    ``server_hostname`` is part of urllib3's pool key, so two sites on one IP never share a TLS connection.
    """

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host = request.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""  # IPv6 literals get no SNI
        if host_params["scheme"] == "https" and name and _parse_ip(name) is None:
            pool_kwargs["server_hostname"] = name
        return host_params, pool_kwargs
