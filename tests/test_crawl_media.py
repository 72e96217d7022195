"""End to end: pages with videos and podcasts crawled from a real server on 127.0.0.1 become timed passages.

A video page with a ``<track>`` to a good WebVTT file, tracks that 404, point off-site or serve garbage, a
podcast page with its transcript in the body, and a JSON-LD VideoObject with a ``transcript``: every page
is stored from its text, captions add passages with their second, and every bad caption URL has its reason
in the crawl report. Then the bundled demo: a phrase spoken only in a video is found at its second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest.crawler import crawl_site
from kb.crawl_report import page_rows
from kb.models import Content, Passage
from tests.support.captions import vtt
from tests.support.http_server import Route

INTRO = ("This recording belongs to the Acme customer education series on spend management, "
         "approvals, purchase orders and the month-end close for finance teams. ")


GOOD_CUES = [(s, f"Part {s // 6} of the walkthrough covers routine approval settings for buyers.")
             for s in range(0, 90, 6)]
GOOD_CUES += [(93, "The purple walrus vault encrypts every stored invoice with its own key."),
              (99, "Auditors can export the vault key history as a signed report."),
              (105, "That is all you need to know about invoice encryption.")]
GOOD_CUES += [(s, f"Step {s} shows the dashboard filters for spend by department.") for s in range(111, 170, 6)]


def video_page(title: str, track: str | None, *, head: str = "") -> str:
    player = (f'<video controls width="640"><source src="clip.mp4" type="video/mp4">'
              f'<track kind="captions" src="{track}" srclang="en" label="English" default></video>') if track else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} | Acme</title>{head}</head>
<body><main><article><h1>{title}</h1>{player}<p>{INTRO * 2}</p>
<h2>In this video</h2><ul><li>0:00 Approval settings</li><li>1:30 Invoice encryption</li>
<li>1:51 Dashboard filters</li></ul></article></main></body></html>"""


TURNS = [
    ("00:00:05", "Dana", "Welcome to The Purchase Order. Today my guest is Priya, controller at Halcyon Logistics."),
    ("00:00:20", "Priya", "Thanks, Dana. Happy to be here and to talk about our migration off spreadsheets."),
    ("00:00:41", "Dana", "What was the first decision you made when you moved purchasing into the new system?"),
    ("00:01:02", "Priya", "We froze the vendor master for two weeks and imported only vendors paid in eighteen "
                          "months, which took us from forty-eight hundred records down to eleven hundred."),
    ("00:01:40", "Dana", "And how long did you run the old spreadsheet and the new tool side by side?"),
    ("00:01:58", "Priya", "Exactly one month-end close. Any longer and people keep using whichever is easier."),
]


def podcast_page() -> str:
    turns = "".join(f"<p>[{ts}] {who}: {text}</p>" for ts, who, text in TURNS)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Episode 3 | Acme podcast</title>
</head><body><main><article><h1>Episode 3: leaving spreadsheets behind</h1>
<p>Priya Raman, controller at Halcyon Logistics, on the migration decisions she would make again.</p>
<h2>Transcript</h2>{turns}</article></main></body></html>"""


def webinar_page() -> str:
    node = {"@context": "https://schema.org", "@type": "VideoObject", "name": "Quarterly product webinar",
            "description": "What shipped this quarter.", "uploadDate": "2026-01-05",
            "embedUrl": "https://www.youtube.com/embed/dQw4w9WgXcQ",
            "transcript": "Welcome to the quarterly webinar. This quarter the tangerine ledger feature lets "
                          "controllers lock a closed period so nobody can post late journal entries into it. "
                          "Questions came in about pricing, and the answer is that it ships on every plan."}
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Quarterly product webinar</title>
<script type="application/ld+json">{json.dumps(node)}</script></head><body><main><article>
<h1>Quarterly product webinar</h1>
<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" width="560" height="315"></iframe>
<p>{INTRO * 2}</p></article></main></body></html>"""


