"""A polite, safe HTTP fetcher for the crawler.

Untrusted URLs are fetched with hard limits so one hostile or broken server cannot hang, exhaust or
misuse the crawler:

* one wall-clock deadline covers DNS vetting, connects, redirects, retries and the body read
  (requests' own timeout is per socket read, so a slow-loris body would never trip it);
* the body cap applies *after* decompression, which :mod:`ingest.decoding` does with bounded ``zlib``
  calls;
* redirects are followed by hand so every hop is re-validated (scheme, userinfo, addresses);
* hosts are resolved once, vetted (:mod:`ingest.addresses`) and the connection goes to that vetted IP
  (pinning), with the original ``Host`` header and TLS SNI/certificate name, so DNS rebinding and
  environment proxies cannot redirect the fetch.

Any HTTP status is a :class:`FetchResult`; only transport and policy failures raise :class:`FetchError`.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ingest.addresses import (
    FetchError,
    PinnedHostAdapter,
    Resolver,
    Target,
    check_host,
    default_resolver,
    parse_target,
)
from ingest.decoding import ACCEPT_ENCODING, BodyDecoder, maybe_gunzip

__all__ = ["FetchError", "FetchPolicy", "FetchResult", "Fetcher", "maybe_gunzip"]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 503})
_CROSS_HOST_SECRETS = ("authorization", "cookie", "proxy-authorization")
_READ_CHUNK = 16 * 1024
_SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-z0-9_.:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for every fetch made by one :class:`Fetcher`."""

    user_agent: str = "SmarketingKB/0.1 (+https://example.invalid/bot)"
    deadline_seconds: float = 30.0  # total wall clock: redirects, retries and body read included
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024  # body cap after decompression (raw bytes are capped too)
    max_redirects: int = 5
    allow_private_addresses: bool = False  # loopback/private/link-local only for demos and tests
    max_retries: int = 2  # for 429/503 carrying Retry-After; then the fetch fails with "rate_limited"
    max_retry_after: float = 10.0  # a longer Retry-After gives up with "rate_limited"


@dataclass
class FetchResult:
    """One HTTP response after redirects; any status is a result, not an error."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes  # decompressed; b"" for HEAD, 204 and 304
    redirects: list[str] = field(default_factory=list)  # hop URLs followed, in order
    elapsed: float = 0.0

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower-cased ('' if missing)."""
        return _media_type(self.headers.get("content-type", ""))

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, lower-cased, if any."""
        _, _, params = self.headers.get("content-type", "").partition(";")
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip("\"'").strip().lower() or None
        return None

    def text(self) -> str:
        """Decode the body: BOM, then header charset, then <meta>/XML sniff, then UTF-8. Never raises."""
        for bom, encoding in _BOMS:
            if self.body.startswith(bom):
                return self.body[len(bom):].decode(encoding, errors="replace")
        for label in (self.charset, _sniff_charset(self.body[:_SNIFF_BYTES])):
            decoded = _decode_with(self.body, label)
            if decoded is not None:
                if "\ufffd" in decoded and _is_utf8(label):
                    # Declared UTF-8 but it is not: servers mislabel legacy pages; browsers would show
                    # mojibake, but windows-1252 is by far the most common real encoding behind it.
                    return self.body.decode("cp1252", errors="replace")
                return decoded
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return self.body.decode("cp1252", errors="replace")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _sniff_charset(head: bytes) -> str | None:
    """Charset declared in the document itself (<meta charset>, http-equiv, or an XML declaration)."""
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if match is None:
        return None
    label = match.group(1).decode("ascii").lower()
    # HTML spec: a <meta> claiming UTF-16/32 in an ASCII-compatible byte stream means UTF-8.
    return "utf-8" if label.startswith(("utf-16", "utf-32")) else label


def _is_utf8(label: str | None) -> bool:
    try:
        return label is not None and codecs.lookup(label).name == "utf-8"
    except LookupError:
        return False


def _decode_with(body: bytes, label: str | None) -> str | None:
    """Decode with ``label`` if it names a usable text codec; None otherwise."""
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
        # Browsers read latin-1/ASCII labels as windows-1252 (WHATWG Encoding); so do we.
        name = "cp1252" if name in ("iso8859-1", "ascii") else name
        return body.decode(name, errors="replace")
    except Exception:  # unknown or non-text codecs ("hex", "rot13") fall through to the next guess
        return None


class _NoRedirectSession(requests.Session):
    """Even with ``allow_redirects=False`` requests pre-builds the next hop and reads the *whole*
    redirect body with no cap or deadline; redirects are :class:`Fetcher`'s job, so never look."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def _build_session() -> requests.Session:
    """One pooled session whose connections go to pinned addresses, never via env proxies."""
    session = _NoRedirectSession()
    session.trust_env = False  # HTTP(S)_PROXY, .netrc and REQUESTS_CA_BUNDLE must not change routing
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # a crawler keeps no cookies
    session.headers.clear()
    session.mount("http://", PinnedHostAdapter())
    session.mount("https://", PinnedHostAdapter())
    return session


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("timeout", url, "deadline exceeded")
    return left


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


