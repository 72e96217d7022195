"""The JSON API behind the marketing pages (routes on the `/api/v1` blueprint of :mod:`web.api`).

``GET /coverage`` is the heatmap's matrix (``measure``: content, demand or usage), ``GET /content`` pages
the content list (filters ``kind``, ``persona``, ``stage`` — a name or "none" —, ``status`` live / retired
/ all, ``q`` in title or URL),
``GET /content/<id>`` is one item with its passages and what it answers, ``PATCH /content/<id>`` sets its
persona and/or stage as a marketer's (a configured name, or null / "none" for untagged). ``POST /topics/bulk`` applies
``{"ids": [...], "changes": {...}}`` to each topic and answers per id (200 even when some were refused: the
refusals are in the results), ``POST /topics/merge`` merges ``{"ids": [...], "into": id or null}`` (null: the
first id). The acting user of a write is the caller. Topics themselves are in :mod:`web.api_topics`.
"""

from __future__ import annotations

from flask import jsonify, request

from kb.bulk_triage import BULK_KEYS, MAX_BULK_TOPICS, bulk_change, merge_selected
from kb.content_tags import set_content_tags
from kb.content_view import STATUSES, content_details, content_page
from kb.coverage import MEASURES
from kb.coverage import coverage as coverage_matrix
from kb.errors import ValidationError
from kb.search_filters import KINDS
from web.api import bp
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import INTEGER, PAGING, STRING, api_doc, obj, tag_names
from web.pagination import page_args
from web.query_args import only_params

CONTENT_PARAMS = ("kind", "persona", "stage", "status", "q", "limit", "offset")
IDS = {"type": "array", "items": INTEGER, "minItems": 1, "maxItems": MAX_BULK_TOPICS}
NULLABLE_TEXT = {"type": ["string", "null"]}


@bp.get("/coverage")
@api_doc("The coverage heatmap: live content against open demand (and content uses) per persona x stage",
         tag="marketing", query={"measure": {"type": "string", "enum": list(MEASURES),
                                             "description": "what each cell's value and heat show (default content)"}})
def coverage():  # type: ignore[no-untyped-def]
    only_params(("measure",))
    return jsonify(coverage_matrix(knowledge_base(), request.args.get("measure")))


@bp.get("/content")
@api_doc("Content items, newest first (filters as the content list page)", tag="marketing",
         query={"kind": {"type": "string", "enum": list(KINDS)},
                "persona": tag_names("personas", untagged=True),
                "stage": tag_names("stages", untagged=True),
                "status": {"type": "string", "enum": list(STATUSES)},
                "q": {"type": "string", "description": "words in the title or URL", "maxLength": 200},
                **PAGING})
def content_list():  # type: ignore[no-untyped-def]
    only_params(CONTENT_PARAMS)
    page = page_args()
    args = request.args
    data = content_page(knowledge_base(), kind=args.get("kind"), persona=args.get("persona"),
                        stage=args.get("stage"), status=args.get("status"), q=args.get("q"),
                        limit=page.limit, offset=page.offset)
    return jsonify({**page.envelope("contents", data["contents"], data["total"]), "filters": data["filters"]})


@bp.get("/content/<int:content_id>")
@api_doc("One content item: metadata, passages, and the topics and questions it answers", tag="marketing")
def content_item(content_id: int):  # type: ignore[no-untyped-def]
    only_params(())
    return jsonify(content_details(knowledge_base(), content_id))


@bp.patch("/content/<int:content_id>")
@api_doc("Set a content item's persona and/or stage as a marketer's (null or 'none': untagged); "
         "suggestions never replace them", tag="marketing",
         body=obj({"persona": {"anyOf": [tag_names("personas", untagged=True), {"type": "null"}]},
                   "stage": {"anyOf": [tag_names("stages", untagged=True), {"type": "null"}]}}))
def content_update(content_id: int):  # type: ignore[no-untyped-def]
    body, _ = json_body(("persona", "stage"))
    return jsonify(set_content_tags(knowledge_base(), content_id, body))


@bp.post("/topics/bulk")
@api_doc("Apply the same change to many topics; the result of each (refusals included)", tag="backlog",
         body=obj({"ids": IDS, "changes": obj({"status": STRING, "owner": NULLABLE_TEXT, "persona": NULLABLE_TEXT,
                                                "stage": NULLABLE_TEXT, "due": {"type": "string"}, "note": STRING,
                                                "answer": {"type": ["integer", "string"]}})},
                  required=("ids", "changes")))
def topics_bulk():  # type: ignore[no-untyped-def]
    body, who = json_body(("ids", "changes"))
    if "changes" not in body:
        raise ValidationError(f"changes is required: an object with some of {', '.join(BULK_KEYS)}")
    return jsonify(bulk_change(knowledge_base(), body.get("ids"), body["changes"], user_email=who).to_dict())


@bp.post("/topics/merge")
@api_doc("Merge several topics into one (into: a topic id, or null for the first of ids); all or nothing",
         tag="backlog", body=obj({"ids": IDS, "into": {"type": ["integer", "null"]}}, required=("ids",)))
def topics_merge():  # type: ignore[no-untyped-def]
    body, who = json_body(("ids", "into"))
    into = body.get("into")
    if into is not None and (isinstance(into, bool) or not isinstance(into, int)):
        raise ValidationError("'into' must be a topic id (a whole number) or null")
    return jsonify(merge_selected(knowledge_base(), body.get("ids"), into=into, user_email=who))
