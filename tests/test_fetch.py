"""The safe fetcher against a real HTTP server on 127.0.0.1: limits, traps, SSRF and decoding.

No test sends a packet beyond loopback: the autouse ``network`` fixture wraps urllib3's
``create_connection`` so any other address is refused (and recorded), and "public" addresses that a
test needs to reach are routed to a local server. Hostnames are resolved by injected resolvers, never
by DNS; only numeric spellings of 127.0.0.1 go through ``getaddrinfo`` (answered locally).
"""

from __future__ import annotations

import codecs
import functools
import gzip
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
import urllib3.util.connection

from ingest.addresses import check_host, is_public_address, parse_target
from ingest.fetch import Fetcher, FetchError, FetchPolicy, FetchResult, maybe_gunzip
from tests.support.http_server import LocalServer, Route

PUBLIC_IP = "93.184.216.34"  # a global address; the fake network routes it to a local server
LOCAL = FetchPolicy(allow_private_addresses=True, deadline_seconds=5.0)
STRICT = FetchPolicy(deadline_seconds=5.0)


# --- fixtures and helpers ---------------------------------------------------------------------------


@dataclass
class FakeNetwork:
    """Loopback passes; ``routes`` maps fake public IPs to local servers; everything else is refused."""

    routes: dict[str, int] = field(default_factory=dict)  # ip -> local port
    attempts: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    fake = FakeNetwork()
    real = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        host, port = address
        fake.attempts.append(host)
        if host in fake.routes:
            return real(("127.0.0.1", fake.routes[host]), *args, **kwargs)
        if host != "127.0.0.1":
            raise ConnectionRefusedError(f"test network: {host} is not reachable")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return fake


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so handlers that stall (bounded anyway) finish promptly."""
    event = threading.Event()
    yield event
    event.set()


def resolver_for(table: dict[str, list[str]], calls: list[str] | None = None) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def fetch_error(fetcher: Fetcher, url: str, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, **kwargs)
    return info.value


def start(h: BaseHTTPRequestHandler, status: int = 200, **headers: str) -> None:
    """Send a status line and headers (underscores in names become dashes)."""
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.flush()


def trickle(h: BaseHTTPRequestHandler, release: threading.Event, interval: float = 0.2, limit: int = 40) -> None:
    """Write one byte every ``interval`` seconds (bounded) until the client goes away."""
    for _ in range(limit):
        if release.wait(interval):
            break
        try:
            h.wfile.write(b"a")
        except OSError:
            break
    h.close_connection = True


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


TRUNCATED_GZIP = gzip.compress(random.Random(0).randbytes(5000))[:-40]  # cut inside the deflate data


@functools.cache
def gzip_bomb(size: int = 50 * 1024 * 1024) -> bytes:
    """``size`` zero bytes gzipped (~50 KB), built without holding the plain text in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.flush()


# --- addresses --------------------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::7f00:1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::1",
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:101::1",
    "not-an-ip", "", "2130706433", "127.1",
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
          "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_non_public_addresses_are_refused(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_are_allowed(ip: str) -> None:
    assert is_public_address(ip) is True


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "app.localhost", "metadata.google.internal",
                                  "metadata.google.internal."])
def test_blocked_hostnames_are_refused_without_resolving(host: str) -> None:
    calls: list[str] = []
    with pytest.raises(FetchError) as info:
        check_host(host, 80, resolver_for({}, calls), allow_private=False)
    assert info.value.reason == "blocked_address"
    assert calls == []


def test_check_host_refuses_when_any_address_is_private() -> None:
    resolve = resolver_for({"mixed.example": [PUBLIC_IP, "10.0.0.7"]})
    with pytest.raises(FetchError) as info:
        check_host("mixed.example", 80, resolve, allow_private=False)
    assert info.value.reason == "blocked_address"
    assert check_host("mixed.example", 80, resolve, allow_private=True) == [PUBLIC_IP, "10.0.0.7"]


def test_check_host_dns_failures() -> None:
    for resolve in (resolver_for({}), resolver_for({"empty.example": []}),
                    resolver_for({"empty.example": ["bogus"]})):
        with pytest.raises(FetchError) as info:
            check_host("empty.example", 80, resolve, allow_private=True)
        assert info.value.reason == "dns_error"


