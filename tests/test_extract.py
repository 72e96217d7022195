"""Main text, sections and metadata extraction (ingest.extract, ingest.metadata)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import ingest.extract as extract_mod
from ingest import metadata as md
from ingest.extract import KINDS, ExtractionError, Section, detect_kind, extract_page

FIXTURES = Path(__file__).parent / "fixtures" / "html"
BLOG_URL = "https://www.northwind.example/blog/discovery-call-guide?utm_source=newsletter"

ARTICLE_PARAGRAPHS = [
    "Most discovery calls are polite conversations that end with a vague promise to follow up.",
    "This guide describes the structure our account executives use on every first call",
    "The usual failure is not a lack of questions but a lack of order.",
    "An operations lead wants to hear about saved hours, while a finance lead wants a payback period",
    "Each part has a purpose and a time box",
    "State why you asked for the meeting in one sentence",
    "Ask how the problem shows up in numbers: hours lost each week",
    "Write the number down in the buyer's own words and read it back before moving on.",
    "Send a short recap within two hours that repeats the quantified pain",
]
BOILERPLATE = [
    "Skip to main content",
    "We use cookies",
    "Accept all cookies",
    "Manage preferences",
    "Revenue Forecasting",
    "Upcoming webinars",
    "Customer stories",
    "Book a demo",
    "Sales playbooks",
    "Share on LinkedIn",
    "Share on X",
    "Copy link",
    "Related posts",
    "Cold email benchmarks",
    "Objection handling without the script",
    "Popular topics",
    "Forecasting accuracy",
    "Get the weekly playbook",
    "Work email",
    "Subscribe to the newsletter",
    "Do not sell my data",
    "Privacy policy",
    "Brand assets",
    "Registered in England",
    "Northwind Analytics",
    "dataLayer",
    "gtag",
    "NW-TRACKING-ID-42",
    "trackEvent",
    "cookie-banner",
]


def load(name: str) -> str:
    return (FIXTURES / f"{name}.html").read_text(encoding="utf-8")


def article_page(head: str = "", body_extra: str = "", title: str = "Quarterly planning notes") -> str:
    """A minimal but realistic article page with enough prose for any extractor."""
    prose = (
        "<p>Quarterly planning starts with the pipeline we already have, not with the target we wish we had. "
        "Every manager reviews the open opportunities with their team and marks the ones that have a dated next step.</p>"
        "<p>Only then do we compare coverage with the number, and the gap becomes the brief for marketing, "
        "partnerships and the sellers who are prospecting into new accounts this quarter.</p>"
    )
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
        f"<body><article><h1>{title}</h1>{prose}{body_extra}</article></body></html>"
    )


@pytest.fixture(scope="module")
def blog():
    return extract_page(load("blog_post"), BLOG_URL)


# --- the realistic blog post -------------------------------------------------------------------


def test_blog_main_text_has_article_and_no_boilerplate(blog):
    for sentence in ARTICLE_PARAGRAPHS:
        assert sentence in blog.text
    for junk in BOILERPLATE:
        assert junk not in blog.text, junk
    # The <h1> repeats the title, which is stored on its own: the text starts with the article.
    assert blog.text.startswith("Most discovery calls")
    assert "{{7*7}}" in blog.text


def test_blog_metadata(blog):
    assert blog.title == "How to Run a Discovery Call That Actually Qualifies"
    assert (
        blog.description == "A five-part structure for discovery calls that separate real buyers from polite tourists."
    )
    assert blog.authors == ["Dana Whitfield", "Marcus Oyelaran"]
    assert blog.published == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)  # JSON-LD beats article:published_time
    assert blog.modified == datetime(2024, 3, 12, tzinfo=UTC)
    assert blog.tags == ["discovery calls", "sales qualification", "MEDDICC", "Sales", "discovery"]
    assert blog.kind == "blog"
    assert blog.language == "en-GB"
    assert blog.canonical_url == "https://www.northwind.example/blog/discovery-call-guide"
    assert (blog.noindex, blog.nofollow, blog.meta_refresh) == (False, False, None)
    assert blog.jsonld_types == ["BlogPosting", "BreadcrumbList"]
    assert [obj["@type"] for obj in blog.jsonld] == ["BlogPosting", "BreadcrumbList"]


def test_blog_sections(blog):
    assert [s.heading_path for s in blog.sections] == [
        (),
        ("Why most discovery calls fail",),
        ("A five-part call structure",),
        ("A five-part call structure", "Open with a reason"),
        ("A five-part call structure", "Quantify the pain"),
        ("After the call",),
    ]
    fail = blog.sections[1].text.split("\n\n")
    assert len(fail) == 2 and fail[0].startswith("The usual failure") and fail[1].startswith("The second failure")
    assert blog.sections[4].text.endswith("read it back before moving on.")
    for section in blog.sections:
        assert section.text in blog.text


def test_blog_links(blog):
    links = blog.links
    assert links[0] == BLOG_URL + "#main-content"  # skip link: fragment kept as is
    assert len(links) == len(set(links))
    assert "https://www.northwind.example/products/analytics" in links  # navigation is followed too
    assert "https://www.northwind.example/blog/mutual-action-plans#step-2" in links
    assert "https://www.northwind.example/blog/pricing-calls?a=1&b=2" in links  # entity-decoded
    footer = [
        "https://status.northwind.example",
        "https://docs.northwind.example/api",
        "https://www.northwind.example/legal/ccpa",
        "https://www.northwind.example/sitemap",
    ]
    assert all(link in links for link in footer)
    assert all(link.startswith(("http://", "https://")) for link in links)
    assert not any("linkedin.com" in link or "twitter.com" in link or "partner.example" in link for link in links)
    assert not any(link.startswith(("mailto:", "javascript:", "data:")) for link in links)


# --- kinds -------------------------------------------------------------------------------------


def test_case_study_kind_from_default_url_pattern():
    page = extract_page(load("case_study"), "https://www.northwind.example/customers/globex")
    assert page.kind == "case_study"
    assert page.title == "Globex cut forecast error by 38%"  # " - Northwind" suffix removed
    assert page.authors == ["Priya Raman"]
    assert page.published == datetime(2023, 11, 20, tzinfo=UTC)
    assert [s.heading_path for s in page.sections] == [(), ("The challenge",), ("The results",)]


def test_configured_kind_patterns_win_over_jsonld():
    patterns = {"case_study": [r"/stories/"]}
    page = extract_page(load("podcast"), "https://www.northwind.example/stories/ep-42", kind_patterns=patterns)
    assert page.kind == "case_study"


def test_podcast_kind_from_jsonld():
    page = extract_page(load("podcast"), "https://pod.example/episodes/42")
    assert page.kind == "podcast"
    assert page.title == "Episode 42: Pricing conversations with procurement"
    assert page.authors == ["The Pipeline Show"]  # Organization author
    assert page.tags == ["pricing", "procurement", "negotiation"]  # keywords as a list
    assert page.published == datetime(2024, 2, 14, tzinfo=UTC)
    assert page.language == "en-US"


def test_video_kind_and_upload_date():
    page = extract_page(load("video"), "https://www.northwind.example/resources/map-demo")
    assert page.kind == "video"
    assert page.published == datetime(2024, 1, 9, 15, 0, tzinfo=UTC)  # naive uploadDate taken as UTC
    assert page.description == "A walkthrough of the mutual action plan template, step by step."
    assert page.jsonld[0]["contentUrl"].endswith("map-demo.mp4")


@pytest.mark.parametrize(
    ("url", "types", "og_type", "patterns", "expected"),
    [
        ("https://x.example/blog/post", [], None, None, "blog"),
        ("https://x.example/blog/podcast/ep-1", [], None, None, "podcast"),
        ("https://x.example/videos", [], None, None, "video"),
        ("https://x.example/video/demo", [], None, None, "video"),
        ("https://x.example/case-studies/globex", [], None, None, "case_study"),
        ("https://x.example/customers/globex", [], None, None, "case_study"),
        ("https://x.example/about", [], None, None, "page"),
        ("https://blog.x.example/about", [], None, None, "page"),  # host is not a path pattern
        ("https://x.example/p/1", ["http://schema.org/NewsArticle"], None, None, "blog"),
        ("https://x.example/p/1", ["Article", "VideoObject"], None, None, "video"),
        ("https://x.example/blog/clip", ["VideoObject"], None, None, "video"),  # JSON-LD beats default URLs
        ("https://x.example/p/1", [], "video.episode", None, "video"),
        ("https://x.example/p/1", [], "article", None, "page"),
        ("https://x.example/p/1", ["VideoObject"], None, {"case_study": [r"/p/"]}, "case_study"),
        ("https://x.example/p/1", [], None, {"case_study": "/p/"}, "case_study"),  # a lone string works
        ("https://x.example/p/1", [], None, {"case_study": ["(unclosed"], "bogus": [".*"]}, "page"),
    ],
)
def test_detect_kind(url, types, og_type, patterns, expected):
    assert detect_kind(url, types, og_type, patterns) == expected
    assert expected in KINDS


# --- metadata edge cases -----------------------------------------------------------------------


def test_invalid_jsonld_is_skipped_and_other_sources_used():
    page = extract_page(load("invalid_jsonld"), "https://www.northwind.example/blog/summit-notes")
    assert page.jsonld_types == ["Event"]
    assert page.title == "Notes from the spring enablement summit"
    assert page.description == "What we learned about onboarding ramp time."
    assert page.published is None  # "not a date at all"
    assert page.modified == datetime(2024, 5, 2, 14, 0, tzinfo=UTC)
    assert page.authors == ["Lea Fontaine"]  # the profile URL in article:author is not a name
    assert (page.noindex, page.nofollow) == (True, True)
    assert page.meta_refresh == "https://www.northwind.example/blog/summit-notes-updated"
    assert page.language == "fr"


def test_jsonld_graph_with_author_reference_and_string_keywords():
    head = """<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Acme Revenue Blog"},
        {"@type": ["Article", "BlogPosting"], "headline": "Headline from JSON-LD",
         "author": {"@id": "#jane"}, "keywords": "forecasting, Planning , forecasting",
         "datePublished": "2024-06-01T12:00:00-0400", "inLanguage": "de-DE"},
        {"@type": "Person", "@id": "#jane", "name": "Jane Roe"}]}</script>
        <meta name="keywords" content="planning, pipeline">"""
    page = extract_page(
        article_page(head, title="Quarterly planning notes | Acme Revenue Blog"), "https://acme.example/p/9"
    )
    assert page.jsonld_types == ["WebSite", "Article", "BlogPosting", "Person"]
    assert page.title == "Headline from JSON-LD"  # no og:title: JSON-LD headline comes next
    assert page.authors == ["Jane Roe"]
    assert page.tags == ["forecasting", "Planning", "pipeline"]
    assert page.published == datetime(2024, 6, 1, 16, 0, tzinfo=UTC)
    assert page.language == "de-DE"
    assert page.kind == "blog"


def test_title_fallbacks_strip_site_name():
    page = extract_page(article_page(title="Quarterly planning notes | Acme Blog"), "https://www.acme.example/notes")
    assert page.title == "Quarterly planning notes"
    assert page.text.startswith("Quarterly planning starts")  # the <h1> title is not repeated


@pytest.mark.parametrize(
    ("title", "sites", "expected"),
    [
        ("Post title | Acme Blog", {"acme"}, "Post title"),
        ("Post title - Acme", {"acme"}, "Post title"),
        ("Post title | Blog | Acme", {"acme", "blog"}, "Post title"),
        ("Acme | Pricing that scales", {"acme"}, "Pricing that scales"),
        ("How to hire - a field guide", {"acme"}, "How to hire - a field guide"),
        ("Acme", {"acme"}, "Acme"),
        ("Blog | Acme Blog", {"acme"}, "Blog"),
        ("Acme customers love it | Pricing", {"acme"}, "Acme customers love it | Pricing"),
        ("Post title – Acme", set(), "Post title – Acme"),
    ],
)
def test_strip_site_name(title, sites, expected):
    assert md.strip_site_name(title, sites) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05T09:30:00+01:00", datetime(2024, 3, 5, 8, 30, tzinfo=UTC)),
        ("2024-03-05T09:30:00+0100", datetime(2024, 3, 5, 8, 30, tzinfo=UTC)),
        ("2024-03-05T09:30:00Z", datetime(2024, 3, 5, 9, 30, tzinfo=UTC)),
        ("2024-03-05T09:30:00.123Z", datetime(2024, 3, 5, 9, 30, 0, 123000, tzinfo=UTC)),
        ("2024-03-05 09:30:00", datetime(2024, 3, 5, 9, 30, tzinfo=UTC)),
        ("2024-13-45", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        (20240305, None),
        ({"@value": "2024-03-05"}, datetime(2024, 3, 5, tzinfo=UTC)),
    ],
)
def test_parse_date(value, expected):
    assert md.parse_date(value) == expected


def test_links_honour_base_href_and_drop_garbage():
    body = (
        '<p><a href="next">rel</a> <a href=" /abs ">abs</a> <a href="http://[broken">bad</a>'
        ' <a href="tel:+4412345">tel</a> <a href="//cdn.example/x">proto-relative</a>'
        ' <a href="next">again</a> <a rel="NoFollow" href="/hidden">hidden</a></p>'
    )
    page = extract_page(article_page('<base href="https://acme.example/docs/">', body), "https://acme.example/a/b")
    assert page.links == ["https://acme.example/docs/next", "https://acme.example/abs", "https://cdn.example/x"]


# --- hostile pages -----------------------------------------------------------------------------


def test_script_and_event_handlers_never_reach_text():
    page = extract_page(load("hostile_xss"), "https://x.example/security")
    for text in [page.text, page.title, *(s.text for s in page.sections)]:
        assert "<" not in text and ">" not in text
        for bad in ("onerror", "onload", "onclick", "injected by script", "inline script in article"):
            assert bad not in text
    assert "{{7*7}}" in page.text and "${7*7}" in page.text
    assert page.title.startswith("Security notes")


def test_deeply_nested_divs_do_not_crash_or_hang():
    deep = "<div>" * 100_000 + "<p>buried</p>" + "</div>" * 100_000
    html = article_page(body_extra="").replace("</article>", "</article>" + deep)
    started = time.perf_counter()
    page = extract_page(html, "https://x.example/deep")
    assert "Quarterly planning starts" in page.text
    with pytest.raises(ExtractionError) as err:
        extract_page("<html><body>" + deep + "</body></html>", "https://x.example/deep2")
    assert err.value.reason in ("no_content", "extract_failed")
    assert time.perf_counter() - started < 20


def test_huge_single_text_node():
    html = "<html><body><article><p>" + "lorem " * 850_000 + "</p></article></body></html>"  # ~5 MB
    page = extract_page(html, "https://x.example/huge")
    assert page.text.count("lorem") == 850_000


def test_too_many_elements_uses_linear_fallback(monkeypatch):
    monkeypatch.setattr(extract_mod, "_MAX_ELEMENTS", 50)
    page = extract_page(load("blog_post"), BLOG_URL)
    assert "The usual failure is not a lack of questions" in page.text
    assert "Share on LinkedIn" not in page.text and "Accept all cookies" not in page.text
    assert ("A five-part call structure", "Quantify the pain") in [s.heading_path for s in page.sections]


def test_trafilatura_crash_falls_back_to_lxml(monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError("simulated extractor bug")

    monkeypatch.setattr(extract_mod.trafilatura, "bare_extraction", boom)
    page = extract_page(load("case_study"), "https://www.northwind.example/customers/globex")
    assert "Forecast calls took ninety minutes" in page.text


def test_recursion_error_becomes_extract_failed(monkeypatch):
    def recurse(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(extract_mod.trafilatura, "bare_extraction", recurse)
    with pytest.raises(ExtractionError) as err:
        extract_page(load("case_study"), "https://www.northwind.example/customers/globex")
    assert err.value.reason == "extract_failed"


@pytest.mark.parametrize(
    "body",
    [
        "%PDF-1.7\n1 0 obj << /Type /Catalog >>",
        "<html><body>\x00\x00\x00</body></html>",
        "\x89PNG\r\n\x1a\n\x00\x00",
        "".join(chr(i % 32) for i in range(2000)),
        "Just a plain text file without any markup at all, " * 5,
    ],
)
def test_not_html(body):
    with pytest.raises(ExtractionError) as err:
        extract_page(body, "https://x.example/file")
    assert err.value.reason == "not_html"


def test_bytes_are_not_accepted():
    with pytest.raises(ExtractionError) as err:
        extract_page(b"<html></html>", "https://x.example/")  # type: ignore[arg-type]
    assert err.value.reason == "not_html"


@pytest.mark.parametrize("name", ["soft_404", "login_wall"])
def test_no_content_fixtures(name):
    with pytest.raises(ExtractionError) as err:
        extract_page(load(name), "https://www.northwind.example/some/page")
    assert err.value.reason == "no_content"


@pytest.mark.parametrize("html", ["", "   ", "<html></html>", "<html><body><div></div></body></html>"])
def test_empty_pages_are_no_content(html):
    with pytest.raises(ExtractionError) as err:
        extract_page(html, "https://x.example/")
    assert err.value.reason == "no_content"


def test_soft_404_with_some_text_is_no_content():
    suggestions = "".join(
        f"<p>Maybe you were looking for our guide number {i} about pipeline reviews and forecasting calls.</p>"
        for i in range(4)
    )
    html = article_page(body_extra=suggestions, title="404 - Page not found")
    with pytest.raises(ExtractionError) as err:
        extract_page(html, "https://x.example/gone")
    assert err.value.reason == "no_content"


def test_min_words_is_configurable():
    html = load("video")
    assert extract_page(html, "https://x.example/v", min_words=10).kind == "video"
    with pytest.raises(ExtractionError):
        extract_page(html, "https://x.example/v", min_words=1000)


def test_section_dataclass_shape():
    assert Section(("A",), "x") == Section(heading_path=("A",), text="x")


def test_extraction_error_keeps_reason_and_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(ExtractionError("no_content", "3 words of main text")))
    assert err.reason == "no_content" and str(err) == "no_content: 3 words of main text"


def test_title_falls_back_to_first_heading():
    html = article_page(title="").replace("<title></title>", "").replace("<h1></h1>", "<h2>Pipeline first</h2>")
    assert extract_page(html, "https://x.example/t").title == "Pipeline first"
