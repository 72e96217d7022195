"""ingest.sitemaps: safe bounded parsing and the nested-sitemap walker (checklist C-35..C-39)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from ingest.sitemaps import (
    MAX_DEPTH,
    MAX_URLS,
    ParsedSitemap,
    SitemapEntry,
    SitemapWalker,
    parse_lastmod,
    parse_sitemap,
)

SM_URL = "https://example.com/sitemaps/sitemap.xml"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
VIDEO_NS = 'xmlns:video="http://www.google.com/schemas/sitemap-video/1.1"'


def urlset(*urls: str, ns: str = NS, extra_ns: str = "") -> bytes:
    body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {ns} {extra_ns}>{body}</urlset>'.encode()


def index(*locs: str, ns: str = NS) -> bytes:
    body = "".join(f"<sitemap><loc>{u}</loc><lastmod>2024-01-01</lastmod></sitemap>" for u in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {ns}>{body}</sitemapindex>'.encode()


def locs(parsed: ParsedSitemap) -> list[str]:
    return [e.loc for e in parsed.entries]


# ---------------------------------------------------------------- well-formed input


@pytest.mark.parametrize("ns", [NS, "", 'xmlns="http://www.google.com/schemas/sitemap/0.84"'])
def test_urlset_with_or_without_namespace(ns):
    parsed = parse_sitemap(urlset("https://example.com/a", "https://example.com/b", ns=ns), SM_URL)
    assert parsed.kind == "urlset"
    assert parsed.error is None
    assert locs(parsed) == ["https://example.com/a", "https://example.com/b"]
    assert parsed.children == []


def test_prefixed_namespace_and_uppercase_bom_and_whitespace():
    body = (
        b"\xef\xbb\xbf\n\n  <?xml version='1.0'?><!-- generated -->"
        b'<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sm:url><sm:loc>https://example.com/x</sm:loc></sm:url></sm:urlset>"
    )
    assert locs(parse_sitemap(body, SM_URL)) == ["https://example.com/x"]


# (raw <loc> text, expected canonical loc or None when skipped)
LOC_CASES = [
    ("https://example.com/a", "https://example.com/a"),
    ("  \n https://example.com/padded \t", "https://example.com/padded"),
    ("/root-relative", "https://example.com/root-relative"),
    ("relative.html", "https://example.com/sitemaps/relative.html"),
    ("https://example.com/q?b=2&amp;a=1", "https://example.com/q?a=1&b=2"),
    ("<![CDATA[https://example.com/cdata]]>", "https://example.com/cdata"),
    ("HTTPS://EXAMPLE.COM:443/Case#frag", "https://example.com/Case"),
    ("https://example.com/p?utm_source=sitemap", "https://example.com/p"),
    ("https://other.example/cross-host", "https://other.example/cross-host"),  # scope is the crawler's job
    ("javascript:alert(1)", None),
    ("mailto:x@example.com", None),
    ("ftp://example.com/file", None),
    ("https://user:pw@example.com/", None),
    ("", None),
    ("   ", None),
    ("https://example.com/" + "a" * 3000, None),
]


@pytest.mark.parametrize(("raw", "expected"), LOC_CASES)
def test_loc_resolution(raw, expected):
    body = urlset("https://example.com/first", raw)
    parsed = parse_sitemap(body, SM_URL)
    assert parsed.kind == "urlset"
    if expected is None:
        assert locs(parsed) == ["https://example.com/first"]
        assert any("skipped 1 invalid <loc>" in w for w in parsed.warnings)
    else:
        assert locs(parsed) == ["https://example.com/first", expected]
        assert not parsed.warnings


def test_url_without_loc_is_counted_as_invalid():
    body = f"<urlset {NS}><url><lastmod>2024-01-01</lastmod></url><url><loc>https://e.com/a</loc></url>"
    parsed = parse_sitemap((body + "</urlset>").encode(), SM_URL)
    assert locs(parsed) == ["https://e.com/a"]
    assert parsed.warnings == ["skipped 1 invalid <loc> value(s)"]


def test_lastmod_and_videos():
    body = f"""<urlset {NS} {VIDEO_NS}>
      <url><loc>https://example.com/v</loc><lastmod>2024-05-06T07:08:09+02:00</lastmod>
        <video:video>
          <video:title>Demo &amp; pricing</video:title>
          <video:description> Ten minutes </video:description>
          <video:content_loc>https://cdn.example.com/v.mp4</video:content_loc>
          <video:player_loc>https://example.com/player?id=1</video:player_loc>
          <video:thumbnail_loc>https://example.com/t.jpg</video:thumbnail_loc>
          <video:duration>600</video:duration>
          <video:publication_date>2024-05-01</video:publication_date>
          <video:family_friendly>yes</video:family_friendly>
        </video:video>
        <video:video><video:title>Second</video:title></video:video>
      </url>
      <url><loc>https://example.com/plain</loc><lastmod>not a date</lastmod></url>
    </urlset>""".encode()
    parsed = parse_sitemap(body, SM_URL)
    first, second = parsed.entries
    assert first.lastmod == datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC)
    assert first.videos == (
        {
            "title": "Demo & pricing",
            "description": "Ten minutes",
            "content_loc": "https://cdn.example.com/v.mp4",
            "player_loc": "https://example.com/player?id=1",
            "thumbnail_loc": "https://example.com/t.jpg",
            "duration": "600",
            "publication_date": "2024-05-01",
        },
        {"title": "Second"},
    )
    assert second == SitemapEntry(loc="https://example.com/plain", lastmod=None, videos=())
    assert parsed.warnings == ["ignored 1 unparseable <lastmod> value(s)"]


LASTMOD_CASES = [
    ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-05", datetime(2024, 5, 1, tzinfo=UTC)),
    ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
    ("2024-05-06T07:08Z", datetime(2024, 5, 6, 7, 8, tzinfo=UTC)),
    ("2024-05-06T07:08:09+02:00", datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC)),
    ("2024-05-06T07:08:09.123456-05:00", datetime(2024, 5, 6, 12, 8, 9, 123456, tzinfo=UTC)),
    ("2024-05-06 07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),  # naive taken as UTC
    ("  2024-05-06T00:00:00Z \n", datetime(2024, 5, 6, tzinfo=UTC)),
    ("Mon, 06 May 2024 07:08:09 GMT", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("Mon, 06 May 2024 07:08:09 +0100", datetime(2024, 5, 6, 6, 8, 9, tzinfo=UTC)),
    ("", None),
    (None, None),
    ("yesterday", None),
    ("2024-13-01", None),
    ("2024-00", None),
    ("0000-00-00", None),
    ("2024-05-06T25:00:00Z", None),
    ("9" * 50, None),
]


@pytest.mark.parametrize(("text", "expected"), LASTMOD_CASES)
def test_parse_lastmod(text, expected):
    value = parse_lastmod(text)
    assert value == expected
    if value is not None:
        assert value.tzinfo is UTC


def test_sitemap_index():
    parsed = parse_sitemap(index("/sitemap-posts.xml", "sitemap-pages.xml", "https://cdn.example.com/s.xml"), SM_URL)
    assert parsed.kind == "index"
    assert parsed.entries == []
    assert parsed.children == [
        "https://example.com/sitemap-posts.xml",
        "https://example.com/sitemaps/sitemap-pages.xml",
        "https://cdn.example.com/s.xml",
    ]


def test_sitemap_index_without_namespace_skips_bad_children():
    parsed = parse_sitemap(index("https://example.com/a.xml", "javascript:x", ns=""), SM_URL)
    assert parsed.kind == "index"
    assert parsed.children == ["https://example.com/a.xml"]
    assert parsed.warnings == ["skipped 1 invalid <loc> value(s)"]


def test_empty_urlset_is_valid():
    parsed = parse_sitemap(f"<urlset {NS}/>".encode(), SM_URL)
    assert (parsed.kind, parsed.entries, parsed.error) == ("urlset", [], None)


def test_nested_non_entry_elements_are_ignored():
    body = f"<urlset {NS}><foo><url><loc>https://e.com/nested</loc></url></foo><url><loc>https://e.com/ok</loc></url></urlset>"
    assert locs(parse_sitemap(body.encode(), SM_URL)) == ["https://e.com/ok"]


# ---------------------------------------------------------------- plain-text sitemaps

TEXT_CASES = [
    (b"https://example.com/a\nhttps://example.com/b\n", ["https://example.com/a", "https://example.com/b"], []),
    (
        b"\xef\xbb\xbfhttps://example.com/a\r\n\r\n  https://example.com/b  \r\n",
        ["https://example.com/a", "https://example.com/b"],
        [],
    ),
    (
        b"https://example.com/a\nnot a url\n/relative\nmailto:x@example.com\n",
        ["https://example.com/a"],
        ["skipped 3 invalid <loc> value(s)"],
    ),
]


@pytest.mark.parametrize(("body", "expected", "warnings"), TEXT_CASES)
def test_text_sitemap(body, expected, warnings):
    parsed = parse_sitemap(body, "https://example.com/sitemap.txt")
    assert parsed.kind == "urlset"
    assert locs(parsed) == expected
    assert parsed.warnings == warnings


# ---------------------------------------------------------------- not sitemaps

NOT_A_SITEMAP_CASES = [
    b"<!DOCTYPE html><html><head><title>Page not found</title></head><body>Sorry</body></html>",
    b"<!doctype html>\n<html><body><a href='https://example.com/a'>https://example.com/a</a></body></html>",
    b"\n\n   <html><body>soft 404</body></html>",
    b"<!-- cms --><!DOCTYPE html><html></html>",
    b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body/></html>",
    b'{"urls": ["https://example.com/a"]}',
    b'[{"loc": "https://example.com/a"}]',
    b'<?xml version="1.0"?><rss version="2.0"><channel><item><link>https://e.com/a</link></item></channel></rss>',
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="https://e.com/a"/></entry></feed>',
    b"<note><to>Tove</to></note>",
    b"User-agent: *\nDisallow: /\n",
    b"Hello, this is plain text.\nhttps://example.com/a\n",
]


@pytest.mark.parametrize("body", NOT_A_SITEMAP_CASES)
def test_not_a_sitemap(body):
    parsed = parse_sitemap(body, SM_URL)
    assert parsed.kind == "invalid"
    assert parsed.error == "not a sitemap"
    assert parsed.entries == [] and parsed.children == []


def test_feed_is_named_in_the_warning():
    parsed = parse_sitemap(b'<rss version="2.0"><channel/></rss>', SM_URL)
    assert "RSS/Atom feed" in parsed.warnings[0]


@pytest.mark.parametrize(
    ("body", "error_start"),
    [
        (b"", "empty sitemap"),
        (b" \n\t ", "empty sitemap"),
        (b"\xef\xbb\xbf", "empty sitemap"),
        (b"<urlset><url><lo", "malformed XML"),
        (b"<?xml version='1.0'?>", "malformed XML"),
        (b"<urlset></sitemapindex>", "malformed XML"),
        ("<urlset/>".encode("utf-16"), "sitemap is not UTF-8"),
        ("<urlset/>".encode("utf-16-le"), "sitemap is not UTF-8"),
    ],
)
def test_invalid_bodies(body, error_start):
    parsed = parse_sitemap(body, SM_URL)
    assert parsed.kind == "invalid"
    assert parsed.error.startswith(error_start)
    assert parsed.entries == []


def test_truncated_xml_keeps_entries_before_the_error():
    # e.g. a download cut short: the complete <url> elements are still good
    body = urlset("https://example.com/1", "https://example.com/2").removesuffix(b"</urlset>")
    parsed = parse_sitemap(body, SM_URL)
    assert parsed.kind == "urlset"
    assert locs(parsed) == ["https://example.com/1", "https://example.com/2"]
    assert parsed.warnings[0].startswith("malformed XML, kept entries before the error")


# ---------------------------------------------------------------- hostile XML

XXE_BODIES = [
    # classic external entity
    b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://e.com/&xxe;</loc></url></urlset>""",
    # parameter entity pulling an external DTD
    b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>