def test_ip_literals_bypass_the_resolver() -> None:
    """An injected resolver cannot launder a literal loopback address."""
    calls: list[str] = []
    resolve = resolver_for({"127.0.0.1": [PUBLIC_IP]}, calls)
    with pytest.raises(FetchError, match="blocked_address"):
        check_host("127.0.0.1", 80, resolve, allow_private=False)
    assert check_host("[::1]", 80, resolve, allow_private=True) == ["::1"]
    assert calls == []


@pytest.mark.parametrize(("url", "reason"), [
    ("", "invalid_url"),
    ("not a url", "invalid_url"),
    ("example.com/page", "invalid_url"),
    ("http://", "invalid_url"),
    ("http://exa mple.com/", "invalid_url"),
    ("http://[::1/", "invalid_url"),
    ("http://example.com:99999/", "invalid_url"),
    ("http://exa%6dple.com/", "invalid_url"),
    ("http://example.com/\r\nX-Injected: 1", "invalid_url"),
    ("file:///etc/passwd", "blocked_scheme"),
    ("ftp://example.com/file", "blocked_scheme"),
    ("data:text/html,<h1>hi</h1>", "blocked_scheme"),
    ("javascript:alert(1)", "blocked_scheme"),
    ("gopher://example.com:70/_GET", "blocked_scheme"),
    ("https://user:pw@example.com/", "credentials_in_url"),
    ("https://company.com@evil.example/", "credentials_in_url"),
    ("https://@example.com/", "credentials_in_url"),
    ("http://example.com\\@evil.example/", "credentials_in_url"),
])
def test_url_validation(url: str, reason: str, network: FakeNetwork) -> None:
    with Fetcher(STRICT, resolver=resolver_for({})) as fetcher:
        assert fetch_error(fetcher, url).reason == reason
    assert network.attempts == []


def test_parse_target_normalises_host_and_keeps_path() -> None:
    target = parse_target("HTTPS://Bücher.Example./a b?q=1#frag")
    assert (target.scheme, target.host, target.port, target.path) == ("https", "xn--bcher-kva.example", 443,
                                                                       "/a b?q=1")
    assert target.host_header == "xn--bcher-kva.example"
    assert parse_target("http://[::1]:8080/").host_header == "[::1]:8080"
    assert parse_target("http://[::1]:8080/").pinned_url("::1") == "http://[::1]:8080/"


# --- SSRF through the fetcher -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "localhost", "app.localhost",
                                  "2130706433", "0x7f000001", "127.1", "0177.0.0.1"])
def test_loopback_in_any_spelling_is_blocked(local_server: LocalServer, network: FakeNetwork, host: str) -> None:
    """Numeric spellings go through the real getaddrinfo, which turns them into 127.0.0.1."""
    local_server.add("/", "secret")
    with Fetcher(STRICT) as fetcher:
        err = fetch_error(fetcher, f"http://{host}:{local_server.port}/")
    assert err.reason == "blocked_address"
    assert local_server.requests == []
    assert network.attempts == []


def test_alternate_loopback_spelling_reaches_loopback_when_allowed(local_server: LocalServer) -> None:
    local_server.add("/", "demo page")
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(f"http://127.1:{local_server.port}/")
    assert result.body == b"demo page"


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://intranet.example/", "http://[fd00::1]/", "http://100.64.1.1/"])
def test_private_and_metadata_targets_are_blocked_before_connecting(url: str, network: FakeNetwork) -> None:
    resolve = resolver_for({"intranet.example": ["10.0.0.7"]})
    with Fetcher(STRICT, resolver=resolve) as fetcher:
        assert fetch_error(fetcher, url).reason == "blocked_address"
    assert network.attempts == []


def test_public_host_is_fetched_from_the_vetted_address(local_server: LocalServer, network: FakeNetwork) -> None:
    local_server.add("/", "public page")
    network.routes[PUBLIC_IP] = local_server.port
    with Fetcher(STRICT, resolver=resolver_for({"www.example": [PUBLIC_IP]})) as fetcher:
        result = fetcher.fetch("http://www.example/")
    assert (result.status, result.body, result.final_url) == (200, b"public page", "http://www.example/")
    assert local_server.requests[0].headers["host"] == "www.example"
    assert network.attempts == [PUBLIC_IP]


