"""The JSON API behind the reps pages (routes on the `/api/v1` blueprint of :mod:`web.api`).

``POST /events`` records a rep's action on a result (``kind``: copy_link, copy_passage, sent, feedback;
``content_id``; optionally ``passage_id``, ``question_id``, ``query``; feedback needs ``answers``:
true/false) and answers 201 with the event (202 with ``"recorded": false`` when the database could not
store it: the action itself still counts as done). ``POST /events/click`` records that the caller opened a
result (``content_id``; optionally ``passage_id``, ``question_id``, ``query``): the search page's and the
ask page's result links report it in the background (app.js). ``GET /my/questions`` pages the caller's questions,
``GET /notifications`` (``?unread=true``) the caller's notifications, and ``POST /notifications/read``
(``{"ids": [...]}``) marks some of them read. Everything is the caller's own: there is no way to name
another user.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from kb.errors import ValidationError
from kb.my_questions import MAX_MARK_IDS, list_my_notifications, list_my_questions, mark_notifications_read
from kb.usage_events import ACTION_FIELDS, ACTION_KINDS, record_action, record_event
from web.api import bp
from web.auth import require_user
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import BOOLEAN, ID, PAGING, STRING, api_doc, obj
from web.pagination import page_args
from web.query_args import flag, only_params

PAGE_PARAMS = ("limit", "offset")
EVENT_FIELDS = {"content_id": ID, "passage_id": ID, "question_id": ID, "query": STRING}
CLICK_FIELDS = ("content_id", "passage_id", "question_id", "query")
NOTIFICATION_PARAMS = ("unread", "limit", "offset")






@bp.post("/events")
@api_doc("Record what the caller did with a result: copied its link or passage, sent it, or judged it",
         tag="usage", status=201,
         body={"oneOf": [obj({**EVENT_FIELDS, "kind": {"enum": [k for k in ACTION_KINDS if k != "feedback"]}},
                             required=("kind", "content_id")),
                         obj({**EVENT_FIELDS, "kind": {"const": "feedback"}, "answers": BOOLEAN},
                             required=("kind", "content_id", "answers"))]})
def usage_event():  # type: ignore[no-untyped-def]
    body, _email = json_body(ACTION_FIELDS)
    event = record_action(knowledge_base(), require_user().id, body)
    return jsonify({"event": event, "recorded": event is not None}), 201 if event else 202


def _click_id(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"'{name}' must be an id (a whole number above zero)")
    return value


@bp.post("/events/click")
@api_doc("Record that the caller opened a result (what the pages' result links report in the background)",
         tag="usage", status=201, body=obj(EVENT_FIELDS, required=("content_id",)))
def usage_click():  # type: ignore[no-untyped-def]
    body, _email = json_body(CLICK_FIELDS)
    # A click is recorded by the app, not chosen by the caller like the actions above: record_event takes it
    # (and checks that the content, passage and the caller's own question exist).
    event = record_event(knowledge_base(), "click", user_id=require_user().id,
                         content_id=_click_id(body, "content_id", required=True),
                         passage_id=_click_id(body, "passage_id"), question_id=_click_id(body, "question_id"),
                         query=body.get("query"))
    return jsonify({"event": event, "recorded": event is not None}), 201 if event else 202


@bp.get("/my/questions")
@api_doc("The caller's own questions, newest first, with their status", tag="questions", query=PAGING)
def my_questions():  # type: ignore[no-untyped-def]
    only_params(PAGE_PARAMS)
    page = page_args()
    rows, total = list_my_questions(knowledge_base(), require_user().id, limit=page.limit, offset=page.offset)
    return jsonify(page.envelope("questions", rows, total))


@bp.get("/notifications")
@api_doc("The caller's notifications (content shipped for a question they asked)", tag="questions",
         query={"unread": BOOLEAN, **PAGING})
def my_notifications():  # type: ignore[no-untyped-def]
    only_params(NOTIFICATION_PARAMS)
    page = page_args()
    rows, total = list_my_notifications(knowledge_base(), require_user().id, unread_only=flag("unread"),
                                        limit=page.limit, offset=page.offset)
    return jsonify(page.envelope("notifications", rows, total))


@bp.post("/notifications/read")
@api_doc("Mark some of the caller's notifications read", tag="questions",
         body=obj({"ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_MARK_IDS}},
                  required=("ids",)))
def mark_notifications():  # type: ignore[no-untyped-def]
    body, email = json_body(("ids",))
    changed = mark_notifications_read(knowledge_base(), email, body.get("ids"))
    return jsonify({"notifications": changed, "count": len(changed)})