<urlset><url><loc>https://e.com/a</loc></url></urlset>""",
    # external DTD subset
    b"""<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "file:///etc/passwd">
<urlset><url><loc>https://e.com/a</loc></url></urlset>""",
    # network DTD
    b"""<?xml version="1.0"?><!DOCTYPE urlset PUBLIC "-//x//y" "http://127.0.0.1:9/evil.dtd">
<urlset><url><loc>https://e.com/a</loc></url></urlset>""",
    # lower-case / spaced declaration keyword
    b"""<?xml version="1.0"?><!doctype urlset [<!entity xxe SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>&xxe;</loc></url></urlset>""",
]


@pytest.mark.parametrize("body", XXE_BODIES)
def test_xxe_is_rejected_without_file_contents(body):
    parsed = parse_sitemap(body, SM_URL)
    assert parsed.kind == "invalid"
    assert "DOCTYPE" in parsed.error
    assert parsed.entries == []
    dumped = repr(parsed)
    assert "root:" not in dumped and "/bin/" not in dumped


def _billion_laughs(where: str) -> bytes:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    doctype = "<!DOCTYPE urlset [" + "".join(entities) + "]>"
    if where == "text":
        return f'<?xml version="1.0"?>{doctype}<urlset><url><loc>https://e.com/&lol9;</loc></url></urlset>'.encode()
    return f'<?xml version="1.0"?>{doctype}<urlset a="&lol9;"><url><loc>https://e.com/</loc></url></urlset>'.encode()