def test_dns_rebinding_cannot_reach_the_private_server(local_server: LocalServer, network: FakeNetwork) -> None:
    """The resolver answers public first and 127.0.0.1 after; the connection must use the first answer."""
    local_server.add("/", "internal admin")
    answers = iter([[PUBLIC_IP]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers, ["127.0.0.1"])

    with LocalServer() as public:
        public.add("/", "public page")
        network.routes[PUBLIC_IP] = public.port
        with Fetcher(STRICT, resolver=rebinding) as fetcher:
            result = fetcher.fetch(f"http://rebind.example:{local_server.port}/")
        assert result.body == b"public page"
        assert public.requests[0].headers["host"] == f"rebind.example:{local_server.port}"
    assert local_server.requests == []
    assert calls == ["rebind.example"]
    assert network.attempts == [PUBLIC_IP]


@pytest.mark.parametrize("location", ["http://127.0.0.1:{port}/admin", "http://intranet.example/",
                                      "http://169.254.169.254/latest/meta-data/", "http://localhost:{port}/"])
def test_redirect_to_private_target_is_blocked(local_server: LocalServer, network: FakeNetwork,
                                               location: str) -> None:
    location = location.format(port=local_server.port)
    local_server.add("/go", Route("", status=302, headers={"Location": location}))
    local_server.add("/admin", "internal admin")
    network.routes[PUBLIC_IP] = local_server.port
    resolve = resolver_for({"www.example": [PUBLIC_IP], "intranet.example": ["10.0.0.7"]})
    with Fetcher(STRICT, resolver=resolve) as fetcher:
        err = fetch_error(fetcher, "http://www.example/go")
    assert err.reason == "blocked_address"
    assert err.url == location
    assert local_server.requested_paths() == ["/go"]
    assert network.attempts == [PUBLIC_IP]


def test_proxy_environment_neither_disables_checks_nor_reroutes(local_server: LocalServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    local_server.add("/", "direct")
    with LocalServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.base_url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        with Fetcher(STRICT) as fetcher:
            assert fetch_error(fetcher, local_server.url("/")).reason == "blocked_address"
        with Fetcher(LOCAL) as fetcher:
            assert fetcher.fetch(local_server.url("/")).body == b"direct"
        assert proxy.requests == []
    assert local_server.requested_paths() == ["/"]


# --- deadline ---------------------------------------------------------------------------------------


def test_slow_loris_body_hits_the_total_deadline(local_server: LocalServer, release: threading.Event) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Content_Length="1000")
        trickle(h, release)

    local_server.add("/slow", slow)
    began = time.monotonic()
    with Fetcher(FetchPolicy(allow_private_addresses=True, deadline_seconds=1.0)) as fetcher:
        err = fetch_error(fetcher, local_server.url("/slow"))
    assert err.reason == "timeout"
    assert 0.9 <= time.monotonic() - began < 1.6


def test_stall_mid_body_is_cut_at_the_deadline_not_a_read_timeout_later(local_server: LocalServer,
                                                                      release: threading.Event) -> None:
    """Each socket read is bounded by what is left of the deadline, not by the time left at send."""
    def stall(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Content_Length="100")
        release.wait(0.5)
        h.wfile.write(b"<html>")
        release.wait(5)

    local_server.add("/stall", stall)
    began = time.monotonic()
    with Fetcher(FetchPolicy(allow_private_addresses=True, deadline_seconds=1.0)) as fetcher:
        assert fetch_error(fetcher, local_server.url("/stall")).reason == "timeout"
    assert time.monotonic() - began < 1.3


def test_server_that_never_answers_times_out(local_server: LocalServer, release: threading.Event) -> None:
    local_server.add("/silent", lambda h: release.wait(5))
    began = time.monotonic()
    with Fetcher(FetchPolicy(allow_private_addresses=True, deadline_seconds=0.5)) as fetcher:
        assert fetch_error(fetcher, local_server.url("/silent")).reason == "timeout"
    assert time.monotonic() - began < 1.2


def test_redirect_body_is_never_read(local_server: LocalServer, release: threading.Event) -> None:
    """A 302 that trickles a huge body must not stall or bloat the fetch."""
    def slow_redirect(h: BaseHTTPRequestHandler) -> None:
        start(h, 302, Location="/final", Content_Length="100000000")
        trickle(h, release)

    local_server.add("/moved", slow_redirect)
    local_server.add("/final", "arrived")
    began = time.monotonic()
    with Fetcher(FetchPolicy(allow_private_addresses=True, deadline_seconds=3.0)) as fetcher:
        result = fetcher.fetch(local_server.url("/moved"))
    assert result.body == b"arrived"
    assert time.monotonic() - began < 1.0


# --- size caps and content-coding -------------------------------------------------------------------


def test_huge_content_length_is_refused_before_the_body(local_server: LocalServer,
                                                        release: threading.Event) -> None:
    def huge(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Content_Length=str(2 * 1024**3))
        release.wait(5)

    local_server.add("/huge", huge)
    began = time.monotonic()
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/huge")).reason == "too_large"
    assert time.monotonic() - began < 1.0


def test_chunked_body_growing_past_the_cap_is_aborted(local_server: LocalServer) -> None:
    sent = []

    def endless(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Transfer_Encoding="chunked")
        for _ in range(100):  # 6.4 MB at most
            try:
                h.wfile.write(chunk(b"x" * 65536))
            except OSError:
                break
            sent.append(1)
        h.close_connection = True

    local_server.add("/grow", endless)
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=256 * 1024, deadline_seconds=5.0)
    with Fetcher(policy) as fetcher:
        assert fetch_error(fetcher, local_server.url("/grow")).reason == "too_large"


