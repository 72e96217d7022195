"""The JSON API, version 1."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from kb.errors import ValidationError
from kb.search import clean_query
from web.context import knowledge_base

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None


@bp.get("/search")
def search():  # type: ignore[no-untyped-def]
    query = request.args.get("q", "")
    kb = knowledge_base()
    k = _int_arg("k", None)
    if k is not None:
        k = max(1, min(k, kb.settings.search.max_k))  # clamp rather than refuse
    query = clean_query(query, kb.settings.web.max_query_chars)  # echo what was really searched
    hits = kb.search(query, k=k)
    return jsonify({"query": query, "results": [h.to_dict() for h in hits]})
