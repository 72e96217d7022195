"""Render the bundled Fernbrook demo website into a static directory.

The content lives in ``kb/demo/content`` as Markdown files with a TOML front-matter block between
``+++`` lines; site-wide settings (company, navigation, footer, authors) live in ``kb/demo/site.toml``.
:func:`build_site` turns them into ``<out_dir>/<path>/index.html`` pages wrapped in the boilerplate a
real marketing site carries (navigation, cookie banner, breadcrumbs, share bar, sidebar, newsletter
form, footer, analytics snippet), plus ``sitemap.xml``, ``robots.txt``, an RSS feed, listing pages,
a robots-disallowed ``/internal/`` page, the stylesheet and the WebVTT caption files.

The output is deterministic: the same content and ``base_url`` always produce the same bytes.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DEMO_DIR = Path(__file__).resolve().parent
CONTENT_DIR = DEMO_DIR / "content"
TEMPLATES_DIR = DEMO_DIR / "templates"
STATIC_DIR = DEMO_DIR / "static"
INTERNAL_PAGE = DEMO_DIR / "internal" / "notes.md"
CONFIG_PATH = DEMO_DIR / "site.toml"

KINDS = ("blog", "case_study", "podcast", "video", "page")
ARTICLE_KINDS = ("blog", "case_study", "podcast", "video")
PERSONAS = ("", "finance", "procurement", "it-security", "operations")
STAGES = ("", "attract", "engage", "delight")
MARKDOWN_EXTENSIONS = ("extra", "toc", "sane_lists")
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
_FRONT_MATTER = re.compile(r"\A\+\+\+\s*\n(.*?)\n\+\+\+\s*\n(.*)\Z", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_WORDS_PER_MINUTE = 225
_ISO_DURATION = re.compile(r"\APT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?\Z")


@dataclass(frozen=True)
class SiteSummary:
    """What :func:`build_site` produced.

    ``pages`` counts the content pages (one per Markdown file in ``kb/demo/content``) and ``paths``
    lists their URL paths, sorted. Listing pages, ``/internal/`` and the feeds are not counted.
    """

    pages: int
    paths: list[str]


@dataclass(frozen=True)
class ContentPage:
    """One Markdown file from the content directory, with its front matter parsed."""

    source: Path
    title: str
    kind: str
    path: str
    description: str
    author: str
    published: date
    updated: date | None
    tags: tuple[str, ...]
    persona: str
    stage: str
    body: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def slug(self) -> str:
        """Last segment of the URL path (``home`` for ``/``)."""
        return self.path.strip("/").rsplit("/", 1)[-1] or "home"

    @property
    def modified(self) -> date:
        """Date of the last update, falling back to the publication date."""
        return self.updated or self.published


@dataclass(frozen=True)
class Crumb:
    """One breadcrumb entry: a label and a root-relative URL path."""

    label: str
    href: str


@dataclass(frozen=True)
class Head:
    """Everything rendered into ``<head>``."""

    title: str
    description: str
    canonical: str
    og_type: str
    properties: list[tuple[str, str]]
    jsonld: list[str]
    robots: str = ""


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


class ContentError(ValueError):
    """Raised when a content file is malformed."""


# --------------------------------------------------------------------------- loading


def parse_front_matter(text: str, source: Path | str = "<string>") -> tuple[dict[str, Any], str]:
    """Split ``text`` into its TOML front matter (between ``+++`` lines) and the Markdown body."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ContentError(f"{source}: missing +++ front matter")
    try:
        meta = tomllib.loads(match.group(1))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{source}: invalid front matter: {exc}") from exc
    return meta, match.group(2)


def load_page(source: Path) -> ContentPage:
    """Read one content file and validate its front matter."""
    meta, body = parse_front_matter(source.read_text(encoding="utf-8"), source)
    required = ("title", "kind", "path", "description", "author", "published")
    missing = [key for key in required if key not in meta]
    if missing:
        raise ContentError(f"{source}: missing front matter keys {missing}")
    kind, path = meta.pop("kind"), meta.pop("path")
    if kind not in KINDS:
        raise ContentError(f"{source}: unknown kind {kind!r}")
    if not (path.startswith("/") and path.endswith("/")):
        raise ContentError(f"{source}: path must start and end with '/': {path!r}")
    persona, stage = meta.pop("persona", ""), meta.pop("stage", "")
    if persona not in PERSONAS or stage not in STAGES:
        raise ContentError(f"{source}: unknown persona {persona!r} or stage {stage!r}")
    return ContentPage(
        source=source,
        title=meta.pop("title"),
        kind=kind,
        path=path,
        description=meta.pop("description"),
        author=meta.pop("author"),
        published=meta.pop("published"),
        updated=meta.pop("updated", None),
        tags=tuple(meta.pop("tags", ())),
        persona=persona,
        stage=stage,
        body=body,
        extra=meta,
    )


