"""ingest.urls: canonicalisation, same-site test and crawl scope (checklist C-24..C-30)."""

from __future__ import annotations

import re
import time

import pytest

from ingest.urls import (
    MAX_URL_LENGTH,
    TRACKING_PARAMS,
    UrlError,
    UrlScope,
    canonicalize,
    same_site,
)

BASE = "https://example.com/blog/post/"

# (input, base, expected canonical form)
CANONICAL_CASES = [
    # scheme and host case, default ports, empty path
    ("HTTP://Example.COM", None, "http://example.com/"),
    ("http://example.com:80/a", None, "http://example.com/a"),
    ("https://example.com:443/", None, "https://example.com/"),
    ("http://example.com:443/", None, "http://example.com:443/"),  # 443 is not http's default
    ("https://example.com:80/", None, "https://example.com:80/"),
    ("https://example.com:8443/x", None, "https://example.com:8443/x"),
    ("http://example.com:0080/", None, "http://example.com/"),
    ("http://example.com:/x", None, "http://example.com/x"),
    ("http://example.com?a=1", None, "http://example.com/?a=1"),
    ("http://example.com./a", None, "http://example.com/a"),  # trailing root dot
    # fragments
    ("http://example.com/a#frag", None, "http://example.com/a"),
    ("http://example.com/#", None, "http://example.com/"),
    ("http://example.com/#!/ajax/route", None, "http://example.com/"),
    # resolution against a base
    ("../c?x=1", "http://example.com/a/b/page", "http://example.com/a/c?x=1"),
    ("//cdn.example.com/x", BASE, "https://cdn.example.com/x"),
    ("?page=2", "http://example.com/blog/", "http://example.com/blog/?page=2"),
    ("#top", "http://example.com/a", "http://example.com/a"),
    ("", "http://example.com/a?b=1", "http://example.com/a?b=1"),
    ("other", BASE, "https://example.com/blog/post/other"),
    ("/abs", BASE, "https://example.com/abs"),
    ("https://other.example/x", BASE, "https://other.example/x"),  # absolute wins over base
    # HTML entities left in hrefs (semicolon form only)
    ("/search?q=a&amp;page=2", BASE, "https://example.com/search?page=2&q=a"),
    ("http://example.com/?a=1&#38;b=2", None, "http://example.com/?a=1&b=2"),
    ("http://example.com/?a=1&#x26;b=2", None, "http://example.com/?a=1&b=2"),
    ("http://example.com/a?x=1&copy=2", None, "http://example.com/a?copy=2&x=1"),  # not "©=2"
    # tracking parameters dropped, others sorted (stable, blanks kept)
    ("http://example.com/p?utm_source=a&UTM_Medium=b&id=42", None, "http://example.com/p?id=42"),
    ("http://example.com/p?b=2&a=1&c", None, "http://example.com/p?a=1&b=2&c"),
    ("http://example.com/p?a=2&a=1", None, "http://example.com/p?a=2&a=1"),
    ("http://example.com/p?b=&a", None, "http://example.com/p?a&b="),
    ("http://example.com/p?", None, "http://example.com/p"),
    ("http://example.com/p?&&a=1&&", None, "http://example.com/p?a=1"),
    ("http://example.com/p?gclid=1", None, "http://example.com/p"),
    ("http://example.com/p?utm=1", None, "http://example.com/p?utm=1"),  # only the utm_ prefix
    ("http://example.com/p?x=1;utm_source=2", None, "http://example.com/p?x=1;utm_source=2"),  # ; not a sep
    # dot segments
    ("http://example.com/a/./b/../c/", None, "http://example.com/a/c/"),
    ("http://example.com/a/b/..", None, "http://example.com/a/"),
    ("http://example.com/a/b/.", None, "http://example.com/a/b/"),
    ("http://example.com/../../x", None, "http://example.com/x"),
    ("http://example.com/%2E%2E/x", None, "http://example.com/x"),
    ("http://example.com/a/%2e/b", None, "http://example.com/a/b"),
    # trailing slash and duplicate slashes are kept (servers differ)
    ("http://example.com/x/", None, "http://example.com/x/"),
    ("http://example.com/x", None, "http://example.com/x"),
    ("http://example.com//a//b", None, "http://example.com//a//b"),
    # percent-encoding: upper-case hex, unreserved decoded, reserved kept, unsafe encoded
    ("http://example.com/%7euser/%41%62c", None, "http://example.com/~user/Abc"),
    ("http://example.com/a%2fb", None, "http://example.com/a%2Fb"),
    ("http://example.com/a%2Bb", None, "http://example.com/a%2Bb"),
    ("http://example.com/a%3fb", None, "http://example.com/a%3Fb"),
    ("http://example.com/a%23b", None, "http://example.com/a%23b"),
    ("http://example.com/caf%c3%a9", None, "http://example.com/caf%C3%A9"),
    ("http://example.com/café", None, "http://example.com/caf%C3%A9"),
    ("http://example.com/日本", None, "http://example.com/%E6%97%A5%E6%9C%AC"),
    ("http://example.com/a b", None, "http://example.com/a%20b"),
    ("http://example.com/?q=a b", None, "http://example.com/?q=a%20b"),
    ("http://example.com/?q=a+b", None, "http://example.com/?q=a+b"),
    ("http://example.com/?q=%7e&r=%3d&s=%26", None, "http://example.com/?q=~&r=%3D&s=%26"),
    ("http://example.com/%", None, "http://example.com/%25"),
    ("http://example.com/100%25", None, "http://example.com/100%25"),
    ("http://example.com/%zz", None, "http://example.com/%25zz"),
    ('http://example.com/a<b>"{}|^`', None, "http://example.com/a%3Cb%3E%22%7B%7D%7C%5E%60"),
    ("http://example.com/a\\b", None, "http://example.com/a%5Cb"),
    ("http://example.com/?a[]=1", None, "http://example.com/?a%5B%5D=1"),
    ("http://example.com/?next=/a/b?c", None, "http://example.com/?next=/a/b?c"),
    # apostrophes: raw and escaped forms are the same page
    ("http://example.com/blog/why-we're-friends/", None, "http://example.com/blog/why-we're-friends/"),
    ("http://example.com/blog/why-we%27re-friends/", None, "http://example.com/blog/why-we're-friends/"),
    ("http://example.com/?q=it%27s", None, "http://example.com/?q=it's"),
    # internationalised and literal hosts
    ("http://Bücher.example/", None, "http://xn--bcher-kva.example/"),
    ("http://straße.de/", None, "http://xn--strae-oqa.de/"),
    ("http://XN--BCHER-KVA.example/", None, "http://xn--bcher-kva.example/"),
    ("http://☃.net/", None, "http://xn--n3h.net/"),  # IDNA 2008 refuses symbols; browsers don't
    ("http://[::1]:8080/", None, "http://[::1]:8080/"),
    ("http://[0:0::1]/", None, "http://[::1]/"),
    ("http://127.0.0.1:8000/x", None, "http://127.0.0.1:8000/x"),
    ("http://my_host.internal/", None, "http://my_host.internal/"),
    # whitespace and control characters around / inside the href
    ("  http://example.com/a\n ", None, "http://example.com/a"),
    ("http://exa\tmple.com/b\r\nc", None, "http://example.com/bc"),
    ("\x00http://example.com/\x1f", None, "http://example.com/"),
]