def test_gzip_bomb_is_capped_with_bounded_memory(local_server: LocalServer) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 100_000
    local_server.add("/bomb", Route(bomb, headers={"Content-Encoding": "gzip"}))
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=1024 * 1024, deadline_seconds=5.0)
    with Fetcher(policy) as fetcher:
        tracemalloc.start()
        try:
            err = fetch_error(fetcher, local_server.url("/bomb"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert err.reason == "too_large"
    assert peak < 8 * 1024 * 1024


def test_body_exactly_at_the_cap_is_accepted(local_server: LocalServer) -> None:
    local_server.add("/exact", Route(gzip.compress(b"y" * 4096), headers={"Content-Encoding": "gzip"}))
    policy = FetchPolicy(allow_private_addresses=True, max_bytes=4096, deadline_seconds=5.0)
    with Fetcher(policy) as fetcher:
        assert fetcher.fetch(local_server.url("/exact")).body == b"y" * 4096


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", _raw_deflate),
    ("identity", lambda data: data),
    ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
    ("GZIP, identity, gzip", lambda data: gzip.compress(gzip.compress(data))),
    ("gzip", lambda data: gzip.compress(data[:500]) + gzip.compress(data[500:])),  # two members
])
def test_supported_content_codings_are_decoded(local_server: LocalServer, encoding: str,
                                               encode: Callable[[bytes], bytes]) -> None:
    page = ("<html><body>" + "Sales enablement. " * 200 + "</body></html>").encode()
    local_server.add("/page", Route(encode(page), headers={"Content-Encoding": encoding}))
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/page"))
    assert result.body == page
    assert local_server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(("encoding", "body", "reason"), [
    ("gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(b"hi"))), "unsupported_encoding"),
    ("br", b"\x0b\x01\x80hi\x03", "unsupported_encoding"),
    ("compress", b"\x1f\x9d", "unsupported_encoding"),
    ("gzip", b"<html>not gzip at all</html>", "unsupported_encoding"),
    ("gzip", TRUNCATED_GZIP, "dataloss"),
])
def test_bad_content_codings_are_refused(local_server: LocalServer, encoding: str, body: bytes,
                                         reason: str) -> None:
    local_server.add("/bad", Route(body, headers={"Content-Encoding": encoding}))
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/bad")).reason == reason


def test_caller_cannot_advertise_encodings_we_cannot_decode(local_server: LocalServer) -> None:
    local_server.add("/", "ok")
    with Fetcher(LOCAL) as fetcher:
        fetcher.fetch(local_server.url("/"), headers={"Accept-Encoding": "br, zstd", "Host": "evil.example"})
    assert local_server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert local_server.requests[0].headers["host"] == f"127.0.0.1:{local_server.port}"


def test_maybe_gunzip() -> None:
    xml = b"<?xml version='1.0'?><urlset/>"
    assert maybe_gunzip(xml, 1000) == xml
    assert maybe_gunzip(gzip.compress(xml), 1000) == xml
    assert maybe_gunzip(gzip.compress(gzip.compress(xml)), 1000) == xml
    for data, reason in [(gzip_bomb(), "too_large"), (TRUNCATED_GZIP, "dataloss"),
                         (gzip.compress(gzip.compress(gzip.compress(xml))), "unsupported_encoding"),
                         (b"x" * 20_000, "too_large")]:
        with pytest.raises(FetchError) as info:
            maybe_gunzip(data, 10_000)
        assert info.value.reason == reason


# --- redirects --------------------------------------------------------------------------------------


def test_redirect_chain_with_relative_locations(local_server: LocalServer) -> None:
    local_server.add("/dir/a", Route("", status=301, headers={"Location": "b"}))
    local_server.add("/dir/b", Route("", status=307, headers={"Location": "/c?x=1"}))
    local_server.add("/c", Route("", status=308, headers={"Location": local_server.url("/final")}))
    local_server.add("/final", "done")
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/dir/a"))
    assert (result.status, result.body) == (200, b"done")
    assert result.url == local_server.url("/dir/a")
    assert result.final_url == local_server.url("/final")
    assert result.redirects == [local_server.url(p) for p in ("/dir/b", "/c?x=1", "/final")]


def test_redirect_loop_is_detected(local_server: LocalServer) -> None:
    local_server.add("/a", Route("", status=302, headers={"Location": "/b"}))
    local_server.add("/b", Route("", status=302, headers={"Location": "/a"}))
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/a")).reason == "too_many_redirects"
    assert local_server.requested_paths() == ["/a", "/b"]


def test_redirect_limit(local_server: LocalServer) -> None:
    for i in range(6):
        local_server.add(f"/h{i}", Route("", status=302, headers={"Location": f"/h{i + 1}"}))
    local_server.add("/h6", "end")
    policy = FetchPolicy(allow_private_addresses=True, max_redirects=3, deadline_seconds=5.0)
    with Fetcher(policy) as fetcher:
        assert fetch_error(fetcher, local_server.url("/h0")).reason == "too_many_redirects"
        assert local_server.requested_paths() == ["/h0", "/h1", "/h2", "/h3"]
        assert fetcher.fetch(local_server.url("/h3")).body == b"end"  # exactly 3 redirects is fine


@pytest.mark.parametrize(("location", "reason"), [
    ("file:///etc/passwd", "blocked_scheme"),
    ("gopher://127.0.0.1:70/_x", "blocked_scheme"),
    ("javascript:alert(1)", "blocked_scheme"),
    ("http://user:pw@127.0.0.1:{port}/", "credentials_in_url"),
    ("http://company.com@127.0.0.1:{port}/", "credentials_in_url"),
    ("http://[::1", "invalid_url"),
])
def test_every_redirect_hop_is_revalidated(local_server: LocalServer, location: str, reason: str) -> None:
    location = location.format(port=local_server.port)
    local_server.add("/go", Route("", status=302, headers={"Location": location}))
    with Fetcher(LOCAL) as fetcher:
        err = fetch_error(fetcher, local_server.url("/go"))
    assert (err.reason, err.url) == (reason, location)
    assert local_server.requested_paths() == ["/go"]


def test_secrets_are_not_forwarded_to_another_host(local_server: LocalServer) -> None:
    port = local_server.port
    local_server.add("/same", Route("", status=302, headers={"Location": "/landing"}))
    local_server.add("/away", Route("", status=302, headers={"Location": f"http://other.test:{port}/landing"}))
    local_server.add("/landing", "ok")
    secrets = {"Authorization": "Bearer t0ken", "Cookie": "session=1", "If-None-Match": '"v1"'}
    resolve = resolver_for({"other.test": ["127.0.0.1"]})
    with Fetcher(LOCAL, resolver=resolve) as fetcher:
        fetcher.fetch(local_server.url("/same"), headers=secrets)
        fetcher.fetch(local_server.url("/away"), headers=secrets)
    same_start, same_landing, away_start, away_landing = (r.headers for r in local_server.requests)
    for seen in (same_start, same_landing, away_start):
        assert (seen["authorization"], seen["cookie"]) == ("Bearer t0ken", "session=1")
    assert away_landing["host"] == f"other.test:{port}"
    assert "authorization" not in away_landing and "cookie" not in away_landing
    assert away_landing["if-none-match"] == '"v1"'


def test_redirect_without_location_is_returned(local_server: LocalServer) -> None:
    local_server.add("/odd", Route("moved somewhere", status=302))
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/odd"))
    assert (result.status, result.redirects) == (302, [])


# --- rate limiting ----------------------------------------------------------------------------------


def flaky(failures: int, status: int = 503, retry_after: str = "0") -> Callable[[BaseHTTPRequestHandler], None]:
    count = [0]

    def handler(h: BaseHTTPRequestHandler) -> None:
        count[0] += 1
        if count[0] <= failures:
            start(h, status, Retry_After=retry_after, Content_Length="0")
        else:
            start(h, 200, Content_Type="text/html", Content_Length="2")
            h.wfile.write(b"ok")

    return handler


def test_503_with_retry_after_is_retried(local_server: LocalServer) -> None:
    local_server.add("/busy", flaky(1))
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/busy"))
    assert (result.status, result.body) == (200, b"ok")
    assert local_server.requested_paths() == ["/busy", "/busy"]


def test_http_date_retry_after_in_the_past_means_now(local_server: LocalServer) -> None:
    local_server.add("/busy", flaky(1, 429, "Wed, 21 Oct 2015 07:28:00 GMT"))
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.fetch(local_server.url("/busy")).status == 200


def test_retries_are_bounded(local_server: LocalServer) -> None:
    local_server.add("/busy", flaky(100, 429))
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/busy")).reason == "rate_limited"
    assert len(local_server.requests) == 1 + LOCAL.max_retries


@pytest.mark.parametrize(("retry_after", "deadline"), [("60", 5.0), ("5", 1.0)])
def test_long_retry_after_gives_up_at_once(local_server: LocalServer, retry_after: str, deadline: float) -> None:
    local_server.add("/busy", flaky(1, 503, retry_after))
    began = time.monotonic()
    policy = FetchPolicy(allow_private_addresses=True, deadline_seconds=deadline)
    with Fetcher(policy) as fetcher:
        assert fetch_error(fetcher, local_server.url("/busy")).reason == "rate_limited"
    assert time.monotonic() - began < 0.5
    assert len(local_server.requests) == 1


def test_503_without_retry_after_is_a_result(local_server: LocalServer) -> None:
    local_server.add("/down", Route("down", status=503))
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.fetch(local_server.url("/down")).status == 503
    assert len(local_server.requests) == 1


# --- broken transfers -------------------------------------------------------------------------------


def test_short_body_is_dataloss(local_server: LocalServer) -> None:
    def short(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Content_Length="1000")
        h.wfile.write(b"only ten b")
        h.close_connection = True

    local_server.add("/short", short)
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/short")).reason == "dataloss"


def test_chunked_body_cut_off_is_dataloss(local_server: LocalServer) -> None:
    def cut(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type="text/html", Transfer_Encoding="chunked")
        h.wfile.write(chunk(b"<html>partial") + b"400\r\nabc")
        h.close_connection = True

    local_server.add("/cut", cut)
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/cut")).reason == "dataloss"


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens here
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, f"http://127.0.0.1:{port}/").reason == "connection_error"