def load_pages(content_dir: Path = CONTENT_DIR) -> list[ContentPage]:
    """Load every ``*.md`` file under ``content_dir``, sorted by URL path."""
    pages = sorted((load_page(p) for p in sorted(content_dir.rglob("*.md"))), key=lambda p: p.path)
    seen: set[str] = set()
    for page in pages:
        if page.path in seen:
            raise ContentError(f"duplicate path {page.path}")
        seen.add(page.path)
    return pages


def render_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Render Markdown to HTML; also return the heading tree (for "On this page")."""
    md = markdown.Markdown(extensions=list(MARKDOWN_EXTENSIONS), output_format="html")
    html = md.convert(text)
    return html, list(getattr(md, "toc_tokens", []))


def word_count(html: str) -> int:
    """Number of words in an HTML fragment's text."""
    return len(_TAG.sub(" ", html).split())


def output_file(out_dir: Path, url_path: str) -> Path:
    """Where the page for ``url_path`` is written (``/a/b/`` becomes ``a/b/index.html``)."""
    segments = [segment for segment in url_path.split("/") if segment]
    return out_dir.joinpath(*segments, "index.html")


def _jsonld(data: dict[str, Any]) -> str:
    """Serialise a JSON-LD object so it is safe inside a ``<script>`` element."""
    return json.dumps(data, indent=2, ensure_ascii=False).replace("</", "<\\/")


