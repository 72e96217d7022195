"""Video and audio on crawled pages (ingest.media and its readers), Google video sitemaps, body transcripts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.media import (
    CaptionTrack,
    Clip,
    MediaItem,
    Turn,
    find_media,
    find_transcript_turns,
    media_from_sitemap,
)
from ingest.media_jsonld import iso_duration
from ingest.sitemaps import parse_sitemap

FIXTURES = Path(__file__).parent / "fixtures" / "media"
SITE = "https://www.northwind.example"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def summary(items: list[MediaItem]) -> list[tuple[str, str, str | None, list[str], bool]]:
    return [(i.kind, i.platform, i.platform_id, i.found_in, i.embedded_in_post) for i in items]


# --- HTML5 players -------------------------------------------------------------------------------


def test_html5_video_with_tracks_resolved_against_base():
    page = find_media(fixture("video_page.html"), f"{SITE}/videos/sso-setup/")
    (video,) = page.items
    assert video.platform == "html5" and video.kind == "video"
    assert video.watch_url == f"{SITE}/videos/sso-setup/"  # the page's own player
    assert video.content_url == f"{SITE}/media/sso-setup.webm"  # javascript: source skipped
    assert video.thumbnail_url == f"{SITE}/videos/posters/sso.jpg"  # <base href> honoured
    assert video.captions == [
        CaptionTrack(f"{SITE}/videos/sso-setup/captions.en.vtt", "captions", "en", "English", True, "vtt"),
        CaptionTrack(f"{SITE}/subs/sso-setup.de.srt", "subtitles", "de", "Deutsch", False, "srt"),
    ]
    assert video.chapter_tracks == [CaptionTrack(f"{SITE}/videos/sso-setup/chapters.vtt", "chapters", "en", None,
                                                 False, "vtt")]
    assert page.caption_tracks == video.captions
    # og:type video.other: the page is about this video, and it is named after the page.
    assert page.main is video and video.title == "SSO setup walkthrough"
    assert dict(page.dropped) == {
        "media source not an http(s) URL": 2,  # javascript: <source>, blob: <audio src>
        "<track kind=descriptions> is not captions": 1,
        "<track> without an http(s) src": 1,
        "<audio> without a usable source": 1,
    }


def test_placeholder_player_deferring_to_youtube_is_one_item_with_its_tracks():
    """The rendered company site: a <video> with tracks whose real player is YouTube, plus JSON-LD and a link."""
    html = """<html><head><meta property="og:type" content="video.other">
    <meta property="og:video" content="https://www.youtube-nocookie.com/embed/tiZFewofSLM">
    <meta property="video:duration" content="276">
    <script type="application/ld+json">{"@type": "VideoObject", "name": "The pipeline function",
      "duration": "PT4M36S", "uploadDate": "2021-11-15", "embedUrl": "https://www.youtube-nocookie.com/embed/tiZFewofSLM",
      "contentUrl": "https://www.youtube.com/watch?v=tiZFewofSLM",
      "caption": {"@type": "MediaObject", "contentUrl": "/videos/p/p.srt", "encodingFormat": "application/x-subrip",
                  "inLanguage": "en"}}</script></head>
    <body><main><video controls data-player-url="https://www.youtube-nocookie.com/embed/tiZFewofSLM">
      <track kind="captions" src="/videos/p/p.srt" srclang="en" label="English" default>
      <p><a href="https://www.youtube.com/watch?v=tiZFewofSLM&amp;list=PLo2&amp;index=2">Watch it</a></p></video>
    <a href="https://www.youtube.com/watch?v=tiZFewofSLM&amp;list=PLo2&amp;index=2">Original talk page</a>
    <a href="https://www.youtube.com/c/HuggingFace">Channel</a></main></body></html>"""
    page = find_media(html, f"{SITE}/videos/p/")
    assert summary(page.items) == [("video", "youtube", "tiZFewofSLM", ["element", "link", "og", "jsonld"], False)]
    video = page.items[0]
    assert video.captions == [CaptionTrack(f"{SITE}/videos/p/p.srt", "captions", "en", "English", True, "srt")]
    assert (video.title, video.duration_seconds, video.upload_date) == (
        "The pipeline function", 276.0, datetime(2021, 11, 15, tzinfo=UTC))


# --- platform embeds and links -----------------------------------------------------------------


def test_every_platform_in_iframes_and_links_merged_per_recording():
    page = find_media(fixture("blog_embeds.html"), f"{SITE}/blog/demos/")
    assert summary(page.items) == [
        ("video", "youtube", "dQw4w9WgXcQ", ["iframe", "link"], True),  # iframe and link: one recording
        ("video", "youtube", "M7lc1UVf-VE", ["iframe"], True),  # protocol-relative nocookie embed
        ("video", "vimeo", "76979871", ["iframe"], True),
        ("video", "wistia", "e4a27b971d", ["iframe"], True),
        ("video", "loom", "0281766fa2d04bb788eaf19e65135184", ["iframe"], True),  # lazy data-src
        ("video", "wistia", "j38ihh83m5", ["iframe"], True),  # wistia_async_ class
        ("video", "youtube", "9bZkp7q19f0", ["link"], True),
        ("video", "youtube", "aqz-KE-bpKQ", ["link"], True),  # shorts
        ("video", "vimeo", "148751763", ["link"], True),
        ("video", "wistia", "a1b2c3d4e5", ["link"], True),
        ("video", "loom", "4f1b2c3d4e5f60718293a4b5c6d7e8f9", ["link"], True),
    ]
    assert page.main is None  # a blog post embeds; it is about none of them
    by_id = {item.platform_id: item for item in page.items}
    assert by_id["76979871"].watch_url == "https://vimeo.com/76979871/8272103f6e"
    assert by_id["76979871"].embed_url == "https://player.vimeo.com/video/76979871?h=8272103f6e"
    assert by_id["a1b2c3d4e5"].watch_url == "https://acme.wistia.com/medias/a1b2c3d4e5"
    assert by_id["dQw4w9WgXcQ"].title is None  # "YouTube video player" names the player, not the video
    assert by_id["M7lc1UVf-VE"].title == "Roadmap 2024 keynote"
    assert by_id["9bZkp7q19f0"].only_linked and not by_id["dQw4w9WgXcQ"].only_linked
    assert dict(page.dropped) == {}


# --- JSON-LD -----------------------------------------------------------------------------------


def test_top_level_video_object_with_clips_duration_and_captions():
    page = find_media(fixture("jsonld_video.html"), f"{SITE}/videos/pricing/")
    (video,) = page.items
    assert (video.platform, video.platform_id, video.found_in) == ("vimeo", "76979871", ["jsonld"])
    assert video.title == "Pricing explained"
    assert video.description == "What each plan includes."
    assert video.duration_seconds == 3723.0
    assert video.upload_date == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
    assert video.thumbnail_url == f"{SITE}/thumbs/pricing.jpg"
    assert video.transcript == "Hello and welcome.\nToday: pricing."
    assert video.captions == [CaptionTrack(f"{SITE}/captions/pricing.vtt", "captions", "en", None, False, "vtt")]
    assert video.clips == [  # start order; the nameless clip and the Person are not chapters
        Clip("Intro", 0.0, 93.0),
        Clip("Team plan", 93.0, None),
        Clip("Enterprise plan", 754.0, 1200.0, "https://vimeo.com/76979871#t=754"),
    ]
    assert page.main is video  # the main JSON-LD entity is the video
    assert dict(page.dropped) == {"JSON-LD block unreadable or without objects": 1}


def test_video_nested_in_article_in_graph_and_in_a_list():
    page = find_media(fixture("jsonld_article_graph.html"), f"{SITE}/blog/release-4-2/")
    assert summary(page.items) == [
        ("video", "html5", None, ["element", "jsonld"], True),  # Article.video == the <video src>
        ("video", "youtube", "M7lc1UVf-VE", ["link", "jsonld"], True),  # @graph node via an @id reference
        ("audio", "other", None, ["jsonld"], True),  # a top-level list
    ]
    nested, graph, listed = page.items
    assert (nested.title, nested.duration_seconds, nested.content_url) == (
        "What's new in 4.2", 276.0, "https://cdn.northwind.example/media/whats-new-42.mp4")
    assert (graph.title, graph.duration_seconds) == ("Live demo", 30.0)
    assert (listed.title, listed.duration_seconds, listed.content_url) == (
        "Release notes, read aloud", 300.0, f"{SITE}/audio/release-4-2.mp3")
    assert page.main is None  # a blog post: each recording becomes its own Content linked to it


def test_podcast_episode_with_transcript_and_associated_media():
    page = find_media(fixture("podcast_jsonld.html"), f"{SITE}/podcast/12/")
    (episode,) = page.items
    assert (episode.kind, episode.platform, episode.found_in) == ("audio", "html5", ["element", "jsonld"])
    assert episode.content_url == "https://media.northwind.example/ep12.mp3"
    assert episode.duration_seconds == 2467.0  # from associatedMedia, not timeRequired
    assert episode.upload_date == datetime(2023, 11, 2, tzinfo=UTC)
    assert episode.transcript == "Alice: Welcome back.\nBob: Thanks for having me."  # markup gone, lines kept
    assert page.main is episode


def test_jsonld_without_urls_describes_the_one_player_of_its_kind():
    html = """<html><head><script type="application/ld+json">{"@type": "VideoObject", "name": "Demo",
      "duration": "PT2M"}</script></head><body><video src="/v/demo.mp4"></video></body></html>"""
    page = find_media(html, f"{SITE}/demo/")
    assert summary(page.items) == [("video", "html5", None, ["element", "jsonld"], False)]
    assert (page.items[0].title, page.items[0].duration_seconds) == ("Demo", 120.0)


def test_hostile_jsonld_values_are_ignored_without_error():
    html = """<html><head><script type="application/ld+json">
      {"@type": ["VideoObject"], "name": 42, "duration": ["x"], "hasPart": "nope", "caption": 5,
       "thumbnailUrl": {"url": 3}, "uploadDate": 20240305, "embedUrl": "javascript:alert(1)",
       "contentUrl": ["/a.mp4"], "transcript": {"text": ["line one", 7]}, "video": {"@id": {"x": 1}}}
    </script><script type="application/ld+json"></script><script type="application/ld+json">[1, "x", null]</script>
    <script type="application/ld+json">{"@type": "Article", "video": {"@id": "#loop"}, "@id": "#loop"}</script>
    </head><body></body></html>"""
    page = find_media(html, f"{SITE}/x/")
    assert summary(page.items) == [("video", "other", None, ["jsonld"], True)]
    item = page.items[0]
    assert (item.title, item.duration_seconds, item.upload_date, item.thumbnail_url, item.content_url) == (
        "42", None, None, None, f"{SITE}/a.mp4")
    assert item.transcript == "line one"
    assert dict(page.dropped) == {"JSON-LD block unreadable or without objects": 1}  # [1, "x", null]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("PT1H2M3S", 3723.0), ("PT4M36S", 276.0), ("P0DT1H", 3600.0), ("PT1.5S", 1.5), ("pt90s", 90.0),
     ("P1D", 86400.0), (93, 93.0), ("93", 93.0), ("1:02:03", 3723.0), ("4:36", 276.0),
     ("P", None), ("PT", None), ("P1DT", None), ("1H", None), ("", None), (None, None), (True, None),
     (-5, None), ("P400D", None), ("soon", None)],
)
def test_iso_duration(value, expected):
    assert iso_duration(value) == expected


# --- Google video sitemaps ---------------------------------------------------------------------


SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">
  <url><loc>https://www.northwind.example/videos/sso-setup/</loc>
    <video:video>
      <video:thumbnail_loc>https://www.northwind.example/thumbs/sso.jpg</video:thumbnail_loc>
      <video:title>SSO setup walkthrough</video:title>
      <video:description>Connect Okta in ten minutes.</video:description>
      <video:content_loc>https://cdn.northwind.example/media/sso-setup.mp4</video:content_loc>
      <video:player_loc>https://www.northwind.example/player?v=sso</video:player_loc>
      <video:duration>600</video:duration>
      <video:publication_date>2024-05-01T08:00:00+02:00</video:publication_date>
    </video:video>
    <video:video>
      <video:title>Also on YouTube</video:title>
      <video:player_loc>https://www.youtube.com/embed/M7lc1UVf-VE</video:player_loc>
      <video:duration>not a number</video:duration>
      <video:publication_date>yesterday</video:publication_date>
    </video:video>
  </url>
</urlset>"""


