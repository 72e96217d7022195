"""End to end: crawl a real fixture site on 127.0.0.1 with traps, then re-crawl it after changes.

The fixture site has a robots.txt (disallowing /internal/), a sitemap, an RSS feed, pages reached only
by links, a tracking-parameter duplicate, a same-site rel=canonical, identical text under two URLs,
a 404 link, an oversized page, a slow page, a redirect loop, a binary link, a noindex page and an
empty page. Every URL must end with the right outcome and reason, and nothing stored is lost.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from ingest.crawler import crawl_site
from kb.crawl_report import page_rows
from kb.models import Content, ContentAlias, Passage
from tests.support.http_server import Route

WORDS = (
    "Our platform helps finance teams close the books faster with automated reconciliation, "
    "approval workflows and real-time spend visibility across every subsidiary and currency. "
)


def article(title: str, body: str, *, links: list[str] = (), head: str = "") -> str:
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} | Acme Blog</title>
<meta name="description" content="About {title}">{head}</head><body>
<nav><ul><li><a href="/">Home</a></li>{nav}<li><a href="/internal/">Employee portal</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>
<main><article><h1>{title}</h1><p>{body}</p><h2>Details</h2><p>{WORDS * 3}</p></article></main>
<aside><h3>Related posts</h3><ul><li><a href="/blog/sso/">Single sign-on</a></li></ul></aside>
<footer><p>Copyright Acme Corp. All rights reserved.</p></footer></body></html>"""


