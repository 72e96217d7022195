"""Paging of every list the API returns: ``?limit=`` and ``?offset=``, clamped rather than refused.

``limit`` is clamped to 1..``web.max_page_size`` (default ``web.page_size``) and ``offset`` to >= 0, so
``?limit=1000000`` or ``?offset=-1`` can neither exhaust the server nor error (checklist W-26); text
that is not a number is a 400. Every paged response has the same envelope: the rows under their own
name, then ``count`` (rows here), ``total``, ``limit``, ``offset`` and ``next_offset`` (null at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request

from kb.errors import ValidationError
from web.context import knowledge_base


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def envelope(self, name: str, rows: list[Any], total: int) -> dict[str, Any]:
        end = self.offset + len(rows)
        return {name: rows, "count": len(rows), "total": total, "limit": self.limit, "offset": self.offset,
                "next_offset": end if end < total else None}


def _number(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number") from None


def page_args() -> Page:
    """The request's page, clamped to the configured sizes."""
    web = knowledge_base().settings.web
    limit = _number("limit")
    offset = _number("offset")
    limit = web.page_size if limit is None else max(1, min(limit, web.max_page_size))
    return Page(limit=limit, offset=max(0, offset or 0))
