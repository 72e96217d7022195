"""Caption files on a re-crawl, against a real server on 127.0.0.1 that answers conditional requests.

When a video page answers 304, a caption file that worked is asked for conditionally (and costs a 304),
one that failed last time is fetched again, and only news -- a changed file, a file that now works --
makes the crawler read the page again. Also the site setting for transcript locations (checked from the
admin form) and the pure helpers behind it.
"""

from __future__ import annotations

import hashlib
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import select

from ingest.captions import parse_captions
from ingest.crawler import crawl_site
from ingest.media_items import MediaItem
from ingest.transcript_locations import location_tracks
from ingest.transcripts import chapters_from_cues
from kb.crawl_report import page_rows
from kb.errors import ValidationError
from kb.models import Content, Passage
from kb.site_admin import create_site, spec_from_fields
from kb.timed_links import moment_link
from tests.support.http_server import Route

PAGE_TEXT = ("This recording belongs to the Acme customer education series on spend management, approvals, "
             "purchase orders and the month-end close for finance teams. ") * 2


def vtt(phrase: str) -> str:
    lines = ["WEBVTT", ""]
    for s in range(0, 120, 6):
        text = phrase if s == 60 else f"Segment {s // 6} covers the approval settings for new buyers."
        lines += [f"00:{s // 60:02d}:{s % 60:02d}.000 --> 00:{(s + 6) // 60:02d}:{(s + 6) % 60:02d}.000", text, ""]
    return "\n".join(lines)


class Conditional:
    """A route that honours If-None-Match with an ETag of its body (what real servers do)."""

    def __init__(self, body: str, content_type: str = "text/html; charset=utf-8", status: int = 200) -> None:
        self.body, self.content_type, self.status = body, content_type, status

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        data = self.body.encode("utf-8")
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.status == 200 and handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(data)))
        if self.status == 200:
            handler.send_header("ETag", etag)
        handler.end_headers()
        handler.wfile.write(data)


