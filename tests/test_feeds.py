"""ingest.feeds: RSS/Atom/JSON Feed entries from hostile bytes (checklist C-40..C-41)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from ingest.feeds import FeedEntry, html_to_text, looks_like_feed, parse_feed

FEED_URL = "https://example.com/blog/feed/"


def rss(*items: str, channel_extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://example.com/blog/</link>{channel_extra}{''.join(items)}</channel></rss>"
    ).encode()


def item(title: str = "Post", link: str | None = "https://example.com/p", extra: str = "") -> str:
    link_xml = f"<link>{link}</link>" if link is not None else ""
    return f"<item><title>{title}</title>{link_xml}{extra}</item>"


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.com/news/">
  <title>News</title>
  <entry>
    <title type="html">Launch &lt;em&gt;day&lt;/em&gt; &amp;amp; more</title>
    <link href="post-1"/>
    <published>2024-01-02T03:04:05+01:00</published>
    <updated>2024-02-01T00:00:00Z</updated>
  </entry>
  <entry>
    <title type="text">1 &lt; 2</title>
    <link rel="enclosure" href="https://cdn.example.com/a.mp3"/>
    <link rel="alternate" href="/p2"/>
    <updated>2024-02-01T00:00:00Z</updated>
  </entry>
  <entry>
    <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X<b>HTML</b> title</div></title>
    <link href="https://example.com/p3"/>
  </entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://example.com/"><title>x</title><link>https://example.com/</link></channel>
  <item rdf:about="https://example.com/r1"><title>R1</title><link>https://example.com/r1</link>
    <dc:date>2024-02-03T04:05:06+01:00</dc:date></item>
</rdf:RDF>"""


def test_rss_basic():
    entries, warning = parse_feed(
        rss(item("First", "https://example.com/a", "<pubDate>Mon, 06 Sep 2021 16:45:00 +0200</pubDate>")),
        FEED_URL,
    )
    assert warning is None
    assert entries == [
        FeedEntry(
            link="https://example.com/a",
            title="First",
            published=datetime(2021, 9, 6, 14, 45, tzinfo=UTC),
        )
    ]


def test_atom_base_titles_and_dates():
    entries, warning = parse_feed(ATOM, "https://example.com/atom.xml")
    assert warning is None
    assert [e.link for e in entries] == [
        "https://example.com/news/post-1",  # relative to xml:base
        "https://example.com/p2",  # rel=alternate chosen over the enclosure
        "https://example.com/p3",
    ]
    assert [e.title for e in entries] == ["Launch day & more", "1 < 2", "XHTML title"]
    assert entries[0].published == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert entries[1].published == datetime(2024, 2, 1, tzinfo=UTC)  # falls back to <updated>
    assert entries[2].published is None


def test_rss_1_0_rdf():
    entries, warning = parse_feed(RDF, "https://example.com/rdf")
    assert warning is None
    assert entries == [
        FeedEntry("https://example.com/r1", "R1", datetime(2024, 2, 3, 3, 5, 6, tzinfo=UTC)),
    ]


# (link as written in the feed, expected canonical link)
LINK_CASES = [
    ("https://example.com/abs", "https://example.com/abs"),
    ("/root-relative", "https://example.com/root-relative"),
    ("relative-post", "https://example.com/blog/feed/relative-post"),
    ("../sibling", "https://example.com/blog/sibling"),
    ("//cdn.example.com/x", "https://cdn.example.com/x"),
    ("  https://example.com/padded  ", "https://example.com/padded"),
    ("https://example.com/p?utm_source=rss&amp;utm_medium=feed&amp;id=7", "https://example.com/p?id=7"),
    ("HTTPS://EXAMPLE.COM/Case#comments", "https://example.com/Case"),
]


@pytest.mark.parametrize(("raw", "expected"), LINK_CASES)
def test_links_are_absolute_and_canonical(raw, expected):
    entries, warning = parse_feed(rss(item(link=raw)), FEED_URL)
    assert [e.link for e in entries] == [expected]
    assert warning is None


@pytest.mark.parametrize(
    "entry_xml",
    [
        item("No link", None),
        item("Empty link", ""),
        item("Script link", "javascript:alert(1)"),
        item("Mail link", "mailto:a@example.com"),
        item("Creds", "https://u:p@example.com/x"),
        '<item><title>Not a permalink</title><guid isPermaLink="false">tag:abc-123</guid></item>',
    ],
)
def test_entries_without_usable_link_are_skipped(entry_xml):
    entries, warning = parse_feed(rss(item("Good", "https://example.com/good"), entry_xml), FEED_URL)
    assert [e.title for e in entries] == ["Good"]
    assert warning == "skipped 1 entry without a usable link"


