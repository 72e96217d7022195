"""The demo site's content: Markdown files with TOML front matter, loaded and validated.

Why a module of its own: reading ``kb/demo/content`` (front matter between ``+++`` lines, the
allowed kinds/personas/stages, Markdown to HTML, word counts, ISO durations) is what the tests and
the site builder both rely on, and it does not need Jinja, the site configuration or a base URL.
Rendering pages from it is :mod:`kb.demo.site`'s job.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import markdown

DEMO_DIR = Path(__file__).resolve().parent
CONTENT_DIR = DEMO_DIR / "content"

KINDS = ("blog", "case_study", "podcast", "video", "page")
ARTICLE_KINDS = ("blog", "case_study", "podcast", "video")
PERSONAS = ("", "finance", "procurement", "it-security", "operations")
STAGES = ("", "attract", "engage", "delight")
MARKDOWN_EXTENSIONS = ("extra", "toc", "sane_lists")
_FRONT_MATTER = re.compile(r"\A\+\+\+\s*\n(.*?)\n\+\+\+\s*\n(.*)\Z", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_ISO_DURATION = re.compile(r"\APT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?\Z")


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


class ContentError(ValueError):
    """Raised when a content file is malformed."""


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


def duration_seconds(iso: str) -> int:
    """Seconds in an ISO 8601 duration such as ``PT5M24S``."""
    match = _ISO_DURATION.match(iso)
    if match is None:
        raise ContentError(f"unsupported duration {iso!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
