"""The JSON API, version 1."""

from __future__ import annotations

from flask import Blueprint, jsonify

from kb.search_evidence import search_with_evidence
from web.context import knowledge_base
from web.search_args import search_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/search")
def search():  # type: ignore[no-untyped-def]
    kb = knowledge_base()
    args = search_args(kb.settings.search.max_k)
    response = search_with_evidence(kb, args.query, k=args.k, mode=args.mode, filters=args.filters)
    return jsonify(response.to_dict())
