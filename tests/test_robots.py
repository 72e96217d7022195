"""ingest.robots: HTTP outcome handling and rule semantics (checklist C-31..C-34)."""

from __future__ import annotations

import pytest

from ingest.robots import MAX_ROBOTS_BYTES, RobotsPolicy, robots_policy, robots_url
from ingest.urls import UrlError

UA = "SmarketingKB"
FULL_UA = "Mozilla/5.0 (compatible; SmarketingKB/0.1; +https://kb.example/bot)"
SITE = "https://example.com"

ROBOTS = b"""# Example robots.txt
User-agent: *
Disallow: /private/
Disallow: /*.pdf$
Allow: /private/public-page
Crawl-delay: 2

User-agent: smarketingkb
Disallow: /no-kb/
Allow: /no-kb/except
Crawl-delay: 5

Sitemap: https://example.com/sitemap.xml
Sitemap: https://example.com/news-sitemap.xml.gz
"""

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"

# (status, body, expected reason, whether "/" is allowed)
STATUS_CASES = [
    (None, None, "unavailable", False),  # timeout / refused / too many redirects
    (None, ROBOTS, "unavailable", False),
    (500, b"", "unavailable", False),
    (502, b"<html><body>Bad gateway</body></html>", "unavailable", False),  # Protego would allow-all this
    (503, b"User-agent: *\nAllow: /\n", "unavailable", False),  # a 5xx body is never trusted
    (599, b"", "unavailable", False),
    (429, b"", "unavailable", False),  # rate limited: back off, as Google does
    (301, b"", "unavailable", False),  # a redirect the fetcher did not follow
    (304, b"", "unavailable", False),
    (100, b"", "unavailable", False),
    (600, b"", "unavailable", False),
    (400, b"", "missing", True),
    (401, b"", "missing", True),
    (403, DISALLOW_ALL, "missing", True),  # RFC 9309: 4xx means "no robots.txt", body ignored
    (404, b"<html>Not found</html>", "missing", True),
    (410, b"", "missing", True),
    (451, b"", "missing", True),
    (200, DISALLOW_ALL, "parsed", False),
    (200, b"", "parsed", True),
    (200, None, "parsed", True),
    (203, DISALLOW_ALL, "parsed", False),
    (204, None, "parsed", True),
]


@pytest.mark.parametrize(("status", "body", "reason", "root_allowed"), STATUS_CASES)
def test_status_handling(status, body, reason, root_allowed):
    policy = robots_policy(status, body, UA)
    assert isinstance(policy, RobotsPolicy)
    assert policy.reason == reason
    assert policy.allowed(f"{SITE}/") is root_allowed
    assert policy.allowed(f"{SITE}/some/page?x=1") is root_allowed


@pytest.mark.parametrize("status", [None, 404, 500])
def test_no_rules_means_no_delay_and_no_sitemaps(status):
    policy = robots_policy(status, ROBOTS, UA)
    assert policy.crawl_delay is None
    assert policy.sitemaps == []


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>Welcome</body></html>",
        b"<!doctype html>\n<html lang=en>Disallow: /",
        b"\xef\xbb\xbf  \n<HTML><head><title>Home</title></head></html>",
        b"<html>\nUser-agent: *\nDisallow: /\n</html>",
    ],
)
def test_html_body_with_200_means_no_rules(body):
    policy = robots_policy(200, body, UA)
    assert policy.reason == "parsed"
    assert policy.allowed(f"{SITE}/")
    assert policy.allowed(f"{SITE}/private/x")


# (user agent, path, allowed) against ROBOTS
RULE_CASES = [
    # our own group is selected, the "*" group does not apply to us
    (UA, "/private/x", True),
    (UA, "/no-kb/x", False),
    (UA, "/no-kb/", False),
    (UA, "/no-kb/except", True),  # longer Allow wins
    (UA, "/no-kb/except/deeper", True),
    (UA, "/a.pdf", True),
    ("smarketingkb", "/no-kb/x", False),  # case-insensitive product token
    (FULL_UA, "/no-kb/x", False),  # full User-Agent header works too
    (FULL_UA, "/private/x", True),
    # any other bot falls back to "*"
    ("OtherBot", "/private/x", False),
    ("OtherBot", "/private/public-page", True),  # longest match: Allow is longer
    ("OtherBot", "/a.pdf", False),  # * wildcard and $ anchor
    ("OtherBot", "/dir/b.pdf", False),
    ("OtherBot", "/a.pdf?download=1", True),  # $ anchors at the end
    ("OtherBot", "/a.pdfx", True),
    ("OtherBot", "/no-kb/x", True),
    ("NotSmarketingKB", "/private/x", False),  # token boundary: not our group
    # robots.txt itself is always fetchable
    (UA, "/robots.txt", True),
]


@pytest.mark.parametrize(("ua", "path", "allowed"), RULE_CASES)
def test_rules(ua, path, allowed):
    assert robots_policy(200, ROBOTS, ua).allowed(SITE + path) is allowed


def test_crawl_delay_and_sitemaps_follow_group():
    ours = robots_policy(200, ROBOTS, UA)
    theirs = robots_policy(200, ROBOTS, "OtherBot")
    assert ours.crawl_delay == 5.0
    assert theirs.crawl_delay == 2.0
    assert ours.sitemaps == [
        "https://example.com/sitemap.xml",
        "https://example.com/news-sitemap.xml.gz",
    ]
    assert theirs.sitemaps == ours.sitemaps


