"""The JSON API for closing the loop: confirm or reject a topic's suggested answer.

Routes register on the `/api/v1` blueprint of :mod:`web.api`; the acting marketer is the caller.
"""

from __future__ import annotations

from flask import jsonify

from kb.suggestion_decisions import decide_suggestion
from web.api import bp
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import api_doc, obj


@bp.post("/topics/<int:topic_id>/confirm")
@api_doc("Confirm a topic's suggested answer (the topic closes as answered)", tag="backlog", body=obj({}))
def confirm_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(decide_suggestion(knowledge_base(), topic_id, "confirm", user_email=json_body()[1]))


@bp.post("/topics/<int:topic_id>/reject")
@api_doc("Reject a topic's suggested answer (never suggested for it again)", tag="backlog", body=obj({}))
def reject_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(decide_suggestion(knowledge_base(), topic_id, "reject", user_email=json_body()[1]))