@pytest.mark.parametrize(("url", "base", "expected"), CANONICAL_CASES)
def test_canonicalize_table(url, base, expected):
    assert canonicalize(url, base=base) == expected


@pytest.mark.parametrize("name", sorted(TRACKING_PARAMS - {"utm_"}) + ["utm_source", "utm_campaign", "UTM_x"])
def test_each_tracking_param_is_dropped(name):
    assert canonicalize(f"https://example.com/p?{name}=v&keep=1") == "https://example.com/p?keep=1"


def test_apostrophe_forms_are_one_url():
    forms = [
        "https://example.com/blog/why-we're-friends/",
        "https://example.com/blog/why-we%27re-friends/",
        "https://example.com/blog/why-we&#39;re-friends/",
        "https://EXAMPLE.com:443/blog/why-we%27re-friends/#comments",
    ]
    assert len({canonicalize(f) for f in forms}) == 1


# Inputs chosen to break naive canonicalisers on the second pass.
IDEMPOTENCY_EXTRA = [
    "http://example.com/?a=1&%61mp;=2",  # rebuilds "&amp;" after unreserved decoding
    "http://example.com/?amp0=1&%61mp;=2",  # ... and must not change sort order next time
    "http://example.com/a&%61mp;b",
    "http://example.com/?a=&amp;amp;",  # double-escaped entity
    "http://example.com/%2525",
    "http://example.com/%%41",
    "http://example.com/?%26=%3D",
    "http://example.com/?b=%20&a=+",
    "http://example.com/a/%2E./b",
    "http://example.com/./%2e%2E/../x",
    "http://example.com/?q=%E2%82%AC&r=€",
    "http://example.com/&#37;41",  # entity that decodes to "%"
    "http://example.com/x&#32;",
    "http://example.com/?utm_source=x&utm_source=y",
    "http://example.com/?=&=x&a",
    "http://example.com/path;jsessionid=ABC?x=1",
    "http://example.com/~a/!$'()*,;=:@/",
    "HTTP://WWW.EXAMPLE.COM:80/A/B/../C/./D.HTML?B=2&A=1#X",
]


