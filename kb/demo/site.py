"""Render the bundled Fernbrook demo website into a static directory.

The content lives in ``kb/demo/content`` as Markdown files with a TOML front-matter block between
``+++`` lines; site-wide settings (company, navigation, footer, authors) live in ``kb/demo/site.toml``.
:func:`build_site` turns them into ``<out_dir>/<path>/index.html`` pages wrapped in the boilerplate a
real marketing site carries (navigation, cookie banner, breadcrumbs, share bar, sidebar, newsletter
form, footer, analytics snippet), plus ``sitemap.xml``, ``robots.txt``, an RSS feed, listing pages,
a robots-disallowed ``/internal/`` page, the stylesheet and the WebVTT caption files.

The output is deterministic: the same content and ``base_url`` always produce the same bytes.

This module lays the pages out; the content itself is loaded by :mod:`kb.demo.content`, each page's
``<head>`` (title, canonical, Open Graph, JSON-LD) comes from :mod:`kb.demo.page_head` and the
sitemap, RSS feed and robots.txt from :mod:`kb.demo.feeds`.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kb.demo.content import (
    ARTICLE_KINDS,
    DEMO_DIR,
    ContentError,
    ContentPage,
    duration_seconds,
    load_pages,
    parse_front_matter,
    render_markdown,
    word_count,
)
from kb.demo.feeds import feed_files
from kb.demo.page_head import Crumb, HeadBuilder

TEMPLATES_DIR = DEMO_DIR / "templates"
STATIC_DIR = DEMO_DIR / "static"
INTERNAL_PAGE = DEMO_DIR / "internal" / "notes.md"
CONFIG_PATH = DEMO_DIR / "site.toml"

KIND_LABELS = {
    "blog": "Blog post",
    "case_study": "Customer story",
    "podcast": "Podcast",
    "video": "Video",
    "page": "Page",
}
PERSONA_LABELS = {
    "finance": "Finance leaders",
    "procurement": "Procurement teams",
    "it-security": "IT and security teams",
    "operations": "Operations teams",
}
PERSONA_AUDIENCES = {
    "finance": "finance leaders",
    "procurement": "procurement teams",
    "it-security": "IT and security teams",
    "operations": "operations teams",
}
_WORDS_PER_MINUTE = 225


@dataclass(frozen=True)
class SiteSummary:
    """What :func:`build_site` produced.

    ``pages`` counts the content pages (one per Markdown file in ``kb/demo/content``) and ``paths``
    lists their URL paths, sorted. Listing pages, ``/internal/`` and the feeds are not counted.
    """

    pages: int
    paths: list[str]


@dataclass(frozen=True)
class Listing:
    """A thin generated page linking to the content pages of some kinds."""

    path: str
    title: str
    intro: str
    kinds: tuple[str, ...]
    parents: tuple[Crumb, ...] = ()
    grouped: bool = False


LISTINGS = (
    Listing(
        "/blog/",
        "The Fernbrook Blog",
        "Ideas, playbooks and product tips for finance, procurement and IT teams.",
        ("blog",),
    ),
    Listing(
        "/customers/",
        "Customer stories",
        "How finance and procurement teams run their spend on Fernbrook, in their own numbers.",
        ("case_study",),
    ),
    Listing(
        "/videos/",
        "Videos",
        "Product walkthroughs and customer conversations, all with captions.",
        ("video",),
        (Crumb("Resources", "/resources/"),),
    ),
    Listing(
        "/podcast/",
        "The Purchase Order podcast",
        "Short conversations with the people who buy things for a living.",
        ("podcast",),
        (Crumb("Resources", "/resources/"),),
    ),
    Listing(
        "/resources/",
        "Resources",
        "Everything we publish: articles, customer stories, videos and podcast episodes.",
        ("blog", "case_study", "video", "podcast"),
        grouped=True,
    ),
)
_PARENTS: dict[str, tuple[Crumb, ...]] = {
    "blog": (Crumb("Blog", "/blog/"),),
    "case_study": (Crumb("Customers", "/customers/"),),
    "video": (Crumb("Resources", "/resources/"), Crumb("Videos", "/videos/")),
    "podcast": (Crumb("Resources", "/resources/"), Crumb("Podcast", "/podcast/")),
    "page": (),
}


def output_file(out_dir: Path, url_path: str) -> Path:
    """Where the page for ``url_path`` is written (``/a/b/`` becomes ``a/b/index.html``)."""
    segments = [segment for segment in url_path.split("/") if segment]
    return out_dir.joinpath(*segments, "index.html")


def human_date(day: date) -> str:
    """``March 4, 2026``-style date, independent of the platform's ``strftime`` flags."""
    return f"{day:%B} {day.day}, {day.year}"