@pytest.fixture
def site(local_server):
    s = local_server
    base = s.base_url
    pages = ["/videos/encryption/", "/videos/broken/", "/videos/offsite/", "/videos/garbage/",
             "/podcast/episode-3/", "/webinars/quarterly/"]
    s.add("/robots.txt", Route(f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n", content_type="text/plain"))
    s.add("/sitemap.xml", Route(
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{base}{p}</loc></url>" for p in pages) + "</urlset>", content_type="application/xml"))
    s.add("/", Route("<html><body><main><h1>Acme</h1><p>" + INTRO * 3 + "</p></main></body></html>"))
    s.add("/videos/encryption/", Route(video_page("Invoice encryption walkthrough", "encryption.vtt")))
    s.add("/videos/encryption/encryption.vtt", Route(vtt(GOOD_CUES), content_type="text/vtt"))
    s.add("/videos/broken/", Route(video_page("Broken captions walkthrough", "missing.vtt")))
    s.add("/videos/offsite/", Route(video_page("Off-site captions walkthrough",
                                               "https://captions.example.net/offsite.vtt")))
    s.add("/videos/garbage/", Route(video_page("Garbage captions walkthrough", "garbage.vtt")))
    s.add("/videos/garbage/garbage.vtt", Route(bytes(range(256)) * 40, content_type="text/vtt"))
    s.add("/podcast/episode-3/", Route(podcast_page()))
    s.add("/webinars/quarterly/", Route(webinar_page()))
    return s


@pytest.fixture
def kb(make_kb, site):
    return make_kb({
        "crawl": {"deadline_seconds": 3, "delay_seconds": 0.0},
        "sites": [{"name": "acme", "base_url": site.base_url + "/", "allow_private_addresses": True}],
    })


def rows_by_path(kb) -> dict[str, object]:
    with kb.sessions() as session:
        return {"/" + row.url.split("/", 3)[3] if "127.0.0.1" in row.url else row.url: row
                for row in page_rows(session)}


def passages_of(kb, url: str) -> list[Passage]:
    with kb.sessions() as session:
        content = session.scalar(select(Content).where(Content.canonical_url == url))
        assert content is not None, url
        return list(session.scalars(select(Passage).where(Passage.content_id == content.id)
                                    .order_by(Passage.ordinal)))


def test_captions_become_timed_passages_and_search_lands_on_the_second(kb, site):
    crawl_site(kb, "acme")
    base = site.base_url
    row = rows_by_path(kb)["/videos/encryption/"]
    assert row.outcome == "new" and row.reason is None
    assert f"kept {len(GOOD_CUES)} of {len(GOOD_CUES)} cues" in row.detail and "timed passages" in row.detail

    passages = passages_of(kb, f"{base}/videos/encryption/")
    text = [p for p in passages if p.start_seconds is None]
    timed = [p for p in passages if p.start_seconds is not None]
    assert text and "customer education series" in text[0].text  # the page's own text is kept
    assert len(timed) >= 3 and all(p.end_seconds > p.start_seconds for p in timed)
    assert [p.start_seconds for p in timed] == sorted(p.start_seconds for p in timed)
    walrus = next(p for p in timed if "purple walrus" in p.text)
    assert walrus.heading_path == ["Invoice encryption"]  # the chapter list of the page
    assert walrus.start_seconds <= 93 < walrus.end_seconds

    hit = kb.search("purple walrus vault", k=3).hits[0]
    assert hit.url == f"{base}/videos/encryption/"
    assert hit.moment == f"{int(hit.start_seconds) // 60}:{int(hit.start_seconds) % 60:02d}"
    assert hit.link == f"{base}/videos/encryption/#t={int(hit.start_seconds)}"
    assert 80 <= hit.start_seconds <= 93


def test_bad_caption_urls_have_their_reason_and_the_page_keeps_its_text(kb, site):
    summary = crawl_site(kb, "acme")
    base = site.base_url
    rows = rows_by_path(kb)
    for page in ("/videos/broken/", "/videos/offsite/", "/videos/garbage/"):
        assert rows[page].outcome == "new", page
        passages = passages_of(kb, f"{base}{page}")
        assert passages and all(p.start_seconds is None for p in passages), page
    broken = rows["/videos/broken/missing.vtt"]
    assert (broken.outcome, broken.reason, broken.http_status) == ("failed", "caption_http_404", 404)
    assert broken.discovered_via == "captions"
    offsite = rows["https://captions.example.net/offsite.vtt"]
    assert (offsite.outcome, offsite.reason) == ("skipped", "caption_off_site")
    garbage = rows["/videos/garbage/garbage.vtt"]
    assert (garbage.outcome, garbage.reason) == ("failed", "caption_unparseable")
    assert "neither WebVTT nor SRT" in garbage.detail
    assert summary.reasons["caption_http_404"] == 1 and summary.reasons["caption_unparseable"] == 1
    assert "/offsite.vtt" not in site.requested_paths()  # refused before any request


def test_a_caption_file_over_the_size_cap_is_refused(make_kb, site):
    site.add("/videos/encryption/encryption.vtt",
             Route(vtt(GOOD_CUES) + "\n" + "x" * 300_000, content_type="text/vtt"))
    kb = make_kb({"crawl": {"deadline_seconds": 3, "delay_seconds": 0.0, "max_page_bytes": 200_000},
                  "sites": [{"name": "acme", "base_url": site.base_url + "/", "allow_private_addresses": True}]})
    crawl_site(kb, "acme")
    rows = rows_by_path(kb)
    assert rows["/videos/encryption/encryption.vtt"].reason == "caption_too_large"
    assert rows["/videos/encryption/"].outcome == "new"
    assert all(p.start_seconds is None for p in passages_of(kb, f"{site.base_url}/videos/encryption/"))


def test_a_changed_caption_file_re_ingests_the_page(kb, site):
    crawl_site(kb, "acme")
    assert rows_by_path(kb)["/videos/encryption/"].outcome == "new"
    crawl_site(kb, "acme")
    assert rows_by_path(kb)["/videos/encryption/"].outcome == "unchanged"
    changed = [(s, t.replace("purple walrus", "golden heron")) for s, t in GOOD_CUES]
    site.add("/videos/encryption/encryption.vtt", Route(vtt(changed), content_type="text/vtt"))
    crawl_site(kb, "acme")
    assert rows_by_path(kb)["/videos/encryption/"].outcome == "changed"
    texts = " ".join(p.text for p in passages_of(kb, f"{site.base_url}/videos/encryption/"))
    assert "golden heron" in texts and "purple walrus" not in texts


def test_podcast_transcript_in_the_body_becomes_speaker_passages(kb, site):
    crawl_site(kb, "acme")
    row = rows_by_path(kb)["/podcast/episode-3/"]
    assert row.outcome == "new" and "body transcript: 6 turns by 2 speakers" in row.detail
    passages = passages_of(kb, f"{site.base_url}/podcast/episode-3/")
    timed = [p for p in passages if p.start_seconds is not None]
    assert timed and timed[0].start_seconds == 5.0
    assert all(p.text.startswith(("Dana: ", "Priya: ")) for p in timed)
    assert "Priya: " in " ".join(p.text for p in timed)
    # the turns are indexed once, as timed passages; the episode's own text stays a text passage
    untimed = " ".join(p.text for p in passages if p.start_seconds is None)
    assert "froze the vendor master" not in untimed and "would make again" in untimed
    hit = kb.search("froze the vendor master for two weeks", k=3).hits[0]
    assert hit.url.endswith("/podcast/episode-3/") and hit.start_seconds is not None
    assert hit.link.endswith(f"#t={int(hit.start_seconds)}")


def test_jsonld_transcript_without_captions_becomes_untimed_passages(kb, site):
    crawl_site(kb, "acme")
    row = rows_by_path(kb)["/webinars/quarterly/"]
    assert row.outcome == "new" and "JSON-LD transcript" in row.detail
    passages = passages_of(kb, f"{site.base_url}/webinars/quarterly/")
    transcript = [p for p in passages if "tangerine ledger" in p.text]
    assert transcript and transcript[0].heading_path == ["Transcript"] and transcript[0].start_seconds is None
    hit = kb.search("tangerine ledger lock a closed period", k=3).hits[0]
    assert hit.url.endswith("/webinars/quarterly/") and hit.moment is None


def test_demo_video_captions_are_found_at_their_second(demo_kb):
    response = demo_kb.search("works council approval in Germany before rollout", k=3)
    hit = next(h for h in response.hits if h.url.endswith("/videos/brightwell-foods-customer-story/"))
    assert hit.start_seconds is not None and hit.start_seconds <= 116 <= hit.start_seconds + 60
    assert hit.link == f"{hit.url}#t={int(hit.start_seconds)}"
    with demo_kb.sessions() as session:
        timed = session.scalars(select(Passage).join(Content).where(
            Content.canonical_url.like("%/videos/%"), Passage.start_seconds.is_not(None))).all()
        episode = session.scalars(select(Passage).join(Content).where(
            Content.canonical_url.like("%/podcast/leaving-spreadsheets-behind/"))).all()
    assert len({p.content_id for p in timed}) == 3
    spoken = [p for p in episode if p.start_seconds is not None]
    assert spoken[0].start_seconds == 12.0 and spoken[0].text.startswith("Dana: Welcome to The Purchase Order")
    assert all(p.text.startswith(("Dana: ", "Priya: ")) for p in spoken)  # no "Introductions:" speaker


def test_messy_caption_files_are_used_and_their_drops_reported_per_url(kb, site):
    """C-51..C-56 in a crawl: a BOM'd CRLF SRT, a cp1252 SRT and a file of absurd timestamps and malformed
    blocks are each indexed with what could be kept, and each URL's report row says what was dropped."""
    fixtures = Path(__file__).parent / "fixtures" / "captions"
    for name in ("hf_bom_crlf.srt", "cp1252.srt", "absurd.vtt"):
        slug = name.split(".")[0].replace("_", "-")
        site.add(f"/videos/{slug}/", Route(video_page(f"Messy captions {slug}", name)))
        site.add(f"/videos/{slug}/{name}", Route((fixtures / name).read_bytes(), content_type="text/plain"))
    site.add("/", Route("<html><body><main><h1>Acme</h1><p>" + INTRO * 3 + "</p>"
                        + "".join(f'<a href="/videos/{s}/">{s}</a>' for s in ("hf-bom-crlf", "cp1252", "absurd"))
                        + "</main></body></html>"))
    crawl_site(kb, "acme")
    rows = rows_by_path(kb)
    assert rows["/videos/cp1252/cp1252.srt"].outcome == "new"
    assert "not UTF-8, decoded as cp1252" in rows["/videos/cp1252/cp1252.srt"].detail
    absurd = rows["/videos/absurd/absurd.vtt"]
    assert absurd.outcome == "new" and absurd.discovered_via == "captions"
    assert absurd.detail.startswith("kept 3 of 10 cues") and "1 beyond_24h" in absurd.detail
    assert "6 of 10 cue blocks lost" in absurd.detail
    assert rows["/videos/hf-bom-crlf/hf_bom_crlf.srt"].outcome == "new"
    for slug in ("hf-bom-crlf", "cp1252", "absurd"):
        assert rows[f"/videos/{slug}/"].outcome == "new"
        passages = passages_of(kb, f"{site.base_url}/videos/{slug}/")
        assert any(p.start_seconds is not None for p in passages), slug  # the cues kept are indexed
        assert any("customer education series" in p.text for p in passages), slug  # and the page's text