class Fetcher:
    """Fetches URLs under a :class:`FetchPolicy`; one pooled session per instance (not thread-safe)."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver or default_resolver
        self._session = _build_session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, *, headers: dict[str, str] | None = None,
              accept: Callable[[str], bool] | None = None, method: str = "GET") -> FetchResult:
        """Fetch ``url`` following redirects; raise FetchError for transport/policy failures.

        ``accept(content_type)`` vets a 2xx response before its body is downloaded. Error statuses are
        returned whatever their type so the caller still learns about 404/410.
        """
        method = method.upper()
        if method not in ("GET", "HEAD"):
            raise ValueError(f"the crawler only sends GET/HEAD, not {method}")
        started = time.monotonic()
        deadline = started + self.policy.deadline_seconds
        redirects: list[str] = []
        response, final_url = self._follow(method, url, self._request_headers(headers), redirects, deadline)
        status = response.status_code
        resp_headers = {name.lower(): value for name, value in response.headers.items()}
        content_type = resp_headers.get("content-type", "")
        if 200 <= status < 300 and accept is not None and not accept(_media_type(content_type)):
            response.close()
            raise FetchError("unsupported_type", final_url, f"content type {content_type!r} not accepted")
        if method == "HEAD" or status in (204, 304):
            response.raw.release_conn()  # no body: the connection can go back to the pool
            body = b""
        else:
            body = self._read_body(response, resp_headers, deadline, final_url)
        return FetchResult(url, final_url, status, resp_headers, body, redirects, time.monotonic() - started)

    def _follow(self, method: str, url: str, headers: dict[str, str], redirects: list[str],
                deadline: float) -> tuple[requests.Response, str]:
        """Send, following redirects and Retry-After retries, until a final response (body unread)."""
        current, retries = url, 0
        while True:
            target = parse_target(current)  # every hop is re-validated
            response = self._send(method, target, headers, deadline)
            location = response.headers.get("location")
            if location and response.status_code in _REDIRECT_STATUSES:
                response.close()  # never read a redirect body
                current = self._next_hop(target, location, url, redirects, headers)
                continue
            delay = self._retry_delay(response, retries, deadline, current)
            if delay is None:
                return response, current
            response.close()
            time.sleep(delay)
            retries += 1

    def _request_headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {
            "User-Agent": self.policy.user_agent,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        }
        for name, value in (extra or {}).items():
            if name.lower() not in ("host", "accept-encoding"):  # we pick the host and what we can decode
                headers[name] = value
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        return headers

    def _send(self, method: str, target: Target, headers: dict[str, str],
              deadline: float) -> requests.Response:
        """Request ``target`` from a vetted, pinned address, trying the next one if connecting fails."""
        try:
            addresses = check_host(target.host, target.port, self._resolver,
                                   self.policy.allow_private_addresses)
        except FetchError as exc:
            raise FetchError(exc.reason, target.url, exc.detail) from exc
        failure = FetchError("connection_error", target.url, "no address to connect to")
        for address in addresses:
            remaining = _remaining(deadline, target.url)
            try:
                return self._session.request(
                    method, target.pinned_url(address), headers={**headers, "Host": target.host_header},
                    stream=True, allow_redirects=False, proxies={},
                    timeout=(min(self.policy.connect_timeout, remaining), remaining),
                )
            except requests.exceptions.ConnectTimeout as exc:
                failure = FetchError("timeout", target.url, f"connect to {address} timed out: {exc}")
            except requests.exceptions.SSLError as exc:
                raise FetchError("connection_error", target.url, f"TLS failure: {exc}") from exc
            except requests.exceptions.ReadTimeout as exc:
                raise FetchError("timeout", target.url, "no response before the deadline") from exc
            except requests.exceptions.ConnectionError as exc:
                failure = FetchError("connection_error", target.url, f"{address}: {exc}")
                if not _failed_to_connect(exc):
                    raise failure from exc
            except requests.exceptions.RequestException as exc:
                raise FetchError("connection_error", target.url, str(exc)) from exc
        raise failure

    def _next_hop(self, target: Target, location: str, url: str, redirects: list[str],
                  headers: dict[str, str]) -> str:
        """Resolve a Location, enforce the redirect limit/loops and drop secrets on a host change."""
        with contextlib.suppress(UnicodeError):  # http.client decodes headers as latin-1; UTF-8 is usual
            location = location.encode("latin-1").decode("utf-8")
        try:
            next_url = urljoin(target.url, location.strip())
        except ValueError as exc:  # e.g. "http://[bad"
            raise FetchError("invalid_url", location, f"unparsable redirect Location: {exc}") from exc
        if len(redirects) >= self.policy.max_redirects:
            raise FetchError("too_many_redirects", url, f"more than {self.policy.max_redirects} redirects")
        if next_url == url or next_url in redirects:
            raise FetchError("too_many_redirects", url, f"redirect loop at {next_url}")
        redirects.append(next_url)
        try:
            next_target = parse_target(next_url)
        except FetchError:
            return next_url  # the caller's parse_target raises the precise reason for this hop
        if next_target.host != target.host or (target.scheme, next_target.scheme) == ("https", "http"):
            for name in [name for name in headers if name.lower() in _CROSS_HOST_SECRETS]:
                del headers[name]
        return next_url

    def _retry_delay(self, response: requests.Response, retries: int, deadline: float,
                     url: str) -> float | None:
        """Seconds to wait before retrying a 429/503 with Retry-After; None to return the response."""
        status = response.status_code
        delay = _retry_after(response.headers.get("retry-after")) if status in _RETRY_STATUSES else None
        if delay is None:
            return None
        if delay > self.policy.max_retry_after:
            raise FetchError("rate_limited", url, f"HTTP {status} with Retry-After {delay:.0f}s")
        if retries >= self.policy.max_retries:
            raise FetchError("rate_limited", url, f"still HTTP {status} after {retries} retries")
        if delay >= deadline - time.monotonic():
            raise FetchError("rate_limited", url, f"Retry-After {delay:.0f}s does not fit in the deadline")
        return delay

    def _read_body(self, response: requests.Response, headers: dict[str, str], deadline: float,
                   url: str) -> bytes:
        """Stream the raw body under the deadline and both size caps, decoding it ourselves."""
        max_bytes = self.policy.max_bytes
        try:
            decoder = BodyDecoder(headers.get("content-encoding", ""), max_bytes, url)
            length = headers.get("content-length", "").strip()
            if length.isdigit() and int(length) > max_bytes:
                raise FetchError("too_large", url, f"Content-Length {length} exceeds {max_bytes} bytes")
            raw, received = response.raw, 0
            while True:
                _set_read_timeout(raw, _remaining(deadline, url))
                data = raw.read1(_READ_CHUNK, decode_content=False)  # read1: returns as soon as bytes arrive
                if not data:
                    break
                received += len(data)
                if received > max_bytes:  # raw cap too: bytes after a gzip end must not pile up
                    raise FetchError("too_large", url, f"body exceeds {max_bytes} bytes on the wire")
                decoder.feed(data)
            body = decoder.finish()
        except BaseException as exc:
            response.close()  # a half-read connection must not go back to the pool
            mapped = _as_fetch_error(exc, url)
            if mapped is exc:
                raise
            raise mapped from exc
        response.raw.release_conn()
        return body


def _as_fetch_error(exc: BaseException, url: str) -> BaseException:
    """Map urllib3's mid-body failures to FetchError reasons; anything else is returned unchanged."""
    if isinstance(exc, ReadTimeoutError):
        return FetchError("timeout", url, "body not received before the deadline")
    if isinstance(exc, ProtocolError):
        return FetchError("dataloss", url, f"connection broken mid-body: {exc}")
    if isinstance(exc, Urllib3SSLError):
        return FetchError("connection_error", url, f"TLS failure mid-body: {exc}")
    return exc


def _failed_to_connect(exc: requests.exceptions.ConnectionError) -> bool:
    """True if no connection was made (refused/unreachable), so another address may be tried."""
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """Bound the next socket read by what is left of the deadline (urllib3 sets it once, at send)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)