@pytest.mark.parametrize("url", [c[0] for c in CANONICAL_CASES if c[1] is None] + IDEMPOTENCY_EXTRA)
def test_idempotent(url):
    once = canonicalize(url)
    assert canonicalize(once) == once


@pytest.mark.parametrize(("url", "base"), [(c[0], c[1]) for c in CANONICAL_CASES if c[1]])
def test_idempotent_with_base(url, base):
    once = canonicalize(url, base=base)
    assert canonicalize(once) == once
    assert canonicalize(once, base="https://unrelated.example/") == once


ERROR_CASES = [
    ("javascript:alert(1)", "blocked_scheme"),
    ("JavaScript:void(0)", "blocked_scheme"),
    ("mailto:sales@example.com", "blocked_scheme"),
    ("tel:+15551234", "blocked_scheme"),
    ("ftp://example.com/file", "blocked_scheme"),
    ("file:///etc/passwd", "blocked_scheme"),
    ("data:text/html,<script>alert(1)</script>", "blocked_scheme"),
    ("about:blank", "blocked_scheme"),
    ("/relative/without/base", "blocked_scheme"),
    ("http://user:pass@example.com/", "credentials_in_url"),
    ("http://user@example.com/", "credentials_in_url"),
    ("https://:secret@example.com/", "credentials_in_url"),
    ("http:///path", "missing_host"),
    ("http://", "missing_host"),
    ("http://example.com:99999/", "invalid_port"),
    ("http://example.com:abc/", "invalid_port"),
    ("http://exa mple.com/", "invalid_host"),
    ("http://ex!ample.com/", "invalid_host"),
    ("http://example..com/", "invalid_host"),
    ("http://[::zz]/", "invalid_url"),
    ("http://example.com/" + "a" * MAX_URL_LENGTH, "url_too_long"),
    ("http://example.com/" + "a" * 100_000, "url_too_long"),
]


@pytest.mark.parametrize(("url", "reason"), ERROR_CASES)
def test_canonicalize_errors(url, reason):
    with pytest.raises(UrlError) as info:
        canonicalize(url)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_relative_url_with_bad_scheme_base():
    with pytest.raises(UrlError) as info:
        canonicalize("page", base="ftp://example.com/dir/")
    assert info.value.reason == "blocked_scheme"


