"""End to end on a real server on 127.0.0.1: videos embedded in blog posts become content of their own.

A post embeds a YouTube video and a Vimeo video (their transcripts at the site's transcript location,
``/transcripts/{id}.vtt``) and its own HTML5 player with a captions track and a chapters track. Each
recording is stored once as a "video" linked to the post, its hits land on the second on its platform,
a re-crawl duplicates nothing, a dropped embed and a gone post retire what they embedded, and the content
page and API show the link both ways. A video page whose player is YouTube links to the YouTube moment.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from ingest.crawler import crawl_site
from kb.crawl_report import page_rows
from kb.models import Content, Passage
from tests.support.captions import vtt
from tests.support.http_server import Route
from tests.support.web_client import api_token, logged_in
from web import create_app

YT, VIMEO = "dQw4w9WgXcQ", "76979871"
FILLER = ("Month-end close is where finance teams lose days to spreadsheets, approvals and chasing receipts. "
          "This post walks through how controllers at mid-size companies shorten it without new headcount. ")


def cues(phrase: str, at: int = 93) -> list[tuple[int, str]]:
    """Three minutes of talk with ``phrase`` spoken at second ``at``."""
    talk = [(s, f"Segment {s // 6} covers routine settings for the approval workflow.") for s in range(0, at, 6)]
    talk.append((at, phrase))
    talk += [(s, f"Later segment {s} reviews the reporting dashboards by department.") for s in range(at + 6, 180, 6)]
    return talk


YT_PHRASE = "The saffron kestrel rule escalates any invoice above ten thousand dollars to the controller."
VIMEO_PHRASE = "Our cobalt lantern report reconciles card spend against the general ledger every night."
OWN_PHRASE = "The juniper beacon check flags duplicate vendors before the payment run starts."
CHAPTERS = [(0, "Approval settings"), (90, "Duplicate vendors"), (120, "Dashboards")]


def post(*, with_youtube: bool = True) -> str:
    article = {"@context": "https://schema.org", "@type": "BlogPosting", "headline": "Closing the books faster"}
    youtube = (f'<figure><iframe src="https://www.youtube.com/embed/{YT}?rel=0" title="YouTube video player">'
               f'</iframe><figcaption>Escalation rules in two minutes</figcaption></figure>') if with_youtube else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Closing the books faster | Acme</title>
<script type="application/ld+json">{json.dumps(article)}</script></head>
<body><main><article><h1>Closing the books faster</h1><p>{FILLER * 2}</p>{youtube}
<iframe src="https://player.vimeo.com/video/{VIMEO}" title="Card spend reconciliation demo"></iframe>
<p>{FILLER}</p>
<video controls><source src="/media/vendors.mp4" type="video/mp4">
<track kind="captions" src="/media/vendors.vtt" srclang="en" default>
<track kind="chapters" src="/media/vendors-chapters.vtt" srclang="en"></video>
<p>{FILLER}</p></article></main></body></html>"""


def video_page() -> str:
    """A video page whose player is YouTube (og:type video) and whose transcript is at /transcripts/{slug}.vtt."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Spend controls tour | Acme</title>
<meta property="og:type" content="video.other"><meta property="og:title" content="Spend controls tour">
<meta property="og:video" content="https://www.youtube.com/embed/aaaaaaaaaaa"></head>
<body><main><article><h1>Spend controls tour</h1>
<iframe src="https://www.youtube.com/embed/aaaaaaaaaaa"></iframe><p>{FILLER * 2}</p></article></main></body></html>"""


