"""What each demo page declares about itself in ``<head>``: title, canonical URL, Open Graph, JSON-LD.

Why a module of its own: the structured data (schema.org types per content kind, breadcrumbs,
publisher and authors, ``og:``/``article:``/``video:`` properties) is exactly what the crawler's
metadata extraction is tested against, so it is kept in one place, apart from the HTML templates
and the page layout that :mod:`kb.demo.site` renders around it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kb.demo.content import ContentPage, duration_seconds


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


def jsonld_script(data: dict[str, Any]) -> str:
    """Serialise a JSON-LD object so it is safe inside a ``<script>`` element."""
    return json.dumps(data, indent=2, ensure_ascii=False).replace("</", "<\\/")


class HeadBuilder:
    """Builds ``<head>`` data for one build: absolute URLs come from ``base_url`` (no trailing slash)."""

    def __init__(self, base_url: str, company: dict[str, Any], authors: dict[str, dict[str, str]],
                 podcast: dict[str, Any]) -> None:
        self.base_url = base_url
        self.company = company
        self.authors = authors
        self.podcast = podcast

    def url(self, path: str) -> str:
        """Absolute URL for a root-relative path."""
        return self.base_url + path

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
                    "name": self.podcast["name"],
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
        return Head(title, page.description, canonical, og_type, properties, [jsonld_script(d) for d in jsonld])

    def listing_head(self, title: str, intro: str, url_path: str, items: list[ContentPage],
                     crumbs: list[Crumb]) -> Head:
        """Head of a listing page: a CollectionPage naming every listed page, plus its breadcrumbs."""
        kind = "blog" if url_path == "/blog/" else "page"
        jsonld = {
            "@context": "https://schema.org",
            "@type": "CollectionPage",
            "name": title,
            "description": intro,
            "url": self.url(url_path),
            "hasPart": [{"@type": "CreativeWork", "name": p.title, "url": self.url(p.path)} for p in items],
        }
        return Head(
            title=title + self.title_suffix(kind),
            description=intro,
            canonical=self.url(url_path),
            og_type="website",
            properties=[],
            jsonld=[jsonld_script(jsonld), jsonld_script(self.breadcrumb_jsonld(crumbs))],
        )

    def noindex_head(self, title: str, description: str, url_path: str) -> Head:
        """Head of a page no crawler may index or follow (no structured data at all)."""
        return Head(
            title=title + self.title_suffix("page"),
            description=description,
            canonical=self.url(url_path),
            og_type="website",
            properties=[],
            jsonld=[],
            robots="noindex,nofollow",
        )
