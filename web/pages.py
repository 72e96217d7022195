"""HTML pages. For now: the search page reps use to find content for a prospect."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from kb.errors import ValidationError
from web.context import knowledge_base

bp = Blueprint("pages", __name__)


@bp.get("/")
def search_page():  # type: ignore[no-untyped-def]
    query = request.args.get("q", "").strip()
    hits, error = [], None
    if query:
        try:
            hits = knowledge_base().search(query)
        except ValidationError as exc:
            error = exc.message
    return render_template("search.html", query=query, hits=hits, error=error)