@pytest.fixture
def site(local_server):
    s = local_server
    base = s.base_url
    pages = ["/blog/closing-the-books/", "/videos/spend-controls-tour/"]
    s.add("/robots.txt", Route(f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n", content_type="text/plain"))
    s.add("/sitemap.xml", Route(
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{base}{p}</loc></url>" for p in pages) + "</urlset>", content_type="application/xml"))
    s.add("/", Route("<html><body><main><h1>Acme</h1><p>" + FILLER * 3 + "</p></main></body></html>"))
    s.add("/blog/closing-the-books/", Route(post()))
    s.add("/videos/spend-controls-tour/", Route(video_page()))
    s.add(f"/transcripts/{YT}.vtt", Route(vtt(cues(YT_PHRASE)), content_type="text/vtt"))
    s.add(f"/transcripts/{VIMEO}.vtt", Route(vtt(cues(VIMEO_PHRASE)), content_type="text/vtt"))
    s.add("/transcripts/spend-controls-tour.vtt",
          Route(vtt(cues("The violet harbor limit caps card spend per merchant category.")), content_type="text/vtt"))
    s.add("/media/vendors.vtt", Route(vtt(cues(OWN_PHRASE)), content_type="text/vtt"))
    s.add("/media/vendors-chapters.vtt", Route(vtt(CHAPTERS), content_type="text/vtt"))
    return s


@pytest.fixture
def kb(make_kb, site):
    return make_kb({
        "crawl": {"deadline_seconds": 3, "delay_seconds": 0.0},
        "sites": [{"name": "acme", "base_url": site.base_url + "/", "allow_private_addresses": True,
                   "transcripts": ["/transcripts/{id}.vtt", "/transcripts/{slug}.vtt"]}],
    })


def contents(kb) -> dict[str, Content]:
    with kb.sessions() as session:
        return {c.canonical_url: c for c in session.scalars(select(Content))}


def rows(kb) -> list:
    with kb.sessions() as session:
        return page_rows(session)


def test_each_embedded_video_is_its_own_content_linked_to_the_post(kb, site):
    crawl_site(kb, "acme")
    stored = contents(kb)
    post_url = f"{site.base_url}/blog/closing-the-books/"
    the_post = stored[post_url]
    youtube = stored[f"https://www.youtube.com/watch?v={YT}"]
    vimeo = stored[f"https://vimeo.com/{VIMEO}"]
    own = next(c for url, c in stored.items() if url.startswith(post_url + "#media-"))
    for child in (youtube, vimeo, own):
        assert child.kind == "video" and child.parent_content_id == the_post.id and child.status == "live"
    assert (youtube.media_platform, vimeo.media_platform, own.media_platform) == ("youtube", "vimeo", "html5")
    assert youtube.title == "Escalation rules in two minutes"  # the figure caption (the iframe title is generic)
    assert vimeo.title == "Card spend reconciliation demo"  # the iframe title
    assert own.title == "Video in: Closing the books faster"  # nothing better: named after the post
    # the post keeps its own text only: the recordings' words are theirs
    with kb.sessions() as session:
        post_text = " ".join(session.scalars(select(Passage.text).where(Passage.content_id == the_post.id)))
        own_passages = list(session.scalars(select(Passage).where(Passage.content_id == own.id)))
    assert "saffron kestrel" not in post_text and "Month-end close" in post_text
    # the chapters track gives the headings of the HTML5 recording's passages
    juniper = next(p for p in own_passages if "juniper beacon" in p.text)
    assert juniper.heading_path == ["Duplicate vendors"] and juniper.start_seconds <= 93 < juniper.end_seconds


def test_hits_land_on_the_second_on_each_platform(kb, site):
    crawl_site(kb, "acme")
    hit = kb.search("saffron kestrel rule escalates invoices", k=3).hits[0]
    assert hit.url == f"https://www.youtube.com/watch?v={YT}" and hit.start_seconds is not None
    assert hit.link == f"https://www.youtube.com/watch?v={YT}&t={int(hit.start_seconds)}s"
    assert 60 <= hit.start_seconds <= 93
    hit = kb.search("cobalt lantern report reconciles card spend", k=3).hits[0]
    assert hit.link == f"https://vimeo.com/{VIMEO}#t={int(hit.start_seconds)}s"
    hit = kb.search("juniper beacon check flags duplicate vendors", k=3).hits[0]
    assert hit.link == f"{site.base_url}/blog/closing-the-books/#t={int(hit.start_seconds)}"
    # a video page whose player is YouTube: its transcript (at /transcripts/{slug}.vtt) links to YouTube
    hit = kb.search("violet harbor limit caps card spend per merchant", k=3).hits[0]
    assert hit.url == f"{site.base_url}/videos/spend-controls-tour/"
    assert hit.link == f"https://www.youtube.com/watch?v=aaaaaaaaaaa&t={int(hit.start_seconds)}s"


def test_every_caption_fetch_has_a_report_row_with_its_cue_counts(kb, site):
    summary = crawl_site(kb, "acme")
    captions = {r.url.split("/", 3)[3]: r for r in rows(kb) if r.discovered_via == "captions"}
    assert set(captions) == {f"transcripts/{YT}.vtt", f"transcripts/{VIMEO}.vtt", "media/vendors.vtt",
                             "media/vendors-chapters.vtt", "transcripts/spend-controls-tour.vtt",
                             "transcripts/aaaaaaaaaaa.vtt"}
    # the video page's first location ({id}) is not there: reported, and the next one ({slug}) is used
    missing = captions["transcripts/aaaaaaaaaaa.vtt"]
    assert (missing.outcome, missing.reason) == ("failed", "caption_http_404")
    assert captions["transcripts/spend-controls-tour.vtt"].outcome == "new"
    row = captions["media/vendors.vtt"]
    assert (row.outcome, row.reason, row.http_status) == ("new", None, 200)
    assert row.detail.startswith(f"kept {len(cues(OWN_PHRASE))} of {len(cues(OWN_PHRASE))} cues")
    embeds = [r for r in rows(kb) if r.discovered_via == "embed"]
    assert len(embeds) == 3 and {r.outcome for r in embeds} == {"new"}
    assert summary.counts["new"] == 3 + 3  # home, post, video page + three embedded recordings


def test_a_recrawl_duplicates_nothing_and_a_dropped_embed_is_retired(kb, site):
    crawl_site(kb, "acme")
    before = contents(kb)
    crawl_site(kb, "acme")
    assert contents(kb).keys() == before.keys()
    assert {r.outcome for r in rows(kb) if r.discovered_via == "embed"} == {"unchanged"}
    assert {r.outcome for r in rows(kb) if r.discovered_via == "captions" and r.reason is None} == {"unchanged"}

    site.add("/blog/closing-the-books/", Route(post(with_youtube=False)))
    crawl_site(kb, "acme")
    youtube = contents(kb)[f"https://www.youtube.com/watch?v={YT}"]
    assert youtube.status == "retired"
    retired = next(r for r in rows(kb) if r.url == f"https://www.youtube.com/watch?v={YT}")
    assert (retired.outcome, retired.reason) == ("retired", "no_longer_embedded")
    assert all(h.url != youtube.canonical_url for h in kb.search("saffron kestrel rule escalates", k=5).hits)

    site.add("/blog/closing-the-books/", Route("gone", status=404))
    crawl_site(kb, "acme")
    stored = contents(kb)
    assert stored[f"https://vimeo.com/{VIMEO}"].status == "retired"
    assert stored[f"{site.base_url}/blog/closing-the-books/"].status == "retired"


def test_content_page_and_api_show_the_post_and_its_videos(kb, site):
    crawl_site(kb, "acme")
    stored = contents(kb)
    the_post = stored[f"{site.base_url}/blog/closing-the-books/"]
    vimeo = stored[f"https://vimeo.com/{VIMEO}"]
    app = create_app(kb, {"TESTING": True})
    client = logged_in(app, kb, "mia@acme.test", "marketer")
    page = client.get(f"/content/{the_post.id}").get_data(as_text=True)
    assert "Videos in this post" in page and "Card spend reconciliation demo" in page
    page = client.get(f"/content/{vimeo.id}").get_data(as_text=True)
    assert "Video in:" in page and f"/content/{the_post.id}" in page
    headers = api_token(kb, "mia@acme.test", "marketer")
    data = app.test_client().get(f"/api/v1/content/{vimeo.id}", headers=headers).get_json()
    assert data["parent"] == {"id": the_post.id, "title": "Closing the books faster", "url": the_post.canonical_url,
                              "status": "live"}
    assert data["media_platform"] == "vimeo" and data["media_url"] == f"https://vimeo.com/{VIMEO}"
    timed = [p for p in data["passages"] if p["start_seconds"]]
    assert timed and timed[0]["url"] == f"https://vimeo.com/{VIMEO}#t={int(timed[0]['start_seconds'])}s"
    data = app.test_client().get(f"/api/v1/content/{the_post.id}", headers=headers).get_json()
    assert {e["id"] for e in data["embedded"]} >= {vimeo.id} and data["parent"] is None
