"""The JSON API behind the review pages (routes on the `/api/v1` blueprint of :mod:`web.api`).

``GET /review/<week>`` is the agenda (``?top=N``), ``GET /review/<week>/items/<n>`` one agenda item as
meeting mode shows it, ``POST /review/<week>/decisions`` records a decision (body: ``topic_id``,
``decision``, ``owner``, ``note``, ``content_id``, ``merge_into``) and answers 201. The acting user is
the caller.
"""

from __future__ import annotations

from flask import jsonify, request

from kb.errors import ValidationError
from kb.models import REVIEW_DECISIONS
from kb.review_agenda import review_agenda
from kb.review_decisions import record_decision
from kb.review_meeting import review_meeting
from web.api import bp
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import INTEGER, api_doc, obj
from web.query_args import only_params

AGENDA_PARAMS = ("top",)
WEEK = {"week": {"type": "string", "pattern": r"^20([0-9]{2})-W(0[1-9]|[1-4][0-9]|5[0-2])$"}}  # W53 only in some years
TOP = {"type": "integer", "minimum": 1, "maximum": 50, "description": "open topics on the agenda"}
DECISION_FIELDS = ("topic_id", "decision", "owner", "note", "content_id", "merge_into")




@bp.get("/review/<week>")
@api_doc("The weekly review's agenda for an ISO week (e.g. 2026-W48)", tag="review",
         query={"top": TOP}, path=WEEK)
def review_week(week: str):  # type: ignore[no-untyped-def]
    only_params(AGENDA_PARAMS)
    return jsonify(review_agenda(knowledge_base(), week, top=request.args.get("top")))


@bp.get("/review/<week>/items/<int:position>")
@api_doc("One agenda item as meeting mode shows it", tag="review", query={"top": TOP}, path=WEEK)
def review_item(week: str, position: int):  # type: ignore[no-untyped-def]
    only_params(AGENDA_PARAMS)
    data = review_meeting(knowledge_base(), week, position, top=request.args.get("top"))
    return jsonify({key: value for key, value in data.items() if key != "agenda"} | {"week": data["agenda"]["week"]})


@bp.post("/review/<week>/decisions")
@api_doc("Record the meeting's decision on a topic (applied to the topic at once)", tag="review", status=201, path=WEEK,
         body=obj({"topic_id": INTEGER, "decision": {"type": "string", "enum": list(REVIEW_DECISIONS)},
                   "owner": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
                   "content_id": {"type": ["integer", "string", "null"]}, "merge_into": {"type": ["integer", "null"]}},
                  required=("topic_id", "decision")))
def review_decide(week: str):  # type: ignore[no-untyped-def]
    body, who = json_body(DECISION_FIELDS)
    topic_id = body.get("topic_id")
    if isinstance(topic_id, bool) or not isinstance(topic_id, int):
        raise ValidationError("'topic_id' must be a topic id (a whole number)")
    for name in ("decision", "owner", "note", "content_id"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise ValidationError(f"'{name}' must be text")
    decision = record_decision(knowledge_base(), week, topic_id, body.get("decision"),  # type: ignore[arg-type]
                               owner_email=body.get("owner"), note=body.get("note"),
                               content_id=body.get("content_id"), merge_into_id=body.get("merge_into"),
                               user_email=who)
    return jsonify(decision), 201