def _quadratic_blowup() -> bytes:
    big = "x" * 50_000
    refs = "&big;" * 50_000
    return f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY big "{big}">]><urlset><url><loc>{refs}</loc></url></urlset>'.encode()


@pytest.mark.parametrize("body", [_billion_laughs("text"), _billion_laughs("attribute"), _quadratic_blowup()])
def test_entity_expansion_is_rejected_fast(body):
    start = time.perf_counter()
    parsed = parse_sitemap(body, SM_URL)
    assert time.perf_counter() - start < 1.0
    assert parsed.kind == "invalid"
    assert parsed.entries == []
    assert "lollol" not in repr(parsed)


def test_undeclared_entity_is_malformed_not_resolved():
    parsed = parse_sitemap(b"<urlset><url><loc>https://e.com/&nbsp;&xxe;</loc></url></urlset>", SM_URL)
    assert parsed.kind == "invalid"
    assert parsed.error.startswith("malformed XML")


def test_deep_nesting_is_bounded():
    body = b"<urlset>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</urlset>"
    start = time.perf_counter()
    parsed = parse_sitemap(body, SM_URL)
    assert time.perf_counter() - start < 2.0
    assert parsed.entries == []


# ---------------------------------------------------------------- size limits


def test_url_cap_small():
    parsed = parse_sitemap(urlset(*(f"https://e.com/{i}" for i in range(12))), SM_URL, max_urls=10)
    assert locs(parsed) == [f"https://e.com/{i}" for i in range(10)]
    assert parsed.warnings == ["more than 10 URLs: kept the first 10"]