def test_permalink_guid_is_a_link():
    body = rss('<item><title>G</title><guid isPermaLink="true">https://example.com/g</guid></item>')
    assert [e.link for e in parse_feed(body, FEED_URL)[0]] == ["https://example.com/g"]


# (title XML as it appears in an RSS <title>, expected plain text)
TITLE_CASES = [
    ("Plain title", "Plain title"),
    ("  Lots   of \n whitespace  ", "Lots of whitespace"),
    ("Hello &lt;b&gt;World&lt;/b&gt;", "Hello World"),
    ("<![CDATA[<i>Cdata</i> title]]>", "Cdata title"),
    ("AT&amp;amp;T", "AT&T"),  # double-escaped ampersand
    ("a &lt; b", "a < b"),
    ("Caf&#233; &#x2014; menu", "Café — menu"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;Hi", "Hi"),
    ("<![CDATA[<script>alert(1)</script>Hi <b>there</b>]]>", "Hi there"),
    ("<![CDATA[<style>p{}</style><p>Para</p>]]>", "Para"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), TITLE_CASES)
def test_titles_are_plain_text(raw, expected):
    entries, _ = parse_feed(rss(item(raw)), FEED_URL)
    assert entries[0].title == expected


# (date element, expected UTC datetime)
DATE_CASES = [
    ("<pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate>", datetime(2003, 6, 10, 4, tzinfo=UTC)),
    ("<pubDate>Tue, 10 Jun 2003 04:00:00 EST</pubDate>", datetime(2003, 6, 10, 9, tzinfo=UTC)),
    ("<pubDate>Tue, 10 Jun 2003 04:00:00 +0530</pubDate>", datetime(2003, 6, 9, 22, 30, tzinfo=UTC)),
    ("<pubDate>2024-05-06T07:08:09Z</pubDate>", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("<pubDate>not a date</pubDate>", None),
    ("", None),
]


@pytest.mark.parametrize(("date_xml", "expected"), DATE_CASES)
def test_published_dates(date_xml, expected):
    entries, _ = parse_feed(rss(item(extra=date_xml)), FEED_URL)
    assert entries[0].published == expected
    if expected is not None:
        assert entries[0].published.tzinfo is UTC


def test_json_feed():
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JSON",
            "items": [
                {"id": "1", "url": "/j1", "title": "<b>J</b> one", "date_published": "2024-01-02T03:04:05+01:00"},
                {"id": "2", "external_url": "https://other.example/j2", "title": "Two"},
                {"id": "3", "title": "No link"},
                "garbage",
            ],
        }
    ).encode()
    entries, warning = parse_feed(body, FEED_URL)
    assert entries == [
        FeedEntry("https://example.com/j1", "J one", datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)),
        FeedEntry("https://other.example/j2", "Two", None),
    ]
    assert warning == "skipped 1 entry without a usable link"


# ---------------------------------------------------------------- malformed / not feeds


def test_malformed_feed_gives_partial_parse_and_warning():
    body = rss(item("One", "https://example.com/1"), item("Two", "https://example.com/2"))
    broken = body.replace(b"</channel></rss>", b"<item><title>Three</ti")
    entries, warning = parse_feed(broken, FEED_URL)
    assert [e.link for e in entries][:2] == ["https://example.com/1", "https://example.com/2"]
    assert warning is not None and warning.startswith("malformed feed")


def test_unescaped_ampersand_still_parses_with_warning():
    entries, warning = parse_feed(rss(item("Q&A session", "https://example.com/qa")), FEED_URL)
    assert [e.link for e in entries] == ["https://example.com/qa"]
    assert "Q" in entries[0].title
    assert warning.startswith("malformed feed")


def test_empty_feed_is_not_an_error():
    assert parse_feed(rss(), FEED_URL) == ([], None)


NOT_FEED_CASES = [
    b"",
    b"   \n",
    b"<!DOCTYPE html><html><head><title>Blog</title></head><body><a href='/p'>Post</a></body></html>",
    b"<html><body>404 not found</body></html>",
    b'{"error": "not found"}',
    b'{"version": "1.0", "items": [{"url": "https://example.com/x"}]}',  # JSON, but not JSON Feed
    b"[1, 2, 3]",
    b"https://example.com/a\nhttps://example.com/b\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://e.com/a</loc></url></urlset>',
    b"User-agent: *\nDisallow: /\n",
]


@pytest.mark.parametrize("body", NOT_FEED_CASES)
def test_not_a_feed(body):
    assert parse_feed(body, FEED_URL) == ([], "not a feed")


def test_string_that_looks_like_a_path_or_url_is_never_opened():
    # feedparser would open/fetch a *string* argument; bytes go through BytesIO.
    assert parse_feed(b"/etc/passwd", FEED_URL) == ([], "not a feed")
    assert parse_feed(b"http://127.0.0.1:9/feed.xml", FEED_URL) == ([], "not a feed")


