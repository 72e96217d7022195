"""The bundled Fernbrook demo website: content, rendered site, feeds, captions, labelled questions, server."""

from __future__ import annotations

import csv
import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter, deque
from datetime import datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kb.demo.content import (
    CONTENT_DIR,
    DEMO_DIR,
    duration_seconds,
    load_pages,
    render_markdown,
    word_count,
)
from kb.demo.server import DemoSiteServer
from kb.demo.site import SiteSummary, build_site, output_file

BASE = "https://www.fernbrook.example"
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
LISTING_PATHS = ["/blog/", "/customers/", "/resources/", "/videos/", "/podcast/"]
CSV_COLUMNS = ["question", "asked_by", "asked_at", "persona", "stage", "company", "deal_stage", "source"]
GAP_WORDS = re.compile(
    r"hipaa|business associate|protected health|mobile app|\bios\b|android|app store|on-prem|self-hosted|"
    r"dynamics|multi-currency|currenc|latam|brazil|mexic|cfdi|rate limit|throttl|ldap|fedramp",
    re.IGNORECASE,
)
_TIMESTAMP = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"
_CUE_TIMING = re.compile(rf"^{_TIMESTAMP} --> {_TIMESTAMP}(?: .*)?$")


# --------------------------------------------------------------------------- helpers