def test_google_video_sitemap_entries_become_items():
    (entry,) = parse_sitemap(SITEMAP, "https://www.northwind.example/sitemap-video.xml").entries
    own, hosted = media_from_sitemap(entry)
    assert own == MediaItem(
        kind="video", platform="other", watch_url=f"{SITE}/videos/sso-setup/", embed_url=f"{SITE}/player?v=sso",
        content_url="https://cdn.northwind.example/media/sso-setup.mp4", thumbnail_url=f"{SITE}/thumbs/sso.jpg",
        title="SSO setup walkthrough", description="Connect Okta in ten minutes.", duration_seconds=600.0,
        upload_date=datetime(2024, 5, 1, 6, 0, tzinfo=UTC), found_in=["sitemap"],
    )
    assert (hosted.platform, hosted.platform_id, hosted.title, hosted.duration_seconds, hosted.upload_date) == (
        "youtube", "M7lc1UVf-VE", "Also on YouTube", None, None)


def test_sitemap_items_merge_with_the_page_player():
    (entry,) = parse_sitemap(SITEMAP, "https://www.northwind.example/sitemap-video.xml").entries
    html = '<html><body><video src="https://cdn.northwind.example/media/sso-setup.mp4"></video></body></html>'
    page = find_media(html, f"{SITE}/videos/sso-setup/", known=media_from_sitemap(entry))
    assert summary(page.items) == [
        ("video", "html5", None, ["element", "sitemap"], True),
        ("video", "youtube", "M7lc1UVf-VE", ["sitemap"], True),
    ]
    assert (page.items[0].title, page.items[0].duration_seconds) == ("SSO setup walkthrough", 600.0)