def test_connection_closed_without_response(local_server: LocalServer) -> None:
    def hang_up(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True

    local_server.add("/bye", hang_up)
    with Fetcher(LOCAL) as fetcher:
        assert fetch_error(fetcher, local_server.url("/bye")).reason == "connection_error"


def test_next_address_is_tried_when_connecting_fails(local_server: LocalServer, network: FakeNetwork) -> None:
    local_server.add("/", "second address")
    resolve = resolver_for({"dual.test": ["::1", "10.9.9.9", "127.0.0.1"]})
    with Fetcher(LOCAL, resolver=resolve) as fetcher:
        assert fetcher.fetch(f"http://dual.test:{local_server.port}/").body == b"second address"
    assert network.attempts == ["::1", "10.9.9.9", "127.0.0.1"]


def test_unknown_host_is_dns_error(network: FakeNetwork) -> None:
    with Fetcher(STRICT, resolver=resolver_for({})) as fetcher:
        err = fetch_error(fetcher, "http://no-such-host.example/")
    assert (err.reason, err.url) == ("dns_error", "http://no-such-host.example/")
    assert str(err).startswith("dns_error: ")
    assert network.attempts == []


# --- content types, statuses, methods ---------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["image/png", "application/zip", "video/mp4"])
def test_unwanted_types_are_refused_before_the_body(local_server: LocalServer, media_type: str) -> None:
    size, sent, done = 5 * 1024 * 1024, [0], threading.Event()

    def binary(h: BaseHTTPRequestHandler) -> None:
        start(h, Content_Type=media_type, Content_Length=str(size))
        try:
            for _ in range(size // 65536):
                h.wfile.write(b"\0" * 65536)
                sent[0] += 65536
                time.sleep(0.002)
        except OSError:
            pass
        finally:
            h.close_connection = True
            done.set()

    local_server.add("/file", binary)
    seen: list[str] = []
    began = time.monotonic()
    with Fetcher(LOCAL) as fetcher:
        err = fetch_error(fetcher, local_server.url("/file"), accept=lambda t: seen.append(t) or t == "text/html")
    assert err.reason == "unsupported_type"
    assert time.monotonic() - began < 0.5
    assert seen == [media_type]
    assert done.wait(5)
    assert sent[0] < size


def test_accept_sees_the_bare_media_type_and_skips_error_statuses(local_server: LocalServer) -> None:
    local_server.add("/page", Route("<p>hi</p>", content_type="Text/HTML; charset=UTF-8"))
    seen: list[str] = []

    def accept(media_type: str) -> bool:
        seen.append(media_type)
        return media_type == "text/html"

    with Fetcher(LOCAL) as fetcher:
        assert fetcher.fetch(local_server.url("/page"), accept=accept).content_type == "text/html"
        assert fetcher.fetch(local_server.url("/missing"), accept=lambda t: False).status == 404
    assert seen == ["text/html"]


@pytest.mark.parametrize("status", [404, 410, 500])
def test_error_statuses_are_results(local_server: LocalServer, status: int) -> None:
    local_server.add("/x", Route(f"status {status}", status=status))
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/x"))
    assert (result.status, result.body) == (status, f"status {status}".encode())


def test_conditional_request_gets_304(local_server: LocalServer) -> None:
    def conditional(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            start(h, 304, ETag='"v1"')
        else:
            start(h, 200, ETag='"v1"', Content_Type="text/html", Content_Length="4")
            h.wfile.write(b"page")

    local_server.add("/doc", conditional)
    with Fetcher(LOCAL) as fetcher:
        first = fetcher.fetch(local_server.url("/doc"))
        again = fetcher.fetch(local_server.url("/doc"), headers={"If-None-Match": first.headers["etag"]})
    assert (first.status, first.body) == (200, b"page")
    assert (again.status, again.body) == (304, b"")


def test_head_request(local_server: LocalServer) -> None:
    local_server.add("/page", "<html>body</html>")
    with Fetcher(LOCAL) as fetcher:
        result = fetcher.fetch(local_server.url("/page"), method="HEAD")
        assert (result.status, result.body, result.content_type) == (200, b"", "text/html")
        with pytest.raises(ValueError):
            fetcher.fetch(local_server.url("/page"), method="POST")
    assert local_server.requests[0].method == "HEAD"


def test_connections_are_pooled(local_server: LocalServer) -> None:
    def whoami(h: BaseHTTPRequestHandler) -> None:
        body = str(h.client_address[1]).encode()
        start(h, Content_Type="text/plain", Content_Length=str(len(body)))
        h.wfile.write(body)

    local_server.add("/whoami", whoami)
    local_server.add("/gone", Route("", status=304))
    with Fetcher(LOCAL) as fetcher:
        ports = {fetcher.fetch(local_server.url("/whoami")).body for _ in range(2)}
        fetcher.fetch(local_server.url("/gone"))
        ports.add(fetcher.fetch(local_server.url("/whoami")).body)
    assert len(ports) == 1


def test_user_agent_and_result_fields(local_server: LocalServer) -> None:
    local_server.add("/", Route("hi", headers={"X-Robots-Tag": "noindex"}))
    with Fetcher(FetchPolicy(user_agent="TestBot/1", allow_private_addresses=True)) as fetcher:
        result = fetcher.fetch(local_server.url("/"))
    assert local_server.requests[0].headers["user-agent"] == "TestBot/1"
    assert result.headers["x-robots-tag"] == "noindex"
    assert result.charset == "utf-8"
    assert 0 < result.elapsed < 5


# --- text decoding ----------------------------------------------------------------------------------


def test_text_decoding_over_http(local_server: LocalServer) -> None:
    local_server.add("/bom", Route(codecs.BOM_UTF8 + "Café".encode(), content_type="text/html"))
    local_server.add("/lie", Route("Café “quoted”".encode("cp1252"), content_type="text/html; charset=utf-8"))
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.fetch(local_server.url("/bom")).text() == "Café"
        lie = fetcher.fetch(local_server.url("/lie")).text()
    assert lie == "Café “quoted”"  # mislabelled legacy page: read as windows-1252, not mojibake


def result_with(body: bytes, content_type: str = "") -> FetchResult:
    headers = {"content-type": content_type} if content_type else {}
    return FetchResult("http://x/", "http://x/", 200, headers, body, [], 0.0)


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ('<meta charset="windows-1252"><p>Café</p>'.encode("cp1252"), "text/html", "Café"),
    ('<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">Café “x”'.encode("cp1252"),
     "text/html", "Café “x”"),  # latin-1 labels mean windows-1252, as in browsers
    ("<?xml version='1.0' encoding='iso-8859-15'?><a>€</a>".encode("iso-8859-15"), "", "€"),
    ('<meta charset="utf-8">Café'.encode("cp1252"), "text/html; charset=cp1252", "Café"),  # header wins
    ("Café".encode(), "text/html; charset=no-such-charset", "Café"),
    ("Café".encode(), "text/html; charset=hex", "Café"),  # not a text codec
    ("Café".encode(), 'text/html; charset="UTF-8"', "Café"),
    ('<meta charset="utf-16">Café'.encode(), "text/html", "Café"),  # HTML: meta utf-16 means utf-8
    (codecs.BOM_UTF16_LE + "Café".encode("utf-16-le"), "text/html; charset=iso-8859-1", "Café"),
    (b"\xfa\xfb\xfc", "", "úûü"),  # not UTF-8 and undeclared: windows-1252
    (b"", "", ""),
])
def test_text_decoding_order(body: bytes, content_type: str, expected: str) -> None:
    assert expected in result_with(body, content_type).text()


def test_content_type_and_charset_properties() -> None:
    assert result_with(b"", "").content_type == ""
    assert result_with(b"", "").charset is None
    result = result_with(b"", "Application/XHTML+XML ; Charset='Windows-1252' ; q=1")
    assert (result.content_type, result.charset) == ("application/xhtml+xml", "windows-1252")


# --- HTTPS with a pinned address --------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=secure.test",
         "-addext", "subjectAltName=DNS:secure.test"],
        check=True, capture_output=True, timeout=30,
    )
    return str(cert), str(key)


@pytest.fixture
def tls_server(certificate: tuple[str, str]) -> Iterator[tuple[LocalServer, list[str]]]:
    """A LocalServer speaking TLS with a certificate for ``secure.test``; records the SNI names seen."""
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = LocalServer()
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server, names


def test_https_uses_the_original_name_for_sni_and_certificate(tls_server, certificate) -> None:
    server, names = tls_server
    server.add("/", "secure page")
    resolve = resolver_for({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with Fetcher(LOCAL, resolver=resolve) as fetcher:
        fetcher._session.verify = certificate[0]  # trust the test certificate (self-signed)
        result = fetcher.fetch(f"https://secure.test:{server.port}/")
        assert (result.status, result.body) == (200, b"secure page")
        assert names == ["secure.test"]
        assert server.requests[0].headers["host"] == f"secure.test:{server.port}"
        # Same IP, but the certificate does not cover other.test: verification is by name, not IP.
        assert fetch_error(fetcher, f"https://other.test:{server.port}/").reason == "connection_error"