def slow_page(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(40):
            handler.wfile.write(b"<p>")
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass


@pytest.fixture
def site(local_server):
    s = local_server
    base = s.base_url
    s.add("/robots.txt", Route(f"User-agent: *\nDisallow: /internal/\nAllow: /\n\nSitemap: {base}/sitemap.xml\n",
                               content_type="text/plain"))
    sitemap_urls = ["/", "/blog/sso/", "/blog/pricing/", "/blog/gone/"]
    s.add("/sitemap.xml", Route(
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{base}{p}</loc></url>" for p in sitemap_urls) + "</urlset>",
        content_type="application/xml"))
    s.add("/blog/rss.xml", Route(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme</title><link>{base}/</link>'
        f"<item><title>Data residency</title><link>{base}/blog/residency/</link></item></channel></rss>",
        content_type="application/rss+xml"))
    s.add("/", article("Acme home", "Welcome to Acme, the spend management platform for growing companies. " * 3,
                       links=["/blog/sso/?utm_source=homepage", "/blog/linked-only/", "/blog/missing/",
                              "/files/report.zip", "/big/", "/slow/", "/loop/a", "/hidden/", "/empty/",
                              "/blog/copy-of-pricing/", "/old-sso/", "mailto:sales@example.com"]))
    s.add("/blog/sso/", article("Single sign-on with Okta",
                                "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace, "
                                "and SCIM provisioning on the Enterprise plan."))
    s.add("/old-sso/", article("Single sign-on with Okta (old URL)",
                               "An older copy of the SSO page that declares the new page as canonical.",
                               head=f'<link rel="canonical" href="{base}/blog/sso/">'))
    s.add("/blog/pricing/", article("Pricing plans", "The Growth plan costs 49 dollars per user per month, "
                                                     "billed annually, with a 14 day free trial."))
    s.add("/blog/copy-of-pricing/", s.routes["/blog/pricing/"])  # identical text, no canonical link
    s.add("/blog/residency/", article("EU data residency", "Customer data can be stored in Frankfurt or "
                                                           "Dublin so it never leaves the European Union."))
    s.add("/blog/linked-only/", article("Implementation timeline", "A typical implementation takes four to six "
                                                                   "weeks from kickoff to go-live."))
    s.add("/blog/gone/", article("Retired webinar", "This webinar page will be removed before the next crawl."))
    s.add("/internal/", article("Internal sales notes", "SECRET discount floor is forty percent."))
    s.add("/big/", Route("<html><body>" + "<p>big page text</p>" * 20000 + "</body></html>"))
    s.add("/slow/", slow_page)
    s.add("/loop/a", Route("", status=302, headers={"Location": "/loop/b"}))
    s.add("/loop/b", Route("", status=302, headers={"Location": "/loop/a"}))
    s.add("/files/report.zip", Route(b"PK\x03\x04" + b"\0" * 1000, content_type="application/zip"))
    s.add("/hidden/", article("Hidden page", "Not for search engines.",
                              head='<meta name="robots" content="noindex">'))
    s.add("/empty/", Route("<html><head><title>Nothing</title></head><body><p>Page not found</p></body></html>"))
    return s


@pytest.fixture
def kb(make_kb, site):
    return make_kb({
        "crawl": {"deadline_seconds": 1.5, "max_page_bytes": 200_000, "delay_seconds": 0.0},
        "sites": [{"name": "acme", "base_url": site.base_url + "/", "feeds": [site.base_url + "/blog/rss.xml"],
                   "allow_private_addresses": True}],
    })


def outcomes(kb) -> dict[str, tuple[str, str | None]]:
    """Path -> (outcome, reason) for every URL of the latest crawl."""
    with kb.sessions() as session:
        return {"/" + row.url.split("/", 3)[3]: (row.outcome, row.reason) for row in page_rows(session)}


def test_first_crawl_records_every_url_with_its_reason(kb, site):
    summary = crawl_site(kb, "acme")
    seen = outcomes(kb)
    assert seen["/"] == ("new", None)
    for path in ("/blog/sso/", "/blog/pricing/", "/blog/residency/", "/blog/linked-only/", "/blog/gone/"):
        assert seen[path] == ("new", None), path
    assert seen["/blog/copy-of-pricing/"] == ("duplicate", None)
    assert seen["/internal/"] == ("skipped", "robots_disallowed")
    assert seen["/blog/missing/"] == ("failed", "http_404")
    assert seen["/big/"] == ("failed", "too_large")
    assert seen["/slow/"] == ("failed", "timeout")
    assert seen["/loop/a"] == ("failed", "too_many_redirects")
    assert seen["/files/report.zip"][1] in ("unsupported_type", "non_page_extension")
    assert seen["/hidden/"] == ("skipped", "noindex")
    assert seen["/empty/"] == ("skipped", "no_content")
    assert seen["/robots.txt"][0] == "robots"
    assert "/internal/" not in site.requested_paths()  # robots.txt obeyed: never fetched

    with kb.sessions() as session:
        urls = set(session.scalars(select(Content.canonical_url)))
        aliases = set(session.scalars(select(ContentAlias.url)))
        all_text = " ".join(session.scalars(select(Passage.text)))
    base = site.base_url
    # one content per page: tracking-parameter URL, old canonical URL and identical copy are aliases
    assert f"{base}/blog/sso/" in urls
    assert not any("utm_source" in u for u in urls)
    assert f"{base}/blog/sso/?utm_source=homepage" in aliases
    assert f"{base}/blog/copy-of-pricing/" in aliases and f"{base}/old-sso/" in aliases
    assert "SECRET" not in all_text and "cookies to improve" not in all_text
    assert summary.counts["new"] == 6 and summary.index_total > 0
    assert summary.reasons["robots_disallowed"] == 1

    hits = kb.search("Can we sign in with Okta SAML?", k=3).hits
    assert hits[0].url == f"{base}/blog/sso/"


def test_recrawl_skips_unchanged_replaces_changed_and_retires_gone(kb, site):
    crawl_site(kb, "acme")
    with kb.sessions() as session:
        embedded_before = session.scalar(select(func.count()).select_from(Passage))
        content_before = session.scalar(select(func.count()).select_from(Content))

    site.add("/blog/pricing/", article("Pricing plans", "The Growth plan now costs 59 dollars per user per "
                                                        "month, billed annually, with a 30 day free trial."))
    site.add("/blog/copy-of-pricing/", site.routes["/blog/pricing/"])  # still the same page under two URLs
    site.add("/blog/gone/", Route("gone", status=410))
    summary = crawl_site(kb, "acme")

    seen = outcomes(kb)
    assert seen["/blog/pricing/"] == ("changed", None)
    assert seen["/blog/gone/"] == ("retired", "http_410")
    assert seen["/blog/sso/"][0] == "unchanged"
    assert seen["/blog/copy-of-pricing/"] == ("duplicate", None)
    assert seen["/old-sso/"] == ("alias", "canonical_elsewhere")
    assert summary.counts["new"] == 0
    assert summary.passages_embedded < embedded_before  # only the changed page was re-embedded
    with kb.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Content)) == content_before  # nothing lost
        gone = session.scalar(select(Content).where(Content.canonical_url.like("%/blog/gone/")))
        assert gone.status == "retired"
    assert all("gone" not in h.url for h in kb.search("webinar page removed", k=10).hits)
    assert any("59 dollars" in h.snippet for h in kb.search("How much is the Growth plan?", k=3).hits)