def test_length_limit_is_on_the_canonical_form():
    prefix = "http://example.com/"
    exact = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert canonicalize(exact) == exact
    with pytest.raises(UrlError):
        canonicalize(exact + "a")
    # Long only because of tracking junk: fine once canonical.
    noisy = prefix + "?" + "utm_source=xxxxxxxx&" * 150 + "id=1"
    assert len(noisy) > MAX_URL_LENGTH
    assert canonicalize(noisy) == prefix + "?id=1"


def test_error_message_is_bounded():
    with pytest.raises(UrlError) as info:
        canonicalize("http://example.com/" + "a" * 10_000)
    assert len(str(info.value)) < 300


SAME_SITE_CASES = [
    ("http://example.com/x", ["example.com"], True),
    ("https://EXAMPLE.com:443/x", ["example.com"], True),
    ("http://example.com:80/", ["example.com"], True),
    ("https://example.com/", ["Example.COM"], True),
    ("https://example.com/", ["example.com:443"], True),
    ("http://example.com./", ["example.com"], True),
    ("http://www.example.com/", ["example.com"], False),  # www. is not auto-equal
    ("http://example.com/", ["www.example.com"], False),
    ("http://sub.example.com/", ["example.com"], False),
    ("http://example.com.evil.net/", ["example.com"], False),
    ("http://evil.net/?u=example.com", ["example.com"], False),
    ("http://example.com:8080/", ["example.com"], False),
    ("http://example.com:8080/", ["example.com:8080"], True),
    ("http://example.com/", ["example.com:8080"], False),
    ("http://bücher.example/", ["xn--bcher-kva.example"], True),
    ("http://xn--bcher-kva.example/", ["bücher.example"], True),
    ("http://example.com/", ["other.net", "example.com"], True),
    ("http://example.com/", [], False),
    ("javascript:alert(1)", ["example.com"], False),
    ("http://user:pw@example.com/", ["example.com"], False),
    ("not a url", ["example.com"], False),
]


@pytest.mark.parametrize(("url", "hosts", "expected"), SAME_SITE_CASES)
def test_same_site(url, hosts, expected):
    assert same_site(url, hosts) is expected


SCOPE = UrlScope(
    hosts=frozenset({"example.com"}),
    include=(r"^/blog/", r"^/docs/"),
    exclude=(r"/tag/", r"[?&]page=\d{3,}"),
    max_depth=3,
)

