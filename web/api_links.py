"""The JSON API for tracked links (routes on the ``/api/v1`` blueprint of :mod:`web.api`).

``POST /links`` makes a link: to a content item or URL on a configured site (``content_id`` or ``url``,
optional ``at`` seconds) or an answer pack (``items``: ``[{"content_id", "at"?}]`` with ``question_id``
or ``title``); ``label`` names the prospect. ``GET /links`` pages the caller's links with their opens,
``GET /links/{id}`` shows one, ``DELETE /links/{id}`` revokes it. Only the caller's own links exist here.
"""

from __future__ import annotations

from flask import jsonify, request

from kb.errors import ValidationError
from kb.tracked_links import MAX_PACK_ITEMS, create_link, create_pack, get_link, list_links, revoke_link
from web.api import bp
from web.auth import require_user
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import ID, NUMBER, PAGING, STRING, api_doc, obj
from web.pagination import page_args
from web.query_args import only_params

PAGE_PARAMS = ("limit", "offset")
SECONDS = {**NUMBER, "minimum": 0}
LINK_FIELDS = ("url", "content_id", "at", "label", "items", "question_id", "title")
PACK_ITEM = obj({"content_id": ID, "at": SECONDS}, required=("content_id",))
LINK_BODY = {"oneOf": [
    obj({"url": STRING, "at": SECONDS, "label": STRING}, required=("url",)),
    obj({"content_id": ID, "at": SECONDS, "label": STRING}, required=("content_id",)),
    obj({"items": {"type": "array", "items": PACK_ITEM, "minItems": 1, "maxItems": MAX_PACK_ITEMS},
         "question_id": ID, "title": STRING, "label": STRING}, required=("items",)),
]}


def _base() -> str:
    return request.host_url.rstrip("/")


@bp.post("/links")
@api_doc("Make a tracked link for a prospect: to a content item or URL (optionally at a second), or an answer pack",
         tag="links", status=201, body=LINK_BODY)
def links_create():  # type: ignore[no-untyped-def]
    body, _email = json_body(LINK_FIELDS)
    user_id = require_user().id
    if "items" in body:
        if {"url", "content_id", "at"} & set(body):
            raise ValidationError("an answer pack takes 'items' (each with its own 'at'), not 'url'/'content_id'/'at'")
        link = create_pack(knowledge_base(), user_id, body["items"], question_id=body.get("question_id"),
                           title=body.get("title"), label=body.get("label"), base_url=_base())
    else:
        if {"question_id", "title"} & set(body):
            raise ValidationError("'question_id' and 'title' belong to answer packs (with 'items')")
        link = create_link(knowledge_base(), user_id, url=body.get("url"), content_id=body.get("content_id"),
                           at_seconds=body.get("at"), label=body.get("label"), base_url=_base())
    return jsonify({"link": link}), 201


@bp.get("/links")
@api_doc("The caller's tracked links, newest first, with opens and first/last opened", tag="links", query=PAGING)
def links_list():  # type: ignore[no-untyped-def]
    only_params(PAGE_PARAMS)
    page = page_args()
    rows, total = list_links(knowledge_base(), require_user().id, limit=page.limit, offset=page.offset,
                             base_url=_base())
    return jsonify(page.envelope("links", rows, total))


@bp.get("/links/<int:link_id>")
@api_doc("One of the caller's tracked links", tag="links")
def links_show(link_id: int):  # type: ignore[no-untyped-def]
    only_params(())
    return jsonify({"link": get_link(knowledge_base(), require_user().id, link_id, base_url=_base())})


@bp.delete("/links/<int:link_id>")
@api_doc("Revoke one of the caller's tracked links (it answers 404 from then on)", tag="links")
def links_revoke(link_id: int):  # type: ignore[no-untyped-def]
    only_params(())
    return jsonify({"link": revoke_link(knowledge_base(), require_user().id, link_id, base_url=_base())})