def test_exactly_the_cap_gives_no_warning():
    parsed = parse_sitemap(urlset(*(f"https://e.com/{i}" for i in range(10))), SM_URL, max_urls=10)
    assert len(parsed.entries) == 10 and parsed.warnings == []


def test_text_sitemap_cap():
    body = "\n".join(f"https://e.com/{i}" for i in range(8)).encode()
    parsed = parse_sitemap(body, SM_URL, max_urls=5)
    assert len(parsed.entries) == 5
    assert parsed.warnings == ["more than 5 URLs: kept the first 5"]


def test_default_cap_is_50k():
    assert MAX_URLS == 50_000
    parsed = parse_sitemap(urlset(*(f"https://e.com/p{i}" for i in range(MAX_URLS + 1))), SM_URL)
    assert len(parsed.entries) == MAX_URLS
    assert parsed.entries[-1].loc == f"https://e.com/p{MAX_URLS - 1}"
    assert parsed.warnings == [f"more than {MAX_URLS} URLs: kept the first {MAX_URLS}"]


# ---------------------------------------------------------------- walker


def walk(walker: SitemapWalker, site: dict[str, object]) -> list[str]:
    """Run the crawler's loop over ``site``: url -> bytes | (final_url, bytes) | int status."""
    fetched = []
    while (url := walker.next_sitemap()) is not None:
        fetched.append(url)
        response = site.get(url, 404)
        if isinstance(response, int):
            walker.failed(url, f"HTTP {response}")
            continue
        final, body = response if isinstance(response, tuple) else (None, response)
        walker.feed(url, parse_sitemap(body, final or url), final_url=final)
    return fetched


S = "https://example.com"