# (robots body, path, allowed) for UA
SEMANTICS_CASES = [
    (b"User-agent: *\nAllow: /page\nDisallow: /page\n", "/page", True),  # tie: Allow wins
    (b"User-agent: *\nDisallow: /page\nAllow: /page\n", "/page", True),  # order does not matter
    (b"User-agent: *\nDisallow: /\nAllow: /blog/\n", "/blog/post", True),
    (b"User-agent: *\nDisallow: /\nAllow: /blog/\n", "/about", False),
    (b"User-agent: *\nDisallow: /*/secret\n", "/a/secret", False),
    (b"User-agent: *\nDisallow: /*/secret\n", "/secret", True),
    (b"User-agent: *\nDisallow: /*?\n", "/search?q=x", False),
    (b"User-agent: *\nDisallow: /*?\n", "/search", True),
    (b"User-agent: *\nDisallow: /$\n", "/", False),
    (b"User-agent: *\nDisallow: /$\n", "/page", True),
    (b"User-agent: *\nDisallow:\n", "/anything", True),  # empty Disallow = allow all
    (b"User-agent: *\nDisallow: /caf%C3%A9\n", "/caf%C3%A9", False),
    (b"User-agent: *\nDisallow: /tmp\n", "/tmpfile", False),  # prefix match
    (b"User-agent: *\nDisallow: /Tmp\n", "/tmp", True),  # paths are case-sensitive
    (b"User-agent: other\nDisallow: /\n", "/x", True),  # no group for us, no * group
    (b"User-agent: smarketingkb\nUser-agent: other\nDisallow: /shared\n", "/shared", False),  # grouped UAs
    (b"Disallow: /orphan\n", "/orphan", True),  # rule before any User-agent line is ignored
    # garbage is tolerated, rules around it still apply
    (b"\x00\xff\xfe garbage\n<<<>>>\nnot a directive\nUser-agent: *\nDisallow: /x\n", "/x", False),
    (b"User-agent: *\nDisallow: /caf\xe9\nDisallow: /y\n", "/y", False),  # invalid UTF-8
    (b"\xef\xbb\xbfUser-agent: *\nDisallow: /bom\n", "/bom", False),  # BOM stripped
    (b"User-agent: *\r\nDisallow: /crlf\r\n", "/crlf", False),
    (b"User-agent: *\rDisallow: /cr\r", "/cr", False),
    (b"user-agent : *\ndisallow : /spaced # comment\n", "/spaced", False),
]


@pytest.mark.parametrize(("body", "path", "allowed"), SEMANTICS_CASES)
def test_matching_semantics(body, path, allowed):
    assert robots_policy(200, body, UA).allowed(SITE + path) is allowed


@pytest.mark.parametrize(
    ("line", "expected"),
    [("Crawl-delay: 10", 10.0), ("Crawl-delay: 0.5", 0.5), ("Crawl-delay: abc", None), ("Crawl-delay: -3", None)],
)
def test_crawl_delay_values(line, expected):
    assert robots_policy(200, f"User-agent: *\n{line}\n".encode(), UA).crawl_delay == expected


def test_only_first_512_kib_is_parsed():
    head = b"User-agent: *\nDisallow: /early\n"
    padding = b"# " + b"x" * 1000 + b"\n"
    body = head + padding * (MAX_ROBOTS_BYTES // len(padding) + 5) + b"Disallow: /late\n"
    assert len(body) > MAX_ROBOTS_BYTES
    policy = robots_policy(200, body, UA)
    assert not policy.allowed(f"{SITE}/early")
    assert policy.allowed(f"{SITE}/late")


def test_line_cut_at_the_limit_is_dropped():
    # The limit falls inside "Disallow: /private-area": half of it ("/priv") would block /privacy.
    rule = b"Disallow: /private-area\n"
    head = b"User-agent: *\n"
    filler_len = MAX_ROBOTS_BYTES - len(head) - len(b"Disallow: /priv")
    filler = (b"#" * 99 + b"\n") * (filler_len // 100) + b"#" * (filler_len % 100 - 1) + b"\n"
    body = head + filler + rule
    assert body[:MAX_ROBOTS_BYTES].endswith(b"Disallow: /priv")
    policy = robots_policy(200, body, UA)
    assert policy.allowed(f"{SITE}/privacy")


def test_huge_garbage_body_is_fast():
    import time

    body = bytes(range(256)) * 40_000  # 10 MB of binary junk
    start = time.perf_counter()
    policy = robots_policy(200, body, UA)
    assert policy.allowed(f"{SITE}/x")
    assert time.perf_counter() - start < 2


ROBOTS_URL_CASES = [
    ("https://Example.com:443/a/b?c=1#d", "https://example.com/robots.txt"),
    ("http://example.com:80/x", "http://example.com/robots.txt"),
    ("http://example.com:8080/x", "http://example.com:8080/robots.txt"),
    ("https://www.example.com", "https://www.example.com/robots.txt"),
    ("http://bücher.example/x", "http://xn--bcher-kva.example/robots.txt"),
    ("http://[::1]:8000/x", "http://[::1]:8000/robots.txt"),
]


@pytest.mark.parametrize(("page", "expected"), ROBOTS_URL_CASES)
def test_robots_url(page, expected):
    assert robots_url(page) == expected


@pytest.mark.parametrize("page", ["mailto:a@example.com", "/relative", "http://u:p@example.com/"])
def test_robots_url_rejects_uncrawlable(page):
    with pytest.raises(UrlError):
        robots_url(page)
