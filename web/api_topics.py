"""The JSON API for the backlog (routes on the `/api/v1` blueprint of :mod:`web.api`).

``GET /topics`` lists (query parameters as ``kb backlog``), ``GET /topics/<id>`` shows, ``PATCH
/topics/<id>`` triages, ``POST /topics/<id>/notes`` adds a note, ``POST /topics/<id>/merge`` merges
into ``{"into": id}`` and ``POST /questions/<id>/move`` moves a question ``{"to": id or null}``. The
acting user of a write is the caller.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from kb.backlog import backlog_rows
from kb.errors import ValidationError
from kb.topic_changes import CHANGE_KEYS, add_note, change_topic
from kb.topic_merge import merge_request, move_request
from kb.topic_view import topic_details
from web.api import bp
from web.context import knowledge_base
from web.json_body import json_body

LIST_PARAMS = ("status", "persona", "stage", "owner", "overdue", "sort", "limit")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{name} must be true or false, got {value!r}")


def _topic_id(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"'{name}' must be a topic id (a whole number)" + (" or null" if optional else ""))
    return value


@bp.get("/topics")
def backlog_topics():  # type: ignore[no-untyped-def]
    args = request.args
    unknown = sorted(set(args) - set(LIST_PARAMS))
    if unknown:
        raise ValidationError(f"unknown parameter {unknown[0]!r}; parameters: {', '.join(LIST_PARAMS)}")
    rows = backlog_rows(knowledge_base(), status=args.getlist("status"), persona=args.get("persona"),
                        stage=args.get("stage"), owner=args.get("owner"),
                        overdue=_flag(args.get("overdue"), "overdue"), sort=args.get("sort"),
                        limit=args.get("limit"))
    return jsonify({"topics": rows, "count": len(rows)})


@bp.get("/topics/<int:topic_id>")
def backlog_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(topic_details(knowledge_base(), topic_id))


@bp.patch("/topics/<int:topic_id>")
def backlog_update(topic_id: int):  # type: ignore[no-untyped-def]
    changes, who = json_body(CHANGE_KEYS)
    return jsonify(change_topic(knowledge_base(), topic_id, changes, user_email=who))


@bp.post("/topics/<int:topic_id>/notes")
def backlog_note(topic_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("text",))
    return jsonify(add_note(knowledge_base(), topic_id, body.get("text"), user_email=who)), 201


@bp.post("/topics/<int:topic_id>/merge")
def backlog_merge(topic_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("into",))
    into = _topic_id(body.get("into"), "into")
    return jsonify(merge_request(knowledge_base(), topic_id, into, user_email=who))  # type: ignore[arg-type]


@bp.post("/questions/<int:question_id>/move")
def backlog_move_question(question_id: int):  # type: ignore[no-untyped-def]
    body, who = json_body(("to",))
    to = _topic_id(body.get("to"), "to", optional=True)
    return jsonify(move_request(knowledge_base(), question_id, to_topic_id=to, user_email=who))