def duration_seconds(iso: str) -> int:
    """Seconds in an ISO 8601 duration such as ``PT5M24S``."""
    match = _ISO_DURATION.match(iso)
    if match is None:
        raise ContentError(f"unsupported duration {iso!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def human_date(day: date) -> str:
    """``March 4, 2026``-style date, independent of the platform's ``strftime`` flags."""
    return f"{day:%B} {day.day}, {day.year}"


def duration_label(seconds: int) -> str:
    """``5:24 min``-style label for a media duration given in seconds."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}:{rest:02d} min"


def _rfc822(day: date) -> str:
    return format_datetime(datetime.combine(day, time(9, 0), tzinfo=UTC))


# --------------------------------------------------------------------------- rendering


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

    # ----------------------------------------------------------------- helpers

    def url(self, path: str) -> str:
        """Absolute URL for a root-relative path."""
        return self.base_url + path

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

    def breadcrumb_jsonld(self, crumbs: list[Crumb]) -> dict[str, Any]:
        return {
            "@context": "https://schema.org",
            "@type": "BreadcrumbList",
            "itemListElement": [
                {"@type": "ListItem", "position": i, "name": c.label, "item": self.url(c.href)}
                for i, c in enumerate(crumbs, start=1)
            ],
        }

    def organization(self) -> dict[str, Any]:
        return {
            "@type": "Organization",
            "name": self.company["name"],
            "url": self.url("/"),
            "logo": {"@type": "ImageObject", "url": self.url("/assets/favicon.svg")},
        }

    def person(self, name: str) -> dict[str, Any]:
        author = self.authors[name]
        if name == "Fernbrook Team":
            return self.organization()
        return {"@type": "Person", "name": name, "jobTitle": author["role"], "worksFor": self.organization()}

    def title_suffix(self, kind: str) -> str:
        if kind == "blog":
            return f" | {self.company['blog_name']}"
        return f" | {self.company['name']}"

    # ----------------------------------------------------------------- structured data

    def page_jsonld(self, page: ContentPage, words: int) -> dict[str, Any]:
        """The main JSON-LD object describing one content page."""
        canonical = self.url(page.path)
        schema_type = {
            "blog": "BlogPosting",
            "case_study": "Article",
            "video": "VideoObject",
            "podcast": "PodcastEpisode",
        }.get(page.kind, "WebPage")
        data: dict[str, Any] = {"@context": "https://schema.org", "@type": schema_type, "url": canonical}
        if page.kind in ("blog", "case_study"):
            data.update(
                headline=page.title,
                description=page.description,
                author=self.person(page.author),
                publisher=self.organization(),
                datePublished=page.published.isoformat(),
                dateModified=page.modified.isoformat(),
                keywords=", ".join(page.tags),
                wordCount=words,
                mainEntityOfPage={"@type": "WebPage", "@id": canonical},
            )
        elif page.kind == "video":
            data.update(
                name=page.title,
                description=page.description,
                uploadDate=page.published.isoformat(),
                duration=page.extra["duration"],
                thumbnailUrl=self.url(f"{page.path}poster.svg"),
                embedUrl=canonical,
                contentUrl=canonical,
                inLanguage="en",
                publisher=self.organization(),
            )
        elif page.kind == "podcast":
            data.update(
                name=page.title,
                description=page.description,
                episodeNumber=page.extra["episode"],
                datePublished=page.published.isoformat(),
                timeRequired=page.extra["duration"],
                author=self.person(page.author),
                partOfSeries={
                    "@type": "PodcastSeries",
                    "name": self.config["podcast"]["name"],
                    "url": self.url("/podcast/"),
                },
            )
        else:
            data.update(
                name=page.title,
                description=page.description,
                datePublished=page.published.isoformat(),
                dateModified=page.modified.isoformat(),
                isPartOf={"@type": "WebSite", "name": self.company["name"], "url": self.url("/")},
                publisher=self.organization(),
            )
        return data

    def page_head(self, page: ContentPage, crumbs: list[Crumb], words: int) -> Head:
        """Title, meta description, canonical URL, Open Graph tags and JSON-LD for a page."""
        canonical = self.url(page.path)
        properties: list[tuple[str, str]] = []
        og_type = "website"
        if page.kind in ("blog", "case_study", "podcast"):
            og_type = "article"
            properties += [
                ("article:published_time", page.published.isoformat()),
                ("article:modified_time", page.modified.isoformat()),
                ("article:author", page.author),
                *(("article:tag", tag) for tag in page.tags),
            ]
        elif page.kind == "video":
            og_type = "video.other"
            properties += [
                ("video:release_date", page.published.isoformat()),
                ("video:duration", str(duration_seconds(page.extra["duration"]))),
                *(("video:tag", tag) for tag in page.tags),
            ]
        title = page.title + self.title_suffix(page.kind)
        jsonld = [self.page_jsonld(page, words)]
        if page.path != "/":
            jsonld.append(self.breadcrumb_jsonld(crumbs))
        else:
            jsonld.append(
                {
                    "@context": "https://schema.org",
                    "@type": "WebSite",
                    "name": self.company["name"],
                    "url": self.url("/"),
                    "publisher": self.organization(),
                }
            )
        return Head(title, page.description, canonical, og_type, properties, [_jsonld(d) for d in jsonld])

    # ----------------------------------------------------------------- pages

    def render_content_page(self, page: ContentPage) -> None:
        """Render one content page with the template for its kind."""
        body_html, toc = render_markdown(page.body)
        words = word_count(body_html)
        crumbs = (
            [Crumb("Home", "/")] if page.path == "/" else self.breadcrumbs(_PARENTS[page.kind], page.title, page.path)
        )
        head = self.page_head(page, crumbs, words)
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
        kind = "blog" if listing.path == "/blog/" else "page"
        jsonld = {
            "@context": "https://schema.org",
            "@type": "CollectionPage",
            "name": listing.title,
            "description": listing.intro,
            "url": self.url(listing.path),
            "hasPart": [{"@type": "CreativeWork", "name": p.title, "url": self.url(p.path)} for p in items],
        }
        head = Head(
            title=listing.title + self.title_suffix(kind),
            description=listing.intro,
            canonical=self.url(listing.path),
            og_type="website",
            properties=[],
            jsonld=[_jsonld(jsonld), _jsonld(self.breadcrumb_jsonld(crumbs))],
        )
        self.render("listing.html", listing.path, head=head, listing=listing, groups=groups, crumbs=crumbs)

    def render_internal(self) -> None:
        """Render ``/internal/``: staff notes that no crawler may index (noindex + robots.txt)."""
        meta, body = parse_front_matter(INTERNAL_PAGE.read_text(encoding="utf-8"), INTERNAL_PAGE)
        body_html, _ = render_markdown(body)
        crumbs = self.breadcrumbs((), meta["title"], "/internal/")
        head = Head(
            title=meta["title"] + self.title_suffix("page"),
            description=meta["description"],
            canonical=self.url("/internal/"),
            og_type="website",
            properties=[],
            jsonld=[],
            robots="noindex,nofollow",
        )
        self.render("internal.html", "/internal/", head=head, meta=meta, body_html=body_html, crumbs=crumbs)

    def render_feeds(self) -> None:
        """Write ``sitemap.xml``, ``blog/rss.xml`` and ``robots.txt``."""
        self.write("sitemap.xml", self.env.get_template("sitemap.xml").render(pages=self.pages, url=self.url))
        posts = self.newest_first(["blog"])
        rss = self.env.get_template("rss.xml").render(
            posts=posts,
            url=self.url,
            rfc822=_rfc822,
            last_build=_rfc822(max(p.modified for p in posts)),
        )
        self.write("blog/rss.xml", rss)
        robots = f"User-agent: *\nDisallow: /internal/\nAllow: /\n\nSitemap: {self.url('/sitemap.xml')}\n"
        self.write("robots.txt", robots)

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
