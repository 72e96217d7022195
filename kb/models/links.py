"""Tracked links a rep sends a prospect, what each one leads to, and every visit to them (issue 7).

A :class:`TrackedLink` is a random token (``/l/<token>``) owned by one rep. It leads to one
destination (a content item, possibly at a second of a recording) or to an "answer pack": a small
landing page listing several items for one question. Either way the destinations are rows of
:class:`TrackedLinkItem` (one for a plain link, one per item of a pack) holding the URL fixed at
creation, so what a visitor reaches comes only from the database, never from the request.

The token is stored as it is, not hashed, on purpose: it is a locator, not a credential. It travels in
clear through e-mail, chat unfurlers and mail scanners by design, grants nothing but a redirect to
content the company already publishes plus one counted open, and the rep must be able to copy it
again from "My links" (a hash would allow showing it only once). Someone who can read this table
already sees every destination and count the token protects; a hash would hide nothing of value.

Counters on the link row are changed only with atomic ``UPDATE ... SET n = n + 1`` (never read,
add, write), so concurrent clicks are all counted. :class:`LinkVisit` keeps one row per request that
reached a live link: no raw IP address or user agent, only keyed hashes (``kb.login.client_key``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.models.base import URL_LENGTH, Base, utcnow

LINK_KINDS = ("content", "pack")  # one destination / an answer pack's landing page


class TrackedLink(Base):
    __tablename__ = "tracked_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # >= 128 random bits (see the module doc)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="content")
    label: Mapped[str | None] = mapped_column(String(200))  # the prospect: company or deal
    # An answer pack answers one question: the rep's own question (if made from it) and its wording.
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    bot_count: Mapped[int] = mapped_column(Integer, default=0)  # scanner and unfurler requests, not opens

    items: Mapped[list[TrackedLinkItem]] = relationship(
        back_populates="link", cascade="all, delete-orphan", order_by="TrackedLinkItem.position",
        passive_deletes=True,
    )


class TrackedLinkItem(Base):
    """One destination of a link: the URL fixed at creation (re-checked against the sites at every visit)."""

    __tablename__ = "tracked_link_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The content it was made for; kept NULL when that content is deleted (the URL is still checked).
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="SET NULL"), index=True)
    at_seconds: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    title: Mapped[str] = mapped_column(Text, default="")

    link: Mapped[TrackedLink] = relationship(back_populates="items")


class LinkVisit(Base):
    """One request to a live link: counted, or why not (bot, HEAD, repeat within the window)."""

    __tablename__ = "link_visits"
    __table_args__ = (
        Index("ix_link_visits_link_visitor_at", "link_id", "visitor", "at"),
        Index("ix_link_visits_link_client_at", "link_id", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    item: Mapped[int | None] = mapped_column(Integer)  # a pack item's position; None: the link itself
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(32))  # keyed hash of address + user agent
    client: Mapped[str] = mapped_column(String(32))  # keyed hash of the address alone (the per-client limit)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(60))  # "counted", "repeat", "head", "bot: Slackbot", ...
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
