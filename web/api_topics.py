"""The JSON API for the backlog (routes on the `/api/v1` blueprint of :mod:`web.api`).

``GET /topics`` lists (query parameters as ``kb backlog``, paged), ``GET /topics/<id>`` shows, ``PATCH
/topics/<id>`` triages, ``POST /topics/<id>/notes`` adds a note, ``POST /topics/<id>/merge`` merges
into ``{"into": id}`` and ``POST /questions/<id>/move`` moves a question ``{"to": id or null}``. The
acting user of a write is the caller.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from kb.backlog import SORTS, backlog_page
from kb.errors import ValidationError
from kb.models import TOPIC_STATUSES
from kb.topic_changes import CHANGE_KEYS, add_note, change_topic
from kb.topic_merge import merge_request, move_request
from kb.topic_view import topic_details
from web.api import bp
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import BOOLEAN, INTEGER, PAGING, STRING, api_doc, obj
from web.pagination import page_args
from web.query_args import flag, only_params

LIST_PARAMS = ("status", "persona", "stage", "owner", "overdue", "sort", "limit", "offset")




def _topic_id(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"'{name}' must be a topic id (a whole number)" + (" or null" if optional else ""))
    return value


@bp.get("/topics")
@api_doc("The backlog: open topics by priority (filters as `kb backlog`)", tag="backlog",
         query={"status": {"type": "string", "description": "a status, 'open' or 'closed' (repeatable)"},
                "persona": STRING, "stage": STRING,
                "owner": {"type": "string", "description": "an e-mail, or 'none'"}, "overdue": BOOLEAN,
                "sort": {"type": "string", "enum": list(SORTS)},
                **PAGING})
def backlog_topics():  # type: ignore[no-untyped-def]
    args = request.args
    only_params(LIST_PARAMS)
    page = page_args()
    rows, total = backlog_page(knowledge_base(), status=args.getlist("status"), persona=args.get("persona"),
                               stage=args.get("stage"), owner=args.get("owner"),
                               overdue=flag("overdue"), sort=args.get("sort"),
                               limit=page.limit, offset=page.offset)
    return jsonify(page.envelope("topics", rows, total))


@bp.get("/topics/<int:topic_id>")
@api_doc("One topic: its asks, priority breakdown, suggestion, history and notes", tag="backlog")
def backlog_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(topic_details(knowledge_base(), topic_id))


@bp.patch("/topics/<int:topic_id>")
@api_doc("Triage a topic: status, owner, persona, stage, title, due date, answer", tag="backlog",
         body=obj({"status": {"type": "string", "enum": list(TOPIC_STATUSES)}, "owner": {"type": ["string", "null"]},
                   "persona": {"type": ["string", "null"]}, "stage": {"type": ["string", "null"]}, "title": STRING,
                   "due": {"type": ["string", "null"], "format": "date"}, "note": STRING,
                   "answer": {"type": ["integer", "string"]}}))
def backlog_update(topic_id: int):  # type: ignore[no-untyped-def]
    changes, who = json_body(CHANGE_KEYS)
    return jsonify(change_topic(knowledge_base(), topic_id, changes, user_email=who))


@bp.post("/topics/<int:topic_id>/notes")
@api_doc("Add a note to a topic", tag="backlog", status=201, body=obj({"text": STRING}, required=("text",)))
def backlog_note(topic_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("text",))
    return jsonify(add_note(knowledge_base(), topic_id, body.get("text"), user_email=who)), 201


@bp.post("/topics/<int:topic_id>/merge")
@api_doc("Merge this topic into another", tag="backlog", body=obj({"into": INTEGER}, required=("into",)))
def backlog_merge(topic_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("into",))
    into = _topic_id(body.get("into"), "into")
    return jsonify(merge_request(knowledge_base(), topic_id, into, user_email=who))  # type: ignore[arg-type]


@bp.post("/questions/<int:question_id>/move")
@api_doc("Move a question to another topic, or to a new one of its own (to: null)", tag="backlog",
         body=obj({"to": {"type": ["integer", "null"]}}, required=("to",)))
def backlog_move_question(question_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("to",))
    to = _topic_id(body.get("to"), "to", optional=True)
    return jsonify(move_request(knowledge_base(), question_id, to_topic_id=to, user_email=who))
