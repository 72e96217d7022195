"""HTML pages. For now: the search page reps use to find content for a prospect.

Every search a person runs here is recorded as usage (the query, its filters and the content shown: the
impressions) by :func:`kb.search_evidence.search_with_evidence`, which never fails or slows the search; clicks on the
results are recorded by app.js (``data-event`` links).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from markupsafe import Markup

from kb.errors import ValidationError
from kb.search_evidence import search_with_evidence
from kb.search_filters import KINDS
from web.auth import require_user
from web.context import knowledge_base
from web.search_args import search_args

bp = Blueprint("pages", __name__)


@bp.get("/")
def search_page():  # type: ignore[no-untyped-def]
    kb = knowledge_base()
    query = request.args.get("q", "").strip()
    response, error, args = None, None, None
    try:
        args = search_args(kb.settings.search.max_k)
        if query:
            user = require_user()
            response = search_with_evidence(kb, args.query, k=args.k, mode=args.mode, filters=args.filters,
                                            user_email=user.email, user_id=user.id)
    except ValidationError as exc:
        error = exc.message
    # snippet_html is built escape-first by kb.highlight: only <mark> tags are markup.
    snippets = {hit.passage_id: Markup(hit.snippet_html)  # noqa: S704  # nosec B704: escaped first, above
                for hit in response.hits} if response else {}
    return render_template("search.html", query=query, response=response, error=error, kinds=KINDS,
                           filters=args.filters if args else None, snippets=snippets)
