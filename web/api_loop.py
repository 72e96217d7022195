"""The JSON API for closing the loop: confirm or reject a topic's suggested answer.

Routes register on the `/api/v1` blueprint of :mod:`web.api`. Until login arrives, the acting marketer
may be named as ``{"as": "email"}`` in the JSON body (an unknown e-mail is a 404).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from kb.errors import ValidationError
from kb.suggestion_decisions import decide_suggestion
from web.api import bp
from web.context import knowledge_base


def _acting_user() -> str | None:
    """The ``as`` e-mail of an optional JSON object body."""
    if not request.get_data(cache=True):
        return None
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object, e.g. {\"as\": \"marketer@example.com\"}")
    who = body.get("as")
    if who is not None and not isinstance(who, str):
        raise ValidationError("'as' must be an e-mail address")
    return who or None


@bp.post("/topics/<int:topic_id>/confirm")
def confirm_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(decide_suggestion(knowledge_base(), topic_id, "confirm", user_email=_acting_user()))


@bp.post("/topics/<int:topic_id>/reject")
def reject_topic(topic_id: int):  # type: ignore[no-untyped-def]
    return jsonify(decide_suggestion(knowledge_base(), topic_id, "reject", user_email=_acting_user()))