def test_walker_single_urlset():
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    fetched = walk(walker, {f"{S}/sitemap.xml": urlset(f"{S}/a", f"{S}/b")})
    assert fetched == [f"{S}/sitemap.xml"]
    assert [e.loc for e in walker.entries] == [f"{S}/a", f"{S}/b"]
    assert walker.errors == {} and walker.warnings == []


def test_walker_index_with_children_and_dedup():
    site = {
        f"{S}/sitemap.xml": index(f"{S}/posts.xml", f"{S}/pages.xml"),
        f"{S}/posts.xml": urlset(f"{S}/p1", f"{S}/shared"),
        f"{S}/pages.xml": urlset(f"{S}/shared", f"{S}/about"),
    }
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    assert walk(walker, site) == [f"{S}/sitemap.xml", f"{S}/posts.xml", f"{S}/pages.xml"]
    assert [e.loc for e in walker.entries] == [f"{S}/p1", f"{S}/shared", f"{S}/about"]


def test_walker_roots_are_canonical_and_deduplicated():
    walker = SitemapWalker(["HTTPS://EXAMPLE.com:443/sitemap.xml#x", f"{S}/sitemap.xml", "ftp://x/s.xml"])
    assert walker.next_sitemap() == f"{S}/sitemap.xml"
    assert walker.next_sitemap() is None
    assert walker.errors == {"ftp://x/s.xml": "invalid sitemap URL: blocked_scheme"}
    assert walker.add_root(f"{S}/sitemap.xml") is False
    assert walker.add_root(f"{S}/other.xml") is True
    assert walker.next_sitemap() == f"{S}/other.xml"


def test_walker_index_listing_itself():
    site = {f"{S}/sitemap.xml": index(f"{S}/sitemap.xml", f"{S}/a.xml"), f"{S}/a.xml": urlset(f"{S}/x")}
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    assert walk(walker, site) == [f"{S}/sitemap.xml", f"{S}/a.xml"]
    assert [e.loc for e in walker.entries] == [f"{S}/x"]
    assert any("already seen" in w for w in walker.warnings)


def test_walker_two_indexes_in_a_cycle():
    site = {
        f"{S}/a.xml": index(f"{S}/b.xml"),
        f"{S}/b.xml": index(f"{S}/a.xml", f"{S}/leaf.xml"),
        f"{S}/leaf.xml": urlset(f"{S}/p"),
    }
    walker = SitemapWalker([f"{S}/a.xml"])
    assert walk(walker, site) == [f"{S}/a.xml", f"{S}/b.xml", f"{S}/leaf.xml"]
    assert [e.loc for e in walker.entries] == [f"{S}/p"]


def test_walker_cycle_through_redirect():
    # index lists b.xml, which redirects back to the index itself
    site = {
        f"{S}/sitemap.xml": index(f"{S}/b.xml"),
        f"{S}/b.xml": (f"{S}/sitemap.xml", index(f"{S}/b.xml")),
    }
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    assert walk(walker, site) == [f"{S}/sitemap.xml", f"{S}/b.xml"]
    assert any("redirected to already-seen sitemap" in w for w in walker.warnings)


def test_walker_redirect_target_is_marked_seen():
    site = {
        f"{S}/sitemap.xml": index(f"{S}/old.xml", f"{S}/second.xml"),
        f"{S}/old.xml": (f"{S}/new.xml", urlset(f"{S}/p")),
        f"{S}/second.xml": index(f"{S}/new.xml"),  # already fetched via the redirect
    }
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    fetched = walk(walker, site)
    assert f"{S}/new.xml" not in fetched
    assert [e.loc for e in walker.entries] == [f"{S}/p"]


def test_walker_depth_limit():
    chain = [f"{S}/level{i}.xml" for i in range(6)]
    site: dict[str, object] = {url: index(chain[i + 1]) for i, url in enumerate(chain[:-1])}
    site[chain[-1]] = urlset(f"{S}/deep")
    walker = SitemapWalker([chain[0]])
    fetched = walk(walker, site)
    assert MAX_DEPTH == 3
    assert fetched == chain[: MAX_DEPTH + 1]  # root (depth 0) .. depth 3
    assert walker.entries == []
    assert any("nesting deeper than 3" in w for w in walker.warnings)