# --- transcripts in the page body --------------------------------------------------------------


def test_bold_speaker_labels_real_podcast_page():
    url = "https://sourcegraph.com/podcast/andrew-gallant/"
    turns = find_transcript_turns(fixture("podcast_bold.html"), url)
    assert [(t.speaker, t.start_seconds) for t in turns] == [
        ("Beyang Liu", None), ("Andrew Gallant", None)] * 3 + [("Beyang Liu", None), ("Andrew Gallant", 240.0)]
    assert turns[2].text == "Not too bad. Not too bad. Thanks for coming on the show today."  # label-only paragraph
    assert turns[6] == Turn("Beyang Liu", None, "H- how did you end up writing a grep?", ((11, 180.0),))
    assert turns[7] == Turn(
        "Andrew Gallant", 240.0,
        "I built my own little tiling manager called [Pi Tile 00:04:32] tile.\nAnd that kind of got my feet wet.",
        ((0, 240.0),),
    )
    # Show notes ("Andrew Gallant: https://...") and the share box are not turns; the page is about its audio.
    page = find_media(fixture("podcast_bold.html"), url)
    assert page.turns == turns
    assert summary(page.items) == [("audio", "html5", None, ["element", "jsonld"], False)]
    assert page.main.title == "Episode 13: Andrew Gallant (BurntSushi), creator of ripgrep"