SCOPE_CASES = [
    ("https://example.com/blog/post", 0, None),
    ("HTTPS://EXAMPLE.COM:443/blog/post#f", 0, None),
    ("https://example.com/docs/guide?page=2", 1, None),
    ("https://example.com/blog/post", 3, None),
    ("https://example.com/blog/post", 4, "too_deep"),
    ("https://other.com/blog/x", 0, "off_site"),
    ("https://www.example.com/blog/x", 0, "off_site"),
    ("https://example.com:8443/blog/x", 0, "off_site"),
    ("https://example.com/blog/tag/sales", 0, "excluded_pattern"),
    ("https://example.com/docs/?page=100", 0, "excluded_pattern"),
    ("https://example.com/about", 0, "not_included"),
    ("https://example.com/", 0, "not_included"),
    ("https://example.com/blog/" + "a" * 2100, 0, "url_too_long"),
    ("https://example.com/blog/a/b/a/b/a/b/", 0, "repeated_segments"),
    ("https://example.com/blog/x/x/x", 0, "repeated_segments"),
    ("https://example.com/blog/cal/2024/cal/2024/cal/2024/", 0, "repeated_segments"),
    ("https://example.com/blog/a/b/c/a/b/c/a/b/c/d", 0, "repeated_segments"),
    ("https://example.com/blog/a/b/a/b/", 0, None),  # only twice
    ("https://example.com/blog/a/a/b", 0, None),
    ("mailto:sales@example.com", 0, "blocked_scheme"),
    ("javascript:alert(1)", 0, "blocked_scheme"),
    ("ftp://example.com/blog/x", 0, "blocked_scheme"),
    ("https://u:p@example.com/blog/x", 0, "credentials_in_url"),
    ("https://example.com/blog/logo.PNG", 0, "non_page_extension"),
    ("https://example.com/blog/a.jpg", 0, "non_page_extension"),
    ("https://example.com/blog/a.gif", 0, "non_page_extension"),
    ("https://example.com/blog/a.svg", 0, "non_page_extension"),
    ("https://example.com/blog/site.css", 0, "non_page_extension"),
    ("https://example.com/blog/app.js", 0, "non_page_extension"),
    ("https://example.com/blog/pack.zip", 0, "non_page_extension"),
    ("https://example.com/blog/deck.pdf", 0, "non_page_extension"),
    ("https://example.com/blog/demo.mp4", 0, "non_page_extension"),
    ("https://example.com/blog/pod.mp3", 0, "non_page_extension"),
    ("https://example.com/blog/font.woff2", 0, "non_page_extension"),
    ("https://example.com/blog/x.png?v=3", 0, "non_page_extension"),
    ("https://example.com/blog/x.png;jsessionid=1", 0, "non_page_extension"),
    ("https://example.com/blog/post.html", 0, None),
    ("https://example.com/blog/index.php?id=1", 0, None),
    ("https://example.com/blog/v1.2/", 0, None),
    ("https://example.com/blog/pngs-explained", 0, None),
]


@pytest.mark.parametrize(("url", "depth", "reason"), SCOPE_CASES)
def test_scope_check(url, depth, reason):
    assert SCOPE.check(url, depth) == reason


def test_scope_defaults_include_everything_on_site():
    scope = UrlScope(hosts=frozenset({"Example.com"}))
    assert scope.check("https://example.com/anything?x=1") is None
    assert scope.check("https://example.com/a", depth=5) is None
    assert scope.check("https://example.com/a", depth=6) == "too_deep"


def test_scope_hosts_with_ports_and_urls():
    scope = UrlScope(hosts=frozenset({"localhost:8000", "https://docs.example.com"}))
    assert scope.check("http://localhost:8000/x") is None
    assert scope.check("http://localhost/x") == "off_site"
    assert scope.check("https://docs.example.com/x") is None


def test_scope_exclude_wins_over_include():
    scope = UrlScope(hosts=frozenset({"example.com"}), include=("/blog/",), exclude=("/blog/",))
    assert scope.check("https://example.com/blog/x") == "excluded_pattern"


def test_scope_patterns_see_path_and_query_only():
    scope = UrlScope(hosts=frozenset({"example.com"}), exclude=(r"example\.com", r"lang=de"))
    assert scope.check("https://example.com/a") is None
    assert scope.check("https://example.com/a?lang=de") == "excluded_pattern"


def test_scope_bad_regex_fails_at_construction():
    with pytest.raises(re.error):
        UrlScope(hosts=frozenset({"example.com"}), include=("(unclosed",))


def test_scope_is_frozen_and_hashable():
    scope = UrlScope(hosts=frozenset({"example.com"}))
    with pytest.raises(AttributeError):
        scope.max_depth = 9  # type: ignore[misc]
    assert scope == UrlScope(hosts=frozenset({"example.com"}))
    hash(scope)


def test_repeated_segment_check_is_fast_on_long_paths():
    path = "/".join(f"s{i}" for i in range(400))  # ~2000 chars, no repetition
    start = time.perf_counter()
    assert UrlScope(hosts=frozenset({"example.com"})).check(f"https://example.com/{path}") is None
    assert time.perf_counter() - start < 0.5


def test_scope_rejects_a_bare_string_of_hosts():
    with pytest.raises(TypeError):
        UrlScope(hosts="example.com")  # type: ignore[arg-type]
