"""The Jinja filters every page uses: only http(s) links reach an href (W-19), readable dates and times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from web.template_filters import age, date, safe_url, seconds


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>x</script>",
    "vbscript:msgbox", "//evil.example/", "/\\evil.example", "https:evil.example", "file:///etc/passwd", "", None,
    "https://ok.example/\x00",
])
def test_dangerous_or_odd_urls_become_a_harmless_anchor(url):
    assert safe_url(url) == "#"


@pytest.mark.parametrize("url", ["https://www.acme.test/blog/sso/", "http://127.0.0.1:5000/x?y=1#t=95",
                                 "/review/2026-W48"])
def test_web_and_local_urls_pass(url):
    assert safe_url(url) == url


def test_the_filters_escape_nothing_themselves_and_autoescape_does_the_rest(make_kb):
    from flask import render_template_string

    from web import create_app

    app = create_app(make_kb())
    with app.test_request_context():
        html = render_template_string('<a href="{{ url|safe_url }}">{{ title }}</a>',
                                      url='https://x.example/?a="><script>', title="<b>t</b>")
    assert html == '<a href="https://x.example/?a=&#34;&gt;&lt;script&gt;">&lt;b&gt;t&lt;/b&gt;</a>'


def test_dates_ages_and_media_times():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert date(datetime(2026, 11, 2, tzinfo=UTC)) == "Nov 02, 2026" and date(None) == ""
    assert date("2026-11-02T10:00:00+00:00") == "Nov 02, 2026" and date("not a date") == "not a date"
    assert age(datetime(2026, 11, 23, 9, tzinfo=UTC), now) == "today"
    assert age(datetime(2026, 11, 20, tzinfo=UTC), now) == "3 days"
    assert age(datetime(2026, 10, 1, tzinfo=UTC), now) == "7 weeks"
    assert age(datetime(2026, 1, 1, tzinfo=UTC), now) == "10 months"
    assert (seconds(95), seconds(3725), seconds(0), seconds(None)) == ("1:35", "1:02:05", "0:00", "")