PLAIN = """<html><body><main><h1>Episode 3</h1><p>Our guest this week is Bob.</p>
<p>Alice: Welcome to the show, Bob.</p><p>Bob: Thanks for having me.</p>
<p>Alice: What does your team sell?</p><p>Bob: Security software for banks.</p><p>It is a long story.</p>
<p>Alice: Who buys it?</p><p>Bob: The CISO, usually.</p><p>Note: Bob asked us to add a link.</p>
<p>Alice: How long is the sales cycle?</p><p>Bob: Nine months on average.</p></main></body></html>"""


def test_plain_speaker_labels():
    turns = find_transcript_turns(PLAIN, f"{SITE}/podcast/3/")
    assert turns == [
        Turn("Alice", None, "Welcome to the show, Bob."),
        Turn("Bob", None, "Thanks for having me."),
        Turn("Alice", None, "What does your team sell?"),
        Turn("Bob", None, "Security software for banks.\nIt is a long story."),
        Turn("Alice", None, "Who buys it?"),
        Turn("Bob", None, "The CISO, usually.\nNote: Bob asked us to add a link."),  # "Note" names no speaker
        Turn("Alice", None, "How long is the sales cycle?"),
        Turn("Bob", None, "Nine months on average."),
    ]


def test_plain_labels_need_a_longer_dialogue():
    short = PLAIN.split("<p>Alice: Who buys it?")[0] + "</main></body></html>"
    assert find_transcript_turns(short, f"{SITE}/podcast/3/") == []