# ---------------------------------------------------------------- hostile XML

XXE_FEEDS = [
    b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>&xxe;</title><item><title>A &xxe; B</title>
<link>https://example.com/a</link><description>&xxe;</description></item></channel></rss>""",
    b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0">
<channel><item><title>&xxe;</title><link>https://example.com/a</link></item></channel></rss>""",
    b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><rss version="2.0">
<channel><item><title>t</title><link>https://example.com/a</link></item></channel></rss>""",
    b"""<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file:///etc/passwd"><rss version="2.0">
<channel><item><title>t</title><link>https://example.com/a</link></item></channel></rss>""",
    b"""<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title><link href="&xxe;"/>
<link href="https://example.com/a"/></entry></feed>""",
]


@pytest.mark.parametrize("body", XXE_FEEDS)
def test_xxe_does_not_read_files(body):
    entries, warning = parse_feed(body, FEED_URL)
    dumped = repr((entries, warning))
    assert "root:" not in dumped and "/bin/" not in dumped and "daemon" not in dumped
    assert all(e.link == "https://example.com/a" for e in entries)


def _billion_laughs(newlines: bool) -> bytes:
    sep = "\n" if newlines else ""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0"?>{sep}<!DOCTYPE rss [{sep}{sep.join(entities)}{sep}]>{sep}'
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>&lol9; boom</title><link>https://example.com/a</link>"
        "<description>&lol9;&lol9;&lol9;</description></item></channel></rss>"
    ).encode()


def _quadratic_blowup() -> bytes:
    big = "x" * 20_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{big}">]><rss version="2.0"><channel>'
        f"<item><title>{'&big;' * 20_000}</title><link>https://example.com/a</link></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("body", [_billion_laughs(True), _billion_laughs(False), _quadratic_blowup()])
def test_entity_expansion_is_not_performed(body):
    start = time.perf_counter()
    entries, _ = parse_feed(body, FEED_URL)
    assert time.perf_counter() - start < 0.5
    dumped = repr(entries)
    assert "lollol" not in dumped and "xxxxxxxxxxxxxxxxxxxx" not in dumped
    assert len(dumped) < len(body)  # nothing grew: references stay as their own text


def test_entity_declaration_cannot_be_spliced_back_together():
    body = _billion_laughs(False).replace(b"<!ENTITY lol1 ", b"<!EN<!ENTITY x>TITY lol1 ")
    start = time.perf_counter()
    entries, _ = parse_feed(body, FEED_URL)
    assert time.perf_counter() - start < 0.5
    assert "lollol" not in repr(entries)


# ---------------------------------------------------------------- sniffing

LOOKS_LIKE_FEED_CASES = [
    ("application/rss+xml", b"", True),  # a feed type is trusted
    ("application/atom+xml; charset=utf-8", b"", True),
    ("Application/RSS+XML", b"<html>", True),
    ("application/feed+json", b"{}", True),
    ("text/xml", b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', True),
    ("application/xml", b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>', True),
    ("application/xml", RDF, True),
    ("text/xml; charset=iso-8859-1", b"\xef\xbb\xbf  <!-- c -->\n<?xml-stylesheet href='s.xsl'?><rss>", True),
    ("text/plain", b"<rss version='2.0'>", True),  # mislabelled
    ("text/html", b"<rss version='2.0'>", True),  # mislabelled
    ("", b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "x.dtd">\n<rss>', True),
    ("application/octet-stream", b"<feed>", True),
    ("application/json", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', True),
    ("application/json", b'{"version": "1"}', False),
    ("text/html", b"<!DOCTYPE html><html><head><link rel=alternate type=application/rss+xml></head>", False),
    ("text/html", b"<html><body><rss>not really</rss></body></html>", False),
    ("application/xml", b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>', False),
    ("application/xml", b"<feedback>nope</feedback>", False),
    ("application/xml", b"<rssx/>", False),
    ("image/png", b"<rss version='2.0'>", False),
    ("application/pdf", b"%PDF-1.4", False),
    ("text/xml", b"", False),
    ("text/xml", b"not xml at all", False),
]


@pytest.mark.parametrize(("content_type", "data", "expected"), LOOKS_LIKE_FEED_CASES)
def test_looks_like_feed(content_type, data, expected):
    assert looks_like_feed(content_type, data) is expected


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [("<p>A <b>bold</b>\n move</p>", "A bold move"), ("x &amp; y", "x & y"), ("<script>x()</script>ok", "ok")],
)
def test_html_to_text(fragment, expected):
    assert html_to_text(fragment) == expected
