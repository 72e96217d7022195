"""The JSON API for questions (routes on the `/api/v1` blueprint of :mod:`web.api`).

``POST /questions`` submits a prospect's question for the caller (JSON body: ``question``, and optionally
``persona``, ``stage``, ``company``, ``deal_stage``, ``deal_value``) and answers
201 with what answers it now or the backlog topic it was filed under (the ``kb ask --json`` object);
``GET /questions/<id>`` reads one back with its topic as it is now (a rep: only their own questions, another
rep's is a 404 as on the page; marketers and admins: any, see :mod:`kb.my_questions`). Mistakes are 400s
with a message.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for

from kb.errors import ValidationError
from kb.my_questions import viewable_question
from kb.questions import submit_json
from web.api import bp
from web.auth import require_user
from web.context import knowledge_base
from web.openapi import api_doc, obj, tag_names


@bp.post("/questions")
@api_doc("Ask a prospect's question: what answers it now, or the backlog topic it was filed under", tag="questions",
         status=201, body=obj({"question": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": r"\w"},
                               "persona": tag_names("personas"), "stage": tag_names("stages"),
                               "company": {"type": "string", "maxLength": 200},
                               "deal_stage": {"type": "string", "maxLength": 100},
                               "deal_value": {"type": "number", "minimum": 0}}, required=("question",)))
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
@api_doc("One question with its topic as it is now", tag="questions")
def question_show(question_id: int):  # type: ignore[no-untyped-def]
    user = require_user()
    return jsonify(viewable_question(knowledge_base(), question_id, user_id=user.id, role=user.role))
