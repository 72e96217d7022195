"""The JSON API for questions (routes on the `/api/v1` blueprint of :mod:`web.api`).

``POST /questions`` submits a prospect's question for the caller (JSON body: ``question``, and optionally
``persona``, ``stage``, ``company``, ``deal_stage``, ``deal_value``) and answers
201 with what answers it now or the backlog topic it was filed under (the ``kb ask --json`` object);
``GET /questions/<id>`` reads one back with its topic as it is now. Mistakes are 400s with a message.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for

from kb.errors import ValidationError
from kb.question_results import get_question
from kb.questions import submit_json
from web.api import bp
from web.auth import require_user
from web.context import knowledge_base


@bp.post("/questions")
def question_submit():  # type: ignore[no-untyped-def]
    body: Any = request.get_json(silent=True)
    if isinstance(body, dict):
        if "as" in body:
            raise ValidationError("unknown field 'as': a question is asked by whoever is logged in")
        body = {**body, "as": require_user().email}
    result = submit_json(knowledge_base(), body)
    response = jsonify(result.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("api.question_show", question_id=result.question_id)
    return response


@bp.get("/questions/<int:question_id>")
def question_show(question_id: int):  # type: ignore[no-untyped-def]
    return jsonify(get_question(knowledge_base(), question_id).to_dict())
