"""Reading a search request's query string (shared by the search page and the API)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from kb.errors import ValidationError
from kb.search_filters import SearchFilters, parse_filters


@dataclass(frozen=True)
class SearchArgs:
    query: str
    k: int | None
    mode: str
    filters: SearchFilters


def int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None


def search_args(max_k: int) -> SearchArgs:
    """``q``, ``k`` (clamped to 1..max_k rather than refused), ``mode`` and the filters
    ``kind``, ``site``, ``tag``, ``persona``, ``stage`` (repeatable or comma-separated), ``from``, ``to``."""
    k = int_arg("k")
    if k is not None:
        k = max(1, min(k, max_k))
    filters = parse_filters(
        kinds=request.args.getlist("kind"),
        sites=request.args.getlist("site"),
        tags=request.args.getlist("tag"),
        personas=request.args.getlist("persona"),
        stages=request.args.getlist("stage"),
        published_from=request.args.get("from"),
        published_to=request.args.get("to"),
    )
    return SearchArgs(request.args.get("q", ""), k, request.args.get("mode", "hybrid"), filters)
