"""Crawled content: sites, content items with their aliases and passages, crawl runs and page logs.

Passages keep their embedding as float32 bytes so the FAISS index can be rebuilt at any time without
re-running the model (embedding is the expensive step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.models.base import URL_LENGTH, Base, utcnow


class Site(Base):
    """A crawl source. Sites from ``config.toml`` are loaded here so an admin page can manage them."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    sitemaps: Mapped[list[str]] = mapped_column(JSON, default=list)
    feeds: Mapped[list[str]] = mapped_column(JSON, default=list)
    include: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    page_budget: Mapped[int] = mapped_column(Integer, default=0)
    delay_seconds: Mapped[float] = mapped_column(Float, default=-1.0)
    max_depth: Mapped[int] = mapped_column(Integer, default=-1)
    allow_private_addresses: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the site keeps transcripts no page links to: URL templates with {slug}, {path} or {id}
    # (issue 6; ingest.transcript_locations).
    transcripts: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # "config" or "cli"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    contents: Mapped[list[Content]] = relationship(
        back_populates="site", cascade="all, delete-orphan", passive_deletes=True
    )


class Content(Base):
    """One canonical piece of content; its other URLs are aliases."""

    __tablename__ = "contents"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    canonical_url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="page", index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    modified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(20))
    # Buyer persona and flywheel stage (Attract / Engage / Delight), suggested and editable
    # (kb.content_tags): *_source is "suggested" or "marketer" (sticky: suggestions never replace it),
    # *_confidence the suggestion's probability (1.0 for a marketer's tag); None while untagged.
    persona: Mapped[str | None] = mapped_column(String(100), index=True)
    stage: Mapped[str | None] = mapped_column(String(20), index=True)
    persona_source: Mapped[str | None] = mapped_column(String(20))
    stage_source: Mapped[str | None] = mapped_column(String(20))
    persona_confidence: Mapped[float | None] = mapped_column(Float)
    stage_confidence: Mapped[float | None] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10), default="live", index=True)  # live / retired
    # crawl metadata
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))  # the Last-Modified header, verbatim
    last_fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Recordings (issue 6, kb.media_content): where a timed link should land (the platform's watch page for
    # a YouTube/Vimeo/Wistia/Loom player; None: the page itself) and which player that is; a video embedded
    # in a blog post is its own content whose parent is the post. caption_state remembers each caption URL's
    # validators and last outcome so a re-crawl asks conditionally and retries only what failed.
    media_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    media_platform: Mapped[str | None] = mapped_column(String(20))
    parent_content_id: Mapped[int | None] = mapped_column(
        ForeignKey("contents.id", ondelete="SET NULL"), index=True
    )
    caption_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    site: Mapped[Site] = relationship(back_populates="contents")
    aliases: Mapped[list[ContentAlias]] = relationship(
        back_populates="content", cascade="all, delete-orphan", order_by="ContentAlias.id",
        passive_deletes=True,
    )
    passages: Mapped[list[Passage]] = relationship(
        back_populates="content", cascade="all, delete-orphan", order_by="Passage.ordinal",
        passive_deletes=True,
    )


class ContentAlias(Base):
    """Another URL of the same content (tracking parameters, redirects, duplicates by hash)."""

    __tablename__ = "content_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    content: Mapped[Content] = relationship(back_populates="aliases")


class Passage(Base):
    """A searchable piece of one content item; search hits are passages, grouped back to content."""

    __tablename__ = "passages"
    # AUTOINCREMENT: SQLite must never reuse the id of a deleted passage, or the index (keyed by
    # passage id) would keep serving the deleted passage's vector under the new passage's id.
    __table_args__ = (Index("ix_passages_unembedded", "embedded"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_seconds: Mapped[float | None] = mapped_column(Float)
    end_seconds: Mapped[float | None] = mapped_column(Float)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32, L2-normalised
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedded: Mapped[bool] = mapped_column(Boolean, default=False)

    content: Mapped[Content] = relationship(back_populates="passages")


class CrawlRun(Base):
    """One crawl of one site, with its summary counts."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running / completed / failed
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    pages: Mapped[list[PageLog]] = relationship(back_populates="crawl_run", cascade="all, delete-orphan")


class PageLog(Base):
    """Every URL seen by a crawl with its outcome and reason: "why was this page not indexed?"."""

    __tablename__ = "page_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    crawl_run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH + 100))
    final_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    discovered_via: Mapped[str | None] = mapped_column(String(20))
    depth: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)
    logged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    crawl_run: Mapped[CrawlRun] = relationship(back_populates="pages")
