"""Links that land on a second of a recording (kb.timed_links)."""

from __future__ import annotations

import pytest

from kb.timed_links import MediaRef, format_moment, media_ref, timed_link

YT = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # every YouTube form becomes the watch page, time last
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("https://youtube.com/watch?v=dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("https://m.youtube.com/watch?v=dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("https://youtu.be/dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("https://www.youtube.com/embed/dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?rel=0&autoplay=1", f"{YT}&t=93s"),
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ", f"{YT}&t=93s"),
        ("//www.youtube.com/embed/dQw4w9WgXcQ", f"{YT}&t=93s"),
        # other parameters stay (v first), an existing t/start is replaced
        ("https://www.youtube.com/watch?list=PL1&v=dQw4w9WgXcQ&index=2", f"{YT}&list=PL1&index=2&t=93s"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10s", f"{YT}&t=93s"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&start=10&list=PL1", f"{YT}&list=PL1&t=93s"),
        ("https://youtu.be/dQw4w9WgXcQ?t=1187&si=abc", f"{YT}&si=abc&t=93s"),
        # Vimeo: fragment on the watch page; an unlisted video keeps its hash
        ("https://vimeo.com/76979871", "https://vimeo.com/76979871#t=93s"),
        ("https://vimeo.com/76979871#t=10s", "https://vimeo.com/76979871#t=93s"),
        ("https://player.vimeo.com/video/76979871?color=ffffff", "https://vimeo.com/76979871#t=93s"),
        ("https://player.vimeo.com/video/76979871?h=8272103f6e", "https://vimeo.com/76979871/8272103f6e#t=93s"),
        ("https://vimeo.com/channels/staffpicks/76979871", "https://vimeo.com/76979871#t=93s"),
        # Wistia: ?wtime= on the URL given (media page, player or embedding page)
        ("https://acme.wistia.com/medias/e4a27b971d", "https://acme.wistia.com/medias/e4a27b971d?wtime=93s"),
        ("https://fast.wistia.net/embed/iframe/e4a27b971d?wtime=5s&foo=1",
         "https://fast.wistia.net/embed/iframe/e4a27b971d?foo=1&wtime=93s"),
        # Loom: the share page with ?t=
        ("https://www.loom.com/share/0281766fa2d04bb788eaf19e65135184",
         "https://www.loom.com/share/0281766fa2d04bb788eaf19e65135184?t=93"),
        ("https://www.loom.com/embed/0281766fa2d04bb788eaf19e65135184?hide_owner=true",
         "https://www.loom.com/share/0281766fa2d04bb788eaf19e65135184?t=93"),
        # an own page (HTML5 player): media fragment, replacing any fragment
        ("https://www.northwind.example/videos/sso/", "https://www.northwind.example/videos/sso/#t=93"),
        ("https://www.northwind.example/videos/sso/?lang=en#transcript",
         "https://www.northwind.example/videos/sso/?lang=en#t=93"),
        # a YouTube URL that is not a video (channel) is just a page
        ("https://www.youtube.com/c/Northwind", "https://www.youtube.com/c/Northwind#t=93"),
    ],
)
def test_timed_link_per_platform(url, expected):
    assert timed_link(url, 93.9) == expected


def test_explicit_platform_wins_over_the_url():
    page = "https://www.northwind.example/blog/demo/"
    assert timed_link(page, 93, platform="wistia") == f"{page}?wtime=93s"
    assert timed_link(page, 93, platform="html5") == f"{page}#t=93"
    # A page that merely *links* to YouTube, watched in its own player:
    assert timed_link("https://youtu.be/dQw4w9WgXcQ", 93, platform="html5") == "https://youtu.be/dQw4w9WgXcQ#t=93"
    # "youtube" for a URL that is not a YouTube video cannot build a watch link: the page fragment it is.
    assert timed_link(page, 93, platform="youtube") == f"{page}#t=93"


@pytest.mark.parametrize("seconds", [None, 0, 0.4, -5, float("nan"), float("inf")])
def test_no_time_leaves_the_url_unchanged(seconds):
    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10s"
    assert timed_link(url, seconds) == url


@pytest.mark.parametrize(
    "url", ["mailto:sales@northwind.example", "javascript:alert(1)", "/videos/sso/", "ftp://x.example/a.mp4", ""]
)
def test_non_http_urls_are_returned_unchanged(url):
    assert timed_link(url, 93) == url


def test_media_ref_forms():
    assert media_ref("https://youtu.be/dQw4w9WgXcQ") == MediaRef(
        "youtube", "dQw4w9WgXcQ", YT, "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
    )
    assert media_ref("https://youtu.be/YJjv\\_OeiHmo") == media_ref("https://youtu.be/YJjv_OeiHmo")  # Markdown escape
    assert media_ref("https://fast.wistia.net/embed/iframe/e4a27b971d").watch_url == (
        "https://fast.wistia.net/embed/iframe/e4a27b971d"
    )
    assert media_ref("https://www.loom.com/share/Quarterly-review-4f1b2c3d4e5f60718293a4b5c6d7e8f9").media_id == (
        "4f1b2c3d4e5f60718293a4b5c6d7e8f9"
    )
    for not_a_recording in [
        "https://www.youtube.com/c/Northwind",
        "https://www.youtube.com/playlist?list=PL123",
        "https://www.youtube.com/watch?v=short",
        "https://vimeo.com/about",
        "https://www.loom.com/",
        "https://notyoutube.com/watch?v=dQw4w9WgXcQ",
        "javascript:alert('https://youtu.be/dQw4w9WgXcQ')",
        "http://[broken",
    ]:
        assert media_ref(not_a_recording) is None, not_a_recording


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0:00"), (5, "0:05"), (93.9, "1:33"), (845, "14:05"), (3599, "59:59"), (3725, "1:02:05"),
     (36000, "10:00:00"), (None, "0:00"), (-3, "0:00")],
)
def test_format_moment(seconds, expected):
    assert format_moment(seconds) == expected