def test_bracketed_timestamp_labels():
    html = """<html><body><main><h2>Transcript</h2>
    <p>[00:00:05] Alice: Welcome back.</p><p>[00:00:09] Bob: Glad to be here.</p>
    <p>[00:01:02] Alice: Let's talk about SSO.</p><p>(1:03:04) Bob: Sure, we support SAML and OIDC.</p>
    <p>[00:01:30.5] Dr. Carol Smith: And SCIM.</p></main></body></html>"""
    turns = find_transcript_turns(html, f"{SITE}/webinar/")
    assert [(t.speaker, t.start_seconds, t.text) for t in turns] == [
        ("Alice", 5.0, "Welcome back."),
        ("Bob", 9.0, "Glad to be here."),
        ("Alice", 62.0, "Let's talk about SSO."),
        ("Bob", 3784.0, "Sure, we support SAML and OIDC."),
        ("Dr. Carol Smith", 90.5, "And SCIM."),  # timestamped: a speaker seen once still counts
    ]


def test_timestamp_and_speaker_line_followed_by_paragraphs():
    html = """<html><body><article><p>Recorded live.</p>
    <p>00:00:03 Alice</p><p>Welcome to the webinar.</p><p>Today we cover pricing.</p>
    <p>00:01:10 Bob</p><p>Thanks, Alice.</p>
    <p>00:02:00 Alice</p><p>Let's start with the team plan.</p>
    <p>Bob 0:02:45</p><p>It costs 20 dollars per seat.</p></article></body></html>"""
    turns = find_transcript_turns(html, f"{SITE}/webinar/")
    assert turns == [
        Turn("Alice", 3.0, "Welcome to the webinar.\nToday we cover pricing."),
        Turn("Bob", 70.0, "Thanks, Alice."),
        Turn("Alice", 120.0, "Let's start with the team plan."),
        Turn("Bob", 165.0, "It costs 20 dollars per seat."),
    ]


def test_article_with_colons_is_not_a_transcript():
    html = fixture("article_colons.html")
    assert find_transcript_turns(html, f"{SITE}/blog/errors/") == []
    assert find_media(html, f"{SITE}/blog/errors/").turns == []


def test_labelled_points_that_are_a_small_part_of_the_page_are_not_a_transcript():
    points = "".join(f"<p><strong>{n}:</strong> point {i}.</p>" for i, n in enumerate(["Speed", "Scale"] * 3))
    prose = "<p>" + "A long paragraph of ordinary article prose about scaling systems. " * 20 + "</p>"
    html = f"<html><body><main><h1>Lessons</h1>{prose}{points}{prose}</main></body></html>"
    assert find_transcript_turns(html, f"{SITE}/blog/lessons/") == []


# --- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize("html", ["", "   ", b"", "plain text, no markup", b"\x00\x01\x02", "<", "<<<>>>"])
def test_garbage_never_raises(html):
    page = find_media(html, f"{SITE}/x/")
    assert page.items == [] and page.turns == []
    assert find_transcript_turns(html, f"{SITE}/x/") == []


def test_bytes_in_a_declared_charset():
    html = ('<html><head><meta charset="iso-8859-1"></head><body>'
            '<video src="/v.mp4" title="Caf\xe9 tour"></video></body></html>').encode("latin-1")
    (item,) = find_media(html, f"{SITE}/x/").items
    assert item.title == "Café tour"


def test_deeply_nested_page_does_not_crash():
    html = "<html><body>" + "<div>" * 5000 + '<iframe src="https://youtu.be/dQw4w9WgXcQ"></iframe>' + "</body></html>"
    page = find_media(html, f"{SITE}/x/")
    assert [i.platform_id for i in page.items] in ([], ["dQw4w9WgXcQ"])