def test_walker_depth_limit_allows_leaf_at_max_depth():
    site = {
        f"{S}/0.xml": index(f"{S}/1.xml"),
        f"{S}/1.xml": index(f"{S}/2.xml"),
        f"{S}/2.xml": urlset(f"{S}/leaf"),
    }
    walker = SitemapWalker([f"{S}/0.xml"], max_depth=2)
    walk(walker, site)
    assert [e.loc for e in walker.entries] == [f"{S}/leaf"]


def test_walker_failed_and_invalid_children_do_not_stop_the_others():
    site = {
        f"{S}/sitemap.xml": index(f"{S}/missing.xml", f"{S}/html.xml", f"{S}/ok.xml", f"{S}/broken.xml"),
        f"{S}/html.xml": b"<!DOCTYPE html><html><body>Not found</body></html>",
        f"{S}/ok.xml": urlset(f"{S}/fine"),
        f"{S}/broken.xml": b"<urlset><url><loc",
    }
    walker = SitemapWalker([f"{S}/sitemap.xml"])
    walk(walker, site)
    assert [e.loc for e in walker.entries] == [f"{S}/fine"]
    assert walker.errors[f"{S}/missing.xml"] == "HTTP 404"
    assert walker.errors[f"{S}/html.xml"] == "not a sitemap"
    assert walker.errors[f"{S}/broken.xml"].startswith("malformed XML")


def test_walker_total_url_cap():
    site = {
        f"{S}/sitemap.xml": index(f"{S}/a.xml", f"{S}/b.xml", f"{S}/c.xml"),
        f"{S}/a.xml": urlset(*(f"{S}/a{i}" for i in range(4))),
        f"{S}/b.xml": urlset(*(f"{S}/b{i}" for i in range(4))),
        f"{S}/c.xml": urlset(f"{S}/c0"),
    }
    walker = SitemapWalker([f"{S}/sitemap.xml"], max_urls=6)
    fetched = walk(walker, site)
    assert len(walker.entries) == 6
    assert f"{S}/c.xml" not in fetched  # nothing more is fetched once full
    assert any("URL limit of 6 reached" in w for w in walker.warnings)


def test_walker_sitemap_file_cap():
    site = {f"{S}/sitemap.xml": index(*(f"{S}/s{i}.xml" for i in range(10)))}
    site.update({f"{S}/s{i}.xml": urlset(f"{S}/p{i}") for i in range(10)})
    walker = SitemapWalker([f"{S}/sitemap.xml"], max_sitemaps=4)
    assert len(walk(walker, site)) == 4
    assert any("sitemap limit of 4 files reached" in w for w in walker.warnings)


def test_walker_warnings_name_the_sitemap():
    site = {f"{S}/s.xml": urlset(f"{S}/a", "javascript:x")}
    walker = SitemapWalker([f"{S}/s.xml"])
    walk(walker, site)
    assert walker.warnings == [f"{S}/s.xml: skipped 1 invalid <loc> value(s)"]


def test_walker_feed_for_unannounced_url():
    walker = SitemapWalker([])
    assert walker.next_sitemap() is None
    walker.feed(f"{S}/found-later.xml", parse_sitemap(urlset(f"{S}/x"), f"{S}/found-later.xml"))
    assert [e.loc for e in walker.entries] == [f"{S}/x"]
    assert walker.add_root(f"{S}/found-later.xml") is False


@pytest.mark.parametrize("body", XXE_BODIES[:4] + [_billion_laughs("text"), _billion_laughs("attribute")])
def test_parser_is_safe_even_without_the_declaration_prescan(monkeypatch, body):
    """Defence in depth: with the byte-level DOCTYPE check disabled, lxml's own settings
    (no entity resolution, no DTD loading, no network, size limits) must still hold."""
    import re

    import ingest.sitemaps as sitemaps

    monkeypatch.setattr(sitemaps, "_DECLARATION", re.compile(rb"(?!)"))
    start = time.perf_counter()
    parsed = sitemaps.parse_sitemap(body, SM_URL)
    assert time.perf_counter() - start < 1.0
    assert parsed.kind == "invalid"
    dumped = repr(parsed)
    assert "root:" not in dumped and "lollol" not in dumped


def test_entries_are_hashable_even_with_videos():
    entry = SitemapEntry("https://e.com/v", None, ({"title": "T"},))
    assert entry in {entry}
    assert entry == SitemapEntry("https://e.com/v", None, ({"title": "T"},))