class _PageParser(HTMLParser):
    """Collects links, element ids, meta tags, JSON-LD blocks and the <title> of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.meta: list[dict[str, str]] = []
        self.jsonld: list[str] = []
        self.title = ""
        self.canonical = ""
        self.forms = 0
        self.scripts_inline = 0
        self._in: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        for attr in ("href", "src", "poster"):
            if attr in a and tag in ("a", "link", "script", "img", "track", "video", "source"):
                self.links.append(a[attr])
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical = a["href"]
        if tag == "meta":
            self.meta.append(a)
        if tag == "form":
            self.forms += 1
        if tag == "script" and a.get("type") == "application/ld+json":
            self._in, self._buffer = "jsonld", []
        elif tag == "script" and "src" not in a:
            self.scripts_inline += 1
        if tag == "title":
            self._in, self._buffer = "title", []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in == "jsonld":
            self.jsonld.append("".join(self._buffer))
            self._in = None
        elif tag == "title" and self._in == "title":
            self.title = "".join(self._buffer)
            self._in = None

    def meta_values(self, key: str) -> list[str]:
        return [m.get("content", "") for m in self.meta if m.get("property") == key or m.get("name") == key]


def parse_html(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def internal_target(out: Path, link: str) -> tuple[Path, str] | None:
    """The file a same-site link points to (and its fragment), or None for other sites."""
    if link.startswith(BASE):
        link = link[len(BASE) :] or "/"
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    path = parts.path
    target = output_file(out, path) if path.endswith("/") else out / path.lstrip("/")
    return target, parts.fragment


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    """A tiny WebVTT reader: (start, end, text) per cue; raises AssertionError on malformed files."""
    assert text.startswith("WEBVTT"), "missing WEBVTT signature"
    blocks = re.split(r"\n\s*\n", text.strip())[1:]
    cues = []
    for block in blocks:
        lines = block.splitlines()
        if lines[0].startswith("NOTE"):
            continue
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        assert timing <= 1, f"unexpected cue header: {lines[:2]}"
        match = _CUE_TIMING.match(lines[timing])
        assert match, f"bad timing line {lines[timing]!r}"
        g = [int(x) for x in match.groups()]
        for mm, ss in ((g[1], g[2]), (g[5], g[6])):
            assert mm < 60 and ss < 60
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        body = " ".join(lines[timing + 1 :]).strip()
        assert body, "empty cue"
        cues.append((start, end, body))
    return cues


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteSummary]:
    out = tmp_path_factory.mktemp("site")
    return out, build_site(out, BASE + "/")


@pytest.fixture(scope="module")
def html_pages(built: tuple[Path, SiteSummary]) -> dict[str, _PageParser]:
    out, _ = built
    pages = {}
    for file in sorted(out.rglob("index.html")):
        folder = file.parent.relative_to(out).as_posix()
        pages["/" if folder == "." else f"/{folder}/"] = parse_html(file)
    return pages


@pytest.fixture(scope="module")
def questions() -> list[dict[str, str]]:
    with (DEMO_DIR / "questions.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def key() -> dict:
    return json.loads((DEMO_DIR / "questions_key.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- content


def test_content_pages_have_the_planned_spread() -> None:
    pages = load_pages()
    kinds = Counter(p.kind for p in pages)
    assert 30 <= len(pages) <= 38
    assert kinds["blog"] >= 12 and kinds["case_study"] == 3 and kinds["podcast"] == 1
    assert 3 <= kinds["video"] <= 4
    assert {p.stage for p in pages if p.kind == "blog"} == {"attract", "engage", "delight"}
    assert {p.persona for p in pages if p.kind == "blog"} == {"finance", "procurement", "it-security", "operations"}
    for page in pages:
        assert page.description and page.title and page.tags or page.path == "/", page.path
        assert re.search(r"^## ", page.body, re.MULTILINE), f"{page.path} has no h2 sections"
        if page.kind == "blog":
            words = word_count(render_markdown(page.body)[0])
            assert 400 <= words <= 900, f"{page.path}: {words} words"


def test_podcast_has_a_timed_transcript() -> None:
    (podcast,) = [p for p in load_pages() if p.kind == "podcast"]
    transcript = podcast.body.split("## Transcript", 1)[1]
    turns = re.findall(r"^\[(\d\d):(\d\d):(\d\d)\] (\w+): ", transcript, re.MULTILINE)
    assert len(turns) >= 30 and {t[3] for t in turns} == {"Dana", "Priya"}
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s, _ in turns]
    assert seconds == sorted(seconds) and seconds[-1] < duration_seconds(podcast.extra["duration"])
    assert len(transcript.split()) >= 1200


def test_public_content_leaves_the_gap_topics_out(built: tuple[Path, SiteSummary]) -> None:
    out, _ = built
    public = [p for p in out.rglob("*") if p.suffix in (".html", ".vtt", ".xml") and "internal" not in p.parts]
    offenders = {p.relative_to(out).as_posix(): GAP_WORDS.findall(p.read_text()) for p in public}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert GAP_WORDS.search((out / "internal" / "index.html").read_text())  # the trap is there


# --------------------------------------------------------------------------- rendered site


def test_build_writes_every_content_page(built: tuple[Path, SiteSummary]) -> None:
    out, summary = built
    assert 30 <= summary.pages <= 40 and summary.pages == len(summary.paths)
    assert summary.paths == sorted(summary.paths) and "/" in summary.paths
    for path in [*summary.paths, *LISTING_PATHS, "/internal/"]:
        assert output_file(out, path).is_file(), path
    for extra in ("sitemap.xml", "robots.txt", "blog/rss.xml", "assets/site.css", "assets/favicon.svg"):
        assert (out / extra).is_file(), extra


def test_every_internal_link_resolves(built: tuple[Path, SiteSummary], html_pages: dict[str, _PageParser]) -> None:
    out, _ = built
    ids_by_file = {output_file(out, url_path): page.ids for url_path, page in html_pages.items()}
    broken = []
    for url_path, page in html_pages.items():
        for link in page.links:
            target = internal_target(out, link)
            if target is None:
                continue
            file, fragment = target
            if not file.is_file():
                broken.append(f"{url_path} -> {link}")
            elif fragment and file.name == "index.html" and fragment not in ids_by_file[file]:
                broken.append(f"{url_path} -> {link} (no id {fragment!r})")
    assert broken == []


def test_everything_is_reachable_from_the_home_page(
    built: tuple[Path, SiteSummary], html_pages: dict[str, _PageParser]
) -> None:
    out, summary = built
    seen, queue = {"/"}, deque(["/"])
    while queue:
        page = html_pages.get(queue.popleft())
        for link in page.links if page else []:
            target = internal_target(out, link)
            if target and target[0].name == "index.html":
                path = urlsplit(link.removeprefix(BASE)).path
                if path not in seen:
                    seen.add(path)
                    queue.append(path)
    assert set(summary.paths) | set(LISTING_PATHS) | {"/internal/"} <= seen


def test_head_metadata_and_jsonld(built: tuple[Path, SiteSummary], html_pages: dict[str, _PageParser]) -> None:
    expected_type = {
        "blog": "BlogPosting",
        "case_study": "Article",
        "video": "VideoObject",
        "podcast": "PodcastEpisode",
        "page": "WebPage",
    }
    for content in load_pages():
        page = html_pages[content.path]
        suffix = " | Fernbrook Blog" if content.kind == "blog" else " | Fernbrook"
        assert page.title == content.title + suffix
        assert page.canonical == BASE + content.path
        assert page.meta_values("description") == [content.description]
        assert page.meta_values("og:url") == [BASE + content.path]
        assert page.meta_values("og:title") and page.meta_values("og:type")
        blocks = [json.loads(block) for block in page.jsonld]
        types = [b["@type"] for b in blocks]
        assert types[0] == expected_type[content.kind], content.path
        assert "BreadcrumbList" in types or content.path == "/"
        main = blocks[0]
        if content.kind in ("blog", "case_study"):
            assert page.meta_values("article:published_time") == [content.published.isoformat()]
            assert page.meta_values("article:author") == [content.author]
            assert page.meta_values("article:tag") == list(content.tags)
            assert main["author"]["@type"] == "Person" and main["author"]["name"] == content.author
            assert main["datePublished"] == content.published.isoformat() and main["dateModified"]
            assert main["headline"] == content.title and main["keywords"]
        if content.kind == "video":
            assert re.fullmatch(r"PT(\d+M)?(\d+S)?", main["duration"]) and main["uploadDate"]
            assert main["embedUrl"] == main["contentUrl"] == BASE + content.path
        if content.kind == "podcast":
            assert main["partOfSeries"]["name"] == "The Purchase Order"
    for url_path, page in html_pages.items():
        for block in page.jsonld:
            json.loads(block)  # every block on every page is valid JSON
        assert page.canonical.startswith(BASE), url_path


def test_boilerplate_is_on_every_page(html_pages: dict[str, _PageParser], built: tuple[Path, SiteSummary]) -> None:
    out, summary = built
    for path in summary.paths:
        html = output_file(out, path).read_text(encoding="utf-8")
        for marker in ('class="skip-link"', "data-cookie-banner", "Request a demo", "Sign in", "newsletter-form"):
            assert marker in html, (path, marker)
        if path != "/":
            for marker in ('class="breadcrumbs', 'class="share-bar"', "Related posts", "Popular topics"):
                assert marker in html, (path, marker)
        page = html_pages[path]
        assert page.forms >= 1 and page.scripts_inline >= 1
        assert "/internal/" in page.links
    footer = output_file(out, "/").read_text(encoding="utf-8").split('<footer class="site-footer">', 1)[1]
    assert footer.count("<a ") >= 25


def test_internal_page_is_hidden_from_crawlers(built: tuple[Path, SiteSummary], html_pages) -> None:
    out, _ = built
    assert html_pages["/internal/"].meta_values("robots") == ["noindex,nofollow"]
    assert "/internal/" not in (out / "sitemap.xml").read_text()
    assert "Disallow: /internal/" in (out / "robots.txt").read_text()


def test_home_page_links_a_post_twice_with_a_tracking_parameter(html_pages: dict[str, _PageParser]) -> None:
    links = html_pages["/"].links
    tracked = [link for link in links if "utm_source=homepage" in link]
    assert len(tracked) == 1
    clean = tracked[0].split("?", 1)[0]
    assert clean in links
    assert html_pages[clean].canonical == BASE + clean


def test_sitemap_lists_every_content_page_once(built: tuple[Path, SiteSummary]) -> None:
    out, summary = built
    root = ET.fromstring((out / "sitemap.xml").read_bytes())
    locs = [u.findtext("sm:loc", namespaces=SITEMAP_NS) for u in root.findall("sm:url", SITEMAP_NS)]
    lastmods = [u.findtext("sm:lastmod", namespaces=SITEMAP_NS) for u in root.findall("sm:url", SITEMAP_NS)]
    assert sorted(locs) == sorted(BASE + p for p in summary.paths)
    assert len(locs) == len(set(locs))
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", m or "") for m in lastmods)


def test_robots_txt(built: tuple[Path, SiteSummary]) -> None:
    out, _ = built
    lines = (out / "robots.txt").read_text().splitlines()
    assert lines[:3] == ["User-agent: *", "Disallow: /internal/", "Allow: /"]
    assert f"Sitemap: {BASE}/sitemap.xml" in lines


def test_rss_lists_the_blog_posts(built: tuple[Path, SiteSummary]) -> None:
    out, _ = built
    root = ET.fromstring((out / "blog" / "rss.xml").read_bytes())
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("channel/item")
    posts = [p for p in load_pages() if p.kind == "blog"]
    assert sorted(i.findtext("link") for i in items) == sorted(BASE + p.path for p in posts)
    dates = [parsedate_to_datetime(i.findtext("pubDate")) for i in items]
    assert dates == sorted(dates, reverse=True)
    assert all(i.findtext("title") and i.findtext("description") for i in items)


def test_video_pages_have_valid_captions(built: tuple[Path, SiteSummary], html_pages) -> None:
    out, _ = built
    videos = [p for p in load_pages() if p.kind == "video"]
    voice_tagged = 0
    for video in videos:
        vtt_url = f"{video.path}{video.slug}.vtt"
        assert vtt_url in html_pages[video.path].links
        text = (out / vtt_url.lstrip("/")).read_text(encoding="utf-8")
        assert text == (CONTENT_DIR / "videos" / video.extra["captions"]).read_text(encoding="utf-8")
        cues = vtt_cues(text)
        assert 40 <= len(cues) <= 80, (video.path, len(cues))
        for (start, end, _), (next_start, _, _) in zip(cues, cues[1:], strict=False):
            assert start < end <= next_start
        assert 180 <= cues[-1][1] <= 480
        assert abs(duration_seconds(video.extra["duration"]) - cues[-1][1]) < 15
        voice_tagged += all(body.startswith("<v ") for _, _, body in cues)
        html = output_file(out, video.path).read_text(encoding="utf-8")
        assert '<video controls preload="none"' in html
        assert f'<track kind="captions" src="{vtt_url}" srclang="en"' in html
    assert voice_tagged >= 1


def test_build_is_deterministic(tmp_path: Path, built: tuple[Path, SiteSummary]) -> None:
    out, _ = built
    again = tmp_path / "again"
    build_site(again, BASE)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second


# --------------------------------------------------------------------------- labelled questions


def test_questions_csv_shape(questions: list[dict[str, str]]) -> None:
    with (DEMO_DIR / "questions.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS
    assert 40 <= len(questions) <= 60
    reps = {q["asked_by"] for q in questions}
    assert 8 <= len(reps) <= 10 and all(re.fullmatch(r"[a-z]+\.[a-z]+@fernbrook\.example", r) for r in reps)
    dates = [datetime.fromisoformat(q["asked_at"]) for q in questions]
    assert min(dates).date().isoformat() >= "2026-10-09" and max(dates).date().isoformat() < "2026-11-20"
    assert all(q["question"].strip() for q in questions)


def test_questions_key_matches_the_site(
    questions: list[dict[str, str]], key: dict, built: tuple[Path, SiteSummary], html_pages
) -> None:
    out, summary = built
    items = key["questions"]
    assert [i["index"] for i in items] == list(range(len(questions)))
    assert all(i["question"] == q["question"] for i, q in zip(items, questions, strict=True))
    answered = [i for i in items if i["answered"]]
    assert 0.5 <= len(answered) / len(items) <= 0.7
    for item in answered:
        assert item["path"] in summary.paths, item
        for also in item.get("also_paths", []):
            assert also in summary.paths, item
        if item.get("anchor"):
            assert item["anchor"] in html_pages[item["path"]].ids, item
        if item.get("media"):
            cues = vtt_cues((out / item["media"].lstrip("/")).read_text(encoding="utf-8"))
            assert any(abs(start - item["seconds"]) < 1 for start, _, _ in cues), item
    for item in items:
        if not item["answered"]:
            assert item["path"] is None and item["gap_topic"]
    groups = key["duplicate_groups"]
    flat = [i for g in groups for i in g]
    assert len(flat) == len(set(flat)) and all(len(g) >= 2 for g in groups)
    for group in groups:
        assert len({questions[i]["asked_by"] for i in group}) == len(group)  # different reps
        assert len({questions[i]["question"] for i in group}) == len(group)  # different words
    assert sum(len(g) >= 2 for g in key["gap_topics"].values()) >= 3
    for a, b in key["lookalike_pairs"]:
        assert not any(a in g and b in g for g in groups)


# --------------------------------------------------------------------------- server


def test_demo_site_server_serves_over_http() -> None:
    with DemoSiteServer() as site:
        assert site.base_url == f"http://127.0.0.1:{site.port}"
        assert (site.directory / "index.html").is_file()
        with urllib.request.urlopen(site.url("/"), timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            home = response.read().decode("utf-8")
        assert f'<link rel="canonical" href="{site.base_url}/">' in home
        vtt_path = "/videos/netsuite-integration-setup/netsuite-integration-setup.vtt"
        with urllib.request.urlopen(site.url(vtt_path), timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/vtt")
            assert response.read().startswith(b"WEBVTT")
        with urllib.request.urlopen(site.url("/robots.txt"), timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert f"Sitemap: {site.base_url}/sitemap.xml" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(site.url("/no-such-page/"), timeout=10)
        assert missing.value.code == 404
        directory = site.directory
    assert not directory.exists()
    with pytest.raises(RuntimeError):
        _ = site.base_url
