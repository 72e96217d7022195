"""Jinja filters every page uses: safe link targets, dates people read, short relative ages.

``safe_url`` is the one gate for every stored URL that lands in an ``href`` or ``src``: autoescaping
does not stop ``javascript:`` or ``data:`` links (checklist W-19), so anything but http(s) becomes ``#``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Flask

from kb.timed_links import format_moment

SAFE_SCHEMES = ("http", "https")


def safe_url(value: str | None) -> str:
    """``value`` when it is an absolute http(s) URL or a path on this site, else ``"#"``."""
    text = (value or "").strip()
    if not text or any(ord(ch) < 32 for ch in text):
        return "#"
    if text.startswith("/") and not text.startswith(("//", "/\\")):
        return text
    parts = urlsplit(text)
    return text if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else "#"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def date(value: datetime | str | None, fmt: str = "%b %d, %Y") -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return _aware(value).strftime(fmt)


def age(value: datetime | str | None, now: datetime | None = None) -> str:
    """"today", "3 days", "5 weeks": how long ago, in the unit people use."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    days = ((now or datetime.now(UTC)) - _aware(value)).days
    if days < 1:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''}"
    if days < 70:
        return f"{days // 7} weeks"
    return f"{days // 30} months"


def seconds(value: float | int | None) -> str:
    """A media time as people write it: 95 -> "1:35", 3725 -> "1:02:05"."""
    return "" if value is None else format_moment(value)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(safe_url=safe_url, date=date, age=age, seconds=seconds)