def page() -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Approvals tour | Acme</title></head>
<body><main><article><h1>Approvals tour</h1><video controls><source src="tour.mp4" type="video/mp4">
<track kind="captions" src="tour.vtt" srclang="en" default></video><p>{PAGE_TEXT}</p></article></main></body></html>"""


@pytest.fixture
def site(local_server):
    s = local_server
    s.add("/robots.txt", Route("User-agent: *\nAllow: /\n", content_type="text/plain"))
    s.add("/", Conditional(f'<html><body><main><h1>Acme</h1><p>{PAGE_TEXT}</p><a href="/videos/tour/">Tour</a>'
                           "</main></body></html>"))
    s.add("/videos/tour/", Conditional(page()))
    return s


@pytest.fixture
def kb(make_kb, site):
    return make_kb({"crawl": {"deadline_seconds": 3, "delay_seconds": 0.0},
                    "sites": [{"name": "acme", "base_url": site.base_url + "/", "allow_private_addresses": True}]})


def caption_requests(site) -> list:
    return [r for r in site.requests if r.path == "/videos/tour/tour.vtt"]


def tour_rows(kb) -> dict[str, object]:
    with kb.sessions() as session:
        return {row.url.split("/", 3)[3]: row for row in page_rows(session)}


def timed_texts(kb, site) -> str:
    with kb.sessions() as session:
        content = session.scalar(select(Content).where(Content.canonical_url == f"{site.base_url}/videos/tour/"))
        return " ".join(session.scalars(select(Passage.text).where(Passage.content_id == content.id,
                                                                   Passage.start_seconds.is_not(None))))


def test_a_304_page_asks_for_its_captions_conditionally_and_reads_again_only_on_news(kb, site):
    site.add("/videos/tour/tour.vtt", Conditional(vtt("The amber falcon policy blocks duplicate invoices."),
                                                  "text/vtt"))
    crawl_site(kb, "acme")
    assert "amber falcon" in timed_texts(kb, site)

    crawl_site(kb, "acme")  # nothing changed: the page and its caption file both answer 304
    rows = tour_rows(kb)
    assert (rows["videos/tour/"].outcome, rows["videos/tour/"].http_status) == ("unchanged", 304)
    captions = rows["videos/tour/tour.vtt"]
    assert (captions.outcome, captions.reason, captions.http_status) == ("unchanged", "not_modified", 304)
    assert caption_requests(site)[-1].headers.get("if-none-match")  # asked conditionally
    assert len(caption_requests(site)) == 2

    site.add("/videos/tour/tour.vtt", Conditional(vtt("The emerald otter check pauses risky payments."), "text/vtt"))
    crawl_site(kb, "acme")  # the page is unchanged (304) but its caption file changed: read the page again
    rows = tour_rows(kb)
    assert rows["videos/tour/"].outcome == "changed" and rows["videos/tour/tour.vtt"].outcome == "changed"
    assert "emerald otter" in timed_texts(kb, site) and "amber falcon" not in timed_texts(kb, site)
    assert len(caption_requests(site)) == 3  # the re-read used the file already fetched


def test_a_caption_file_that_failed_is_fetched_again_even_when_the_page_is_unchanged(kb, site):
    crawl_site(kb, "acme")  # no caption file yet: 404
    assert tour_rows(kb)["videos/tour/tour.vtt"].reason == "caption_http_404"
    assert timed_texts(kb, site) == ""
    site.add("/videos/tour/tour.vtt", Conditional(vtt("The amber falcon policy blocks duplicate invoices."),
                                                  "text/vtt"))
    crawl_site(kb, "acme")
    rows = tour_rows(kb)
    assert rows["videos/tour/tour.vtt"].outcome == "new" and rows["videos/tour/"].outcome == "changed"
    assert not caption_requests(site)[-1].headers.get("if-none-match")  # a failed file has no validators
    assert "amber falcon" in timed_texts(kb, site)
    hit = kb.search("amber falcon policy blocks duplicate invoices", k=3).hits[0]
    assert hit.link == f"{site.base_url}/videos/tour/#t={int(hit.start_seconds)}"


def test_transcript_locations_are_checked_from_the_admin_form(make_kb):
    kb = make_kb()
    spec = spec_from_fields({"name": "www", "base_url": "https://www.example.com/",
                             "transcripts": "https://www.example.com/transcripts/{slug}.vtt\n/captions/{id}.srt\n"})
    assert spec.transcripts == ["https://www.example.com/transcripts/{slug}.vtt", "/captions/{id}.srt"]
    created = create_site(kb, {"name": "www", "base_url": "https://www.example.com/",
                               "transcripts": "/captions/{id}.srt"})
    assert created["transcripts"] == ["/captions/{id}.srt"]
    for bad, says in (("/transcripts/{name}.vtt", "unknown placeholder {name}"),
                      ("/transcripts/all.vtt", "needs a placeholder"),
                      ("ftp://example.com/{slug}.vtt", "http(s) URL or a path")):
        with pytest.raises(ValidationError, match="transcripts: .*" + says.replace("(", r"\(").replace(")", r"\)")):
            spec_from_fields({"name": "x", "base_url": "https://www.example.com/", "transcripts": bad})


def test_location_templates_fill_in_slug_path_and_id():
    item = MediaItem(kind="video", platform="youtube", platform_id="dQw4w9WgXcQ")
    templates = ["/t/{slug}.vtt", "https://cdn.example.com/{path}/captions.srt", "/yt/{id}.vtt", "/bad/{nope}.vtt"]
    own = location_tracks(templates, "https://www.example.com/videos/sso-setup/", item, own_page=True)
    assert [t.url for t in own] == ["https://www.example.com/t/sso-setup.vtt",
                                    "https://cdn.example.com/videos/sso-setup/captions.srt",
                                    "https://www.example.com/yt/dQw4w9WgXcQ.vtt"]
    embedded = location_tracks(templates, "https://www.example.com/blog/post/", item, own_page=False)
    assert [t.url for t in embedded] == ["https://www.example.com/yt/dQw4w9WgXcQ.vtt"]  # only {id} names an embed
    assert location_tracks(templates, "https://www.example.com/", None, own_page=True) == []


def test_chapter_track_cues_become_chapters_and_moment_links_follow_the_player():
    parse = parse_captions(b"WEBVTT\n\n00:00.000 --> 01:30.000\nIntro\n\n01:30.000 --> 03:00.000\nPricing\n",
                           filename="c.vtt")
    assert [(c.start, c.title) for c in chapters_from_cues(parse)] == [(0.0, "Intro"), (90.0, "Pricing")]
    assert chapters_from_cues(None) == []
    page = "https://www.example.com/videos/tour/"
    assert moment_link(page, 93, media_url="https://vimeo.com/123", media_platform="vimeo") == \
        "https://vimeo.com/123#t=93s"
    assert moment_link(page, 93, media_url=None, media_platform="html5") == f"{page}#t=93"
    assert moment_link(page, None, media_url="https://vimeo.com/123", media_platform="vimeo") == page
