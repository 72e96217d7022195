"""The JSON API, version 1."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from kb.search_evidence import search_with_evidence
from kb.search_filters import KINDS
from web.auth import require_user
from web.context import knowledge_base
from web.openapi import INTEGER, STRING, api_doc, obj, openapi_document, tag_names
from web.search_args import search_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
@api_doc("This document", tag="meta")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(openapi_document(current_app))


@bp.get("/me")
@api_doc("Who the caller is", tag="account", response=obj({"id": INTEGER, "email": STRING, "name": STRING,
                                                           "role": STRING}))
def me():  # type: ignore[no-untyped-def]
    """Who the caller is (handy to check a token)."""
    user = require_user()
    return jsonify({"id": user.id, "email": user.email, "name": user.name, "role": user.role})


@bp.get("/search")
@api_doc("Search content (hybrid keyword + semantic), grouped by content with the best passage", tag="search",
         query={"q": {"type": "string", "required": True, "pattern": r"\w",
                      "description": "the query (cut to web.max_query_chars)"},
                "k": {"type": "integer", "description": "results (clamped to 1..search.max_k)"},
                "mode": {"type": "string", "enum": ["hybrid", "dense", "bm25"]},
                "kind": {"type": "string", "enum": list(KINDS)}, "site": STRING, "tag": STRING,
                "persona": tag_names("personas"), "stage": tag_names("stages"),
                "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}})
def search():  # type: ignore[no-untyped-def]
    kb = knowledge_base()
    args = search_args(kb.settings.search.max_k)
    user = require_user()
    # Searches by token users (scripts, integrations acting for a person) are usage too.
    response = search_with_evidence(kb, args.query, k=args.k, mode=args.mode, filters=args.filters,
                                    user_email=user.email, user_id=user.id)
    return jsonify(response.to_dict())
