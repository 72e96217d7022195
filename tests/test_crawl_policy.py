"""Crawl-level policy: robots outcomes, sitemaps, budgets, scope, SSRF refusal, traps and re-crawls.

Each test serves a tiny site from a real HTTP server on 127.0.0.1, crawls it with
``ingest.crawler.crawl_site`` and checks both sides: what the crawl logged per URL
(``kb.crawl_report.page_rows``) and what the server actually saw (``server.requested_paths()``).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from ingest.crawler import crawl_site
from kb.crawl_report import page_rows
from kb.models import Content, Passage
from tests.support.http_server import LocalServer, Route

TEXT = (
    "Acme helps finance teams approve purchases faster with clear budgets, automated three way matching "
    "and real time visibility into every subscription the company pays for across all of its offices. "
)  # 32 words; pages use it twice, so every page has well over 40 words of main text


def page(title: str, extra: str = "", *, links: tuple[str, ...] = (), head: str = "") -> str:
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
        f"<body><nav><ul>{nav}</ul></nav><main><article><h1>{title}</h1>"
        f"<p>{extra} {TEXT}</p><p>{TEXT}</p></article></main></body></html>"
    )


def urlset(base: str, paths: list[str]) -> Route:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
        + "</urlset>"
    )
    return Route(body, content_type="application/xml")


def site_kb(make_kb, server: LocalServer, *, private: bool = True, **site):
    spec = {"name": "s", "base_url": server.base_url + "/", "allow_private_addresses": private, **site}
    return make_kb({"sites": [spec]})


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def log(kb) -> list[tuple[str, str, str | None]]:
    """(path, outcome, reason) of every row of the latest crawl, in log order."""
    with kb.sessions() as session:
        return [(path_of(r.url), r.outcome, r.reason) for r in page_rows(session)]


def outcome_of(kb, path: str) -> tuple[str, str | None]:
    found = [(o, r) for p, o, r in log(kb) if p == path]
    assert len(found) == 1, f"{path}: {found} in {log(kb)}"
    return found[0]


def stored_paths(kb) -> set[str]:
    with kb.sessions() as session:
        return {path_of(u) for u in session.scalars(select(Content.canonical_url))}


def page_requests(server: LocalServer) -> list[str]:
    return [p for p in server.requested_paths() if p != "/robots.txt" and "sitemap" not in p]


# -- robots.txt --------------------------------------------------------------------------------------
def test_robots_txt_server_error_disallows_everything(make_kb, local_server):
    s = local_server
    s.add("/robots.txt", Route("temporarily broken", status=500, content_type="text/plain"))
    s.add("/", page("Home", links=("/a/",)))
    s.add("/a/", page("Page A"))
    s.add("/sitemap.xml", urlset(s.base_url, ["/", "/a/"]))
    kb = site_kb(make_kb, s, sitemaps=[s.url("/sitemap.xml")])

    summary = crawl_site(kb, "s")

    assert s.requested_paths() == ["/robots.txt"]  # not even the sitemap
    assert outcome_of(kb, "/robots.txt") == ("robots", "unavailable")
    assert outcome_of(kb, "/") == ("skipped", "robots_unavailable")
    assert summary.fetched == 0 and summary.counts["new"] == 0
    assert stored_paths(kb) == set()


def test_robots_txt_404_allows_everything(make_kb, local_server):
    s = local_server  # no /robots.txt route: the server answers 404
    s.add("/", page("Home", links=("/a/",)))
    s.add("/a/", page("Page A"))
    kb = site_kb(make_kb, s)

    summary = crawl_site(kb, "s")

    assert outcome_of(kb, "/robots.txt") == ("robots", "missing")
    assert outcome_of(kb, "/") == ("new", None)
    assert outcome_of(kb, "/a/") == ("new", None)
    assert sorted(page_requests(s)) == ["/", "/a/"]
    assert summary.counts["new"] == 2 and summary.index_total > 0


def test_crawl_delay_beyond_the_limit_skips_the_site(make_kb, local_server):
    s = local_server
    s.add("/robots.txt", Route("User-agent: *\nCrawl-delay: 3600\nAllow: /\n", content_type="text/plain"))
    s.add("/", page("Home", links=("/a/",)))
    s.add("/a/", page("Page A"))
    kb = site_kb(make_kb, s)

    summary = crawl_site(kb, "s")

    assert s.requested_paths() == ["/robots.txt"]
    assert outcome_of(kb, "/") == ("skipped", "crawl_delay_too_long")
    assert summary.reasons == {"crawl_delay_too_long": 1}
    assert summary.fetched == 0 and stored_paths(kb) == set()


# -- sitemaps ----------------------------------------------------------------------------------------
def test_sitemap_index_listing_itself_fetches_each_sitemap_once(make_kb, local_server):
    s = local_server
    base = s.base_url
    # robots.txt names the same index again: still one fetch
    s.add("/robots.txt", Route(f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n",
                               content_type="text/plain"))
    s.add("/sitemap_index.xml", Route(
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sitemap_index.xml</loc></sitemap>"
        f"<sitemap><loc>{base}/sitemap-pages.xml</loc></sitemap></sitemapindex>",
        content_type="application/xml"))
    s.add("/sitemap-pages.xml", urlset(base, ["/p1/", "/p2/"]))
    s.add("/", page("Home"))
    s.add("/p1/", page("Sitemap page one", "Okta single sign-on."))
    s.add("/p2/", page("Sitemap page two", "NetSuite integration."))
    kb = site_kb(make_kb, s, sitemaps=[f"{base}/sitemap_index.xml"])

    crawl_site(kb, "s")

    paths = s.requested_paths()
    assert paths.count("/sitemap_index.xml") == 1
    assert paths.count("/sitemap-pages.xml") == 1
    assert outcome_of(kb, "/p1/") == ("new", None)
    assert outcome_of(kb, "/p2/") == ("new", None)
    assert {"/", "/p1/", "/p2/"} <= stored_paths(kb)


def test_html_soft_404_sitemap_is_logged_invalid_and_crawl_goes_on(make_kb, local_server):
    s = local_server
    s.add("/sitemap.xml", Route("<!doctype html><html><head><title>Not found</title></head>"
                                "<body><h1>Page not found</h1><p>Sorry.</p></body></html>"))
    s.add("/", page("Home", links=("/a/",)))
    s.add("/a/", page("Page A"))
    kb = site_kb(make_kb, s, sitemaps=[s.url("/sitemap.xml")])

    summary = crawl_site(kb, "s")

    assert outcome_of(kb, "/sitemap.xml") == ("sitemap", "invalid_sitemap")
    assert outcome_of(kb, "/") == ("new", None)
    assert outcome_of(kb, "/a/") == ("new", None)
    assert summary.counts["new"] == 2


def test_xxe_sitemap_never_leaks_local_files(make_kb, local_server):
    passwd = Path("/etc/passwd")
    assert "root:" in passwd.read_text(errors="replace")  # the secret the attack would read
    s = local_server
    base = s.base_url
    s.add("/sitemap.xml", Route(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/leak/?q=&xxe;</loc></url><url><loc>{base}/a/</loc></url></urlset>",
        content_type="application/xml"))
    # the same trick inside an HTML page body
    s.add("/", '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
               f"<html><head><title>Home</title></head><body><main><h1>Home</h1><p>&xxe;</p>"
               f"<p>{TEXT}</p><p>{TEXT}</p></main></body></html>")
    s.add("/a/", page("Page A"))
    s.add("/leak/", page("Leak"))
    kb = site_kb(make_kb, s, sitemaps=[s.url("/sitemap.xml")])

    crawl_site(kb, "s")

    assert outcome_of(kb, "/sitemap.xml") == ("sitemap", "invalid_sitemap")
    assert not any(p.startswith("/leak/") for p in s.requested_paths())
    kb.close()
    db_file = kb.settings.instance_dir / "kb.sqlite"
    with sqlite3.connect(db_file) as conn:
        dump = "\n".join(conn.iterdump())
    assert "Home" in dump  # the dump does hold the crawled data...
    assert "root:" not in dump and "/bin/" not in dump  # ...and nothing from /etc/passwd


# -- budget and scope --------------------------------------------------------------------------------
def test_page_budget_stops_fetching_and_logs_the_rest(make_kb, local_server):
    s = local_server
    pages = [f"/p{i}/" for i in range(1, 6)]
    s.add("/sitemap.xml", urlset(s.base_url, pages))
    s.add("/", page("Home"))
    for i, p in enumerate(pages, 1):
        s.add(p, page(f"Page {i}"))
    kb = site_kb(make_kb, s, sitemaps=[s.url("/sitemap.xml")], page_budget=2)

    summary = crawl_site(kb, "s")

    fetched = page_requests(s)
    assert len(fetched) == 2 and summary.fetched == 2
    budget_skipped = [p for p, o, r in log(kb) if (o, r) == ("skipped", "page_budget")]
    assert len(budget_skipped) == 4  # "/" plus 5 sitemap pages, 2 fetched
    assert set(budget_skipped).isdisjoint(fetched)
    assert set(fetched) | set(budget_skipped) == {"/", *pages}
    assert summary.reasons["page_budget"] == 4


def test_include_and_exclude_patterns(make_kb, local_server):
    s = local_server
    s.add("/", page("Home", links=("/docs/a/", "/docs/private/b/", "/blog/c/")))
    s.add("/docs/a/", page("Docs A"))
    s.add("/docs/private/b/", page("Private B"))
    s.add("/blog/c/", page("Blog C"))
    kb = site_kb(make_kb, s, include=[r"^/$", r"^/docs/"], exclude=[r"^/docs/private/"])

    crawl_site(kb, "s")

    assert outcome_of(kb, "/docs/a/") == ("new", None)
    assert outcome_of(kb, "/docs/private/b/") == ("skipped", "excluded_pattern")
    assert outcome_of(kb, "/blog/c/") == ("skipped", "not_included")
    assert sorted(page_requests(s)) == ["/", "/docs/a/"]


def test_private_address_without_opt_in_is_never_contacted(make_kb, local_server):
    s = local_server
    s.add("/robots.txt", Route("User-agent: *\nAllow: /\n", content_type="text/plain"))
    s.add("/sitemap.xml", urlset(s.base_url, ["/a/"]))
    s.add("/", page("Home", links=("/a/",)))
    s.add("/a/", page("Page A"))
    kb = site_kb(make_kb, s, private=False, sitemaps=[s.url("/sitemap.xml")])

    summary = crawl_site(kb, "s")

    assert s.requests == []  # zero connections reached the server
    rows = log(kb)
    assert outcome_of(kb, "/robots.txt") == ("robots", "blocked_address")
    assert all(o in ("skipped", "failed", "robots", "sitemap") for _, o, _ in rows), rows
    assert summary.counts["new"] == 0 and stored_paths(kb) == set()


def test_private_address_pages_are_reported_as_blocked_address(make_kb, local_server):
    s = local_server
    s.add("/", page("Home"))
    kb = site_kb(make_kb, s, private=False)

    crawl_site(kb, "s")

    page_log = [(o, r) for p, o, r in log(kb) if o not in ("robots", "sitemap", "feed")]
    assert page_log and all(r == "blocked_address" for _, r in page_log), page_log


class _PrefixRoutes(dict):
    """Routes where a key ending in '/*' serves every path under it (for generated traps)."""

    def get(self, key, default=None):
        if key in self:
            return self[key]
        for prefix, route in self.items():
            if prefix.endswith("*") and key.startswith(prefix[:-1]):
                return route
        return default


def calendar(handler) -> None:
    match = re.fullmatch(r"/calendar/(\d+)/(\d+)/", urlsplit(handler.path).path)
    if not match:
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    year, month = int(match[1]), int(match[2])
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    body = page(f"Events in {year}-{month:02d}", f"Calendar for month {month} of {year}.",
                links=(f"/calendar/{nxt[0]}/{nxt[1]}/",)).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_infinite_calendar_ends_at_max_depth(make_kb, local_server):
    s = local_server
    s.routes = _PrefixRoutes(s.routes)
    s.add("/", page("Home", links=("/calendar/2031/1/",)))
    s.add("/calendar/*", calendar)
    kb = site_kb(make_kb, s, max_depth=3)

    summary = crawl_site(kb, "s")

    calendar_hits = [p for p in s.requested_paths() if p.startswith("/calendar/")]
    assert calendar_hits == ["/calendar/2031/1/", "/calendar/2031/2/", "/calendar/2031/3/"]
    assert summary.counts["new"] == 4


def test_off_site_link_is_logged_and_never_fetched(make_kb, local_server):
    with LocalServer() as other:
        other.add("/elsewhere/", page("Another site"))
        s = local_server
        s.add("/", page("Home", links=(other.url("/elsewhere/"),)))
        kb = site_kb(make_kb, s)

        crawl_site(kb, "s")

        rows = [(o, r) for p, o, r in log(kb) if p == "/elsewhere/"]
        assert rows == [("skipped", "off_site")]
        assert other.requests == []


def test_meta_refresh_target_is_crawled(make_kb, local_server):
    s = local_server
    s.add("/", page("Home", links=("/moved/",)))
    s.add("/moved/", page("Moved", "This page has moved to a new address.",
                          head='<meta http-equiv="refresh" content="0; url=/new-home/">'))
    s.add("/new-home/", page("New home of the page", "Only reachable through the refresh."))
    kb = site_kb(make_kb, s)

    crawl_site(kb, "s")

    assert "/new-home/" in s.requested_paths()
    assert outcome_of(kb, "/new-home/") == ("new", None)
    assert "/new-home/" in stored_paths(kb)


def test_bare_meta_refresh_redirect_page_target_is_crawled(make_kb, local_server):
    s = local_server
    s.add("/", page("Home", links=("/old/",)))
    s.add("/old/", '<!doctype html><html><head><title>Redirecting</title>'
                   '<meta http-equiv="refresh" content="0; url=/new-home/"></head>'
                   '<body><p>Redirecting…</p></body></html>')
    s.add("/new-home/", page("New home of the page", "Only reachable through the refresh."))
    kb = site_kb(make_kb, s)

    crawl_site(kb, "s")

    assert "/new-home/" in s.requested_paths()
    assert outcome_of(kb, "/new-home/") == ("new", None)


def test_x_robots_tag_noindex_header(make_kb, local_server):
    s = local_server
    s.add("/", page("Home", links=("/hidden/",)))
    s.add("/hidden/", Route(page("Hidden page", "Private pricing notes."), headers={"X-Robots-Tag": "noindex"}))
    kb = site_kb(make_kb, s)

    crawl_site(kb, "s")

    assert outcome_of(kb, "/hidden/") == ("skipped", "noindex")
    assert stored_paths(kb) == {"/"}
    with kb.sessions() as session:
        assert not any("Private pricing" in t for t in session.scalars(select(Passage.text)))


def test_cp1252_page_declared_utf8_keeps_a_readable_title(make_kb, local_server):
    s = local_server
    html = page("Café pricing – déjà vu", "Our café plan costs 49 € per month, naïve résumé façade.")
    s.add("/", Route(html.encode("cp1252"), content_type="text/html; charset=utf-8"))
    kb = site_kb(make_kb, s)

    crawl_site(kb, "s")

    assert outcome_of(kb, "/") == ("new", None)
    with kb.sessions() as session:
        title = session.scalar(select(Content.title))
        text = " ".join(session.scalars(select(Passage.text)))
    assert "\ufffd" not in title, title
    assert "Café pricing" in title
    assert "café plan" in text and "\ufffd" not in text


# -- conditional re-crawl ----------------------------------------------------------------------------
def etag_page(body: str, etag: str):
    data = body.encode()

    def handler(h) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("ETag", etag)
        h.end_headers()
        h.wfile.write(data)

    return handler


def test_recrawl_with_etag_is_not_modified_and_embeds_nothing(make_kb, local_server):
    s = local_server
    s.add("/", etag_page(page("Home", links=("/a/",)), '"home-v1"'))
    s.add("/a/", etag_page(page("Page A", "SCIM provisioning."), '"a-v1"'))
    kb = site_kb(make_kb, s)

    first = crawl_site(kb, "s")
    assert first.counts["new"] == 2 and first.passages_embedded > 0
    with kb.sessions() as session:
        passages_before = session.scalar(select(func.count()).select_from(Passage))
    first_requests = len(s.requests)

    second = crawl_site(kb, "s")

    assert outcome_of(kb, "/") == ("unchanged", "not_modified")
    assert outcome_of(kb, "/a/") == ("unchanged", "not_modified")
    assert second.passages_embedded == 0
    assert second.counts == {"unchanged": 2}
    sent = {r.path: r.headers.get("if-none-match") for r in s.requests[first_requests:]}
    assert sent["/"] == '"home-v1"' and sent["/a/"] == '"a-v1"'
    with kb.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Passage)) == passages_before
    assert second.index_total == first.index_total