def duration_label(seconds: int) -> str:
    """``5:24 min``-style label for a media duration given in seconds."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}:{rest:02d} min"


class _SiteRenderer:
    """Holds the configuration, the Jinja environment and the loaded pages during one build."""

    def __init__(self, out_dir: Path, base_url: str) -> None:
        self.out_dir = out_dir
        self.base_url = base_url.rstrip("/")
        self.config: dict[str, Any] = tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))
        self.company: dict[str, Any] = self.config["company"]
        self.authors: dict[str, dict[str, str]] = {a["name"]: a for a in self.config["authors"]}
        self.pages = load_pages()
        self.by_path = {page.path: page for page in self.pages}
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html", "xml", "svg"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["human_date"] = human_date
        self.env.globals.update(
            company=self.company,
            nav=self.config["nav"],
            footer=self.config["footer"],
            social=self.config["social"],
            topics=self.config["topics"],
            podcast=self.config["podcast"],
            kind_labels=KIND_LABELS,
            persona_labels=PERSONA_LABELS,
            persona_audiences=PERSONA_AUDIENCES,
            copyright_year=max(p.modified for p in self.pages).year,
        )
        for page in self.pages:
            if page.author not in self.authors:
                raise ContentError(f"{page.source}: unknown author {page.author!r}")
        self.head = HeadBuilder(self.base_url, self.company, self.authors, self.config["podcast"])

    # ----------------------------------------------------------------- helpers

    def url(self, path: str) -> str:
        """Absolute URL for a root-relative path."""
        return self.head.url(path)

    def write(self, rel_path: str, text: str) -> None:
        """Write ``text`` to ``out_dir/rel_path`` (UTF-8, ``\\n`` line endings)."""
        target = self.out_dir / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")

    def render(self, template: str, url_path: str, **context: Any) -> None:
        """Render ``template`` to the ``index.html`` of ``url_path``."""
        html = self.env.get_template(template).render(url_path=url_path, **context)
        self.write(output_file(self.out_dir, url_path).relative_to(self.out_dir).as_posix(), html)

    def newest_first(self, kinds: Iterable[str]) -> list[ContentPage]:
        """Content pages of the given kinds, newest first (ties broken by path)."""
        wanted = set(kinds)
        chosen = [p for p in self.pages if p.kind in wanted]
        return sorted(chosen, key=lambda p: (-p.published.toordinal(), p.path))

    def related(self, page: ContentPage, limit: int = 3) -> list[ContentPage]:
        """Articles that share tags, persona or stage with ``page``, best matches first."""

        def score(other: ContentPage) -> int:
            shared = len(set(page.tags) & set(other.tags))
            return 3 * shared + 2 * (other.persona == page.persona != "") + (other.stage == page.stage)

        candidates = [p for p in self.newest_first(ARTICLE_KINDS) if p.path != page.path]
        ranked = sorted(candidates, key=lambda p: (-score(p), -p.published.toordinal(), p.path))
        return ranked[:limit]

    def breadcrumbs(self, trail: tuple[Crumb, ...], title: str, url_path: str) -> list[Crumb]:
        """Home, then ``trail``, then the current page."""
        return [Crumb("Home", "/"), *trail, Crumb(title, url_path)]

    # ----------------------------------------------------------------- pages

    def render_content_page(self, page: ContentPage) -> None:
        """Render one content page with the template for its kind."""
        body_html, toc = render_markdown(page.body)
        words = word_count(body_html)
        crumbs = (
            [Crumb("Home", "/")] if page.path == "/" else self.breadcrumbs(_PARENTS[page.kind], page.title, page.path)
        )
        head = self.head.page_head(page, crumbs, words)
        author = self.authors[page.author]
        context: dict[str, Any] = {
            "page": page,
            "head": head,
            "body_html": body_html,
            "toc": toc,
            "crumbs": crumbs,
            "author": author,
            "reading_minutes": max(1, round(words / _WORDS_PER_MINUTE)),
            "related": self.related(page),
            "share_url": quote(head.canonical, safe=""),
            "share_title": quote(page.title, safe=""),
            "duration_label": duration_label(duration_seconds(page.extra["duration"]))
            if "duration" in page.extra
            else "",
        }
        if page.path == "/":
            template = "home.html"
            featured = [self.by_path[p] for p in page.extra.get("featured", ())]
            context.update(
                latest=self.newest_first(["blog"])[:3],
                featured=featured,
                stories=self.newest_first(["case_study"])[:3],
                announcement=page.extra.get("announcement"),
            )
        elif page.kind in ARTICLE_KINDS:
            template = "article.html"
        else:
            template = "page.html"
        self.render(template, page.path, **context)
        if page.kind == "video":
            self.copy_captions(page)
            self.write(
                f"{page.path.strip('/')}/poster.svg",
                self.env.get_template("poster.svg").render(page=page),
            )

    def copy_captions(self, page: ContentPage) -> None:
        """Copy the video's WebVTT file next to its page (``/videos/<slug>/<slug>.vtt``)."""
        source = page.source.parent / page.extra["captions"]
        target = output_file(self.out_dir, page.path).parent / f"{page.slug}.vtt"
        target.write_bytes(source.read_bytes())

    def render_listing(self, listing: Listing) -> None:
        """Render a thin listing page (cards linking to the content pages)."""
        items = self.newest_first(listing.kinds)
        groups: list[tuple[str, str, list[ContentPage]]]
        if listing.grouped:
            names = {"blog": "Articles", "case_study": "Customer stories", "video": "Videos", "podcast": "Podcast"}
            anchors = {"blog": "articles", "case_study": "customers", "video": "videos", "podcast": "podcast"}
            groups = [(names[k], anchors[k], [p for p in items if p.kind == k]) for k in listing.kinds]
        else:
            groups = [("", "", items)]
        crumbs = self.breadcrumbs(listing.parents, listing.title, listing.path)
        head = self.head.listing_head(listing.title, listing.intro, listing.path, items, crumbs)
        self.render("listing.html", listing.path, head=head, listing=listing, groups=groups, crumbs=crumbs)

    def render_internal(self) -> None:
        """Render ``/internal/``: staff notes that no crawler may index (noindex + robots.txt)."""
        meta, body = parse_front_matter(INTERNAL_PAGE.read_text(encoding="utf-8"), INTERNAL_PAGE)
        body_html, _ = render_markdown(body)
        crumbs = self.breadcrumbs((), meta["title"], "/internal/")
        head = self.head.noindex_head(meta["title"], meta["description"], "/internal/")
        self.render("internal.html", "/internal/", head=head, meta=meta, body_html=body_html, crumbs=crumbs)

    def render_feeds(self) -> None:
        """Write ``sitemap.xml``, ``blog/rss.xml`` and ``robots.txt``."""
        for rel_path, text in feed_files(self.env, self.pages, self.newest_first(["blog"]), self.url).items():
            self.write(rel_path, text)

    def copy_static(self) -> None:
        """Copy the stylesheet and icons to ``/assets/``."""
        for source in sorted(STATIC_DIR.iterdir()):
            if source.is_file():
                target = self.out_dir / "assets" / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def build(self) -> SiteSummary:
        """Render everything and return the summary."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for page in self.pages:
            self.render_content_page(page)
        for listing in LISTINGS:
            self.render_listing(listing)
        self.render_internal()
        self.render_feeds()
        self.copy_static()
        return SiteSummary(pages=len(self.pages), paths=[p.path for p in self.pages])


def build_site(out_dir: Path, base_url: str) -> SiteSummary:
    """Render the demo website into ``out_dir`` with absolute URLs built from ``base_url``.

    ``base_url`` is the site's origin as a crawler will see it, e.g. ``http://127.0.0.1:8765``;
    a trailing slash is ignored. Existing files in ``out_dir`` are overwritten, others are kept.
    """
    return _SiteRenderer(Path(out_dir), base_url).build()
