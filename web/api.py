"""The JSON API, version 1."""

from __future__ import annotations

from flask import Blueprint, jsonify

from kb.search_evidence import search_with_evidence
from web.auth import require_user
from web.context import knowledge_base
from web.search_args import search_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/me")
def me():  # type: ignore[no-untyped-def]
    """Who the caller is (handy to check a token)."""
    user = require_user()
    return jsonify({"id": user.id, "email": user.email, "name": user.name, "role": user.role})


@bp.get("/search")
def search():  # type: ignore[no-untyped-def]
    kb = knowledge_base()
    args = search_args(kb.settings.search.max_k)
    response = search_with_evidence(kb, args.query, k=args.k, mode=args.mode, filters=args.filters,
                                    user_email=require_user().email)
    return jsonify(response.to_dict())
