"""Pages for reps: ask a prospect question, my questions and notifications, and the actions on search results.

Every write here is a plain HTML form (it works without JavaScript: post, then back to the page with a
message); forms marked ``data-async`` are sent by app.js with ``Accept: application/json`` and get JSON.
The acting user is always the logged-in user. Someone else's question is a 404 (see kb.my_questions).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from kb.errors import ValidationError
from kb.my_questions import mark_notifications_read, my_questions_page, viewable_question
from kb.question_input import QuestionInput
from kb.questions import submit_question
from kb.usage_events import record_action
from web.auth import require_user
from web.context import knowledge_base
from web.pagination import page_args

bp = Blueprint("reps", __name__)

ASK_FIELDS = ("question", "persona", "stage", "company", "deal_stage", "deal_value")
EVENT_ID_FIELDS = ("content_id", "passage_id", "question_id")
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
EVENT_DONE = {"sent": "Noted: you sent this.", "feedback": "Thanks: your feedback is recorded.",
              "copy_link": "Copied.", "copy_passage": "Copied."}


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _back(default: str) -> str:
    """Where a form returns to: a path on this site only (never another host), else ``default``."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return default


def _form_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError(f"{name} must be an id (a whole number)")
    return int(raw)


def _ask_options() -> dict[str, Any]:
    settings = knowledge_base().settings
    return {"personas": [tag.name for tag in settings.personas], "stages": [tag.name for tag in settings.stages],
            "max_chars": settings.questions.max_chars}


@bp.route("/ask", methods=["GET", "POST"])
def ask():  # type: ignore[no-untyped-def]
    """The ask form; a POST files the question and shows at once what answers it, or that it is a gap."""
    if request.method == "GET":
        return render_template("reps/ask.html", values={}, **_ask_options())
    values = {name: request.form.get(name, "") for name in ASK_FIELDS}
    question = QuestionInput(
        text=values["question"], asked_by=require_user().email, persona=values["persona"] or None,
        stage=values["stage"] or None, company=values["company"] or None, deal_stage=values["deal_stage"] or None,
        deal_value=values["deal_value"].strip() or None, source="web",
    )
    try:
        result = submit_question(knowledge_base(), question)
    except ValidationError as exc:
        return render_template("reps/ask.html", values=values, error=exc.message, **_ask_options()), 400
    return render_template("reps/ask.html", values={}, result=result.to_dict(), **_ask_options())


@bp.get("/my/questions")
def my_questions():  # type: ignore[no-untyped-def]
    """The caller's questions with what became of them, and their latest notifications."""
    page = page_args()
    data = my_questions_page(knowledge_base(), require_user().id, limit=page.limit, offset=page.offset)
    return render_template("reps/my_questions.html", page=page, **data)


@bp.get("/my/questions/<int:question_id>")
def question(question_id: int):  # type: ignore[no-untyped-def]
    """One question as it was answered, with its topic as it is now (reps: their own only)."""
    user = require_user()
    result = viewable_question(knowledge_base(), question_id, user_id=user.id, role=user.role)
    return render_template("reps/question.html", result=result)


@bp.post("/my/notifications/read")
def mark_read():  # type: ignore[no-untyped-def]
    """Mark notifications read: form fields ``id`` (repeatable)."""
    ids = [_id for _id in (raw.strip() for raw in request.form.getlist("id")) if _id]
    if any(not raw.isdigit() for raw in ids):
        raise ValidationError("id must be a notification id (a whole number)")
    changed = mark_notifications_read(knowledge_base(), require_user().email, [int(raw) for raw in ids])
    if _wants_json():
        return jsonify({"notifications": changed, "count": len(changed)})
    flash(f"Marked {len(changed)} notification{'' if len(changed) == 1 else 's'} read.")
    return redirect(url_for("reps.my_questions"))


@bp.post("/events")
def record_event():  # type: ignore[no-untyped-def]
    """"I sent this" and "answers it / doesn't" from a result: form fields ``kind``, ``content_id``,
    ``passage_id``, ``question_id``, ``query``, ``answers`` (feedback: yes/no) and ``next`` (where to return)."""
    body: dict[str, Any] = {"kind": request.form.get("kind", "")}
    for name in EVENT_ID_FIELDS:
        value = _form_id(name)
        if value is not None:
            body[name] = value
    if request.form.get("query"):
        body["query"] = request.form["query"]
    answers = request.form.get("answers", "").strip().lower()
    if answers:
        if answers not in _YES + _NO:
            raise ValidationError("answers must be yes or no")
        body["answers"] = answers in _YES
    event = record_action(knowledge_base(), require_user().id, body)
    if _wants_json():
        return jsonify({"event": event, "recorded": event is not None}), 201 if event else 202
    flash(EVENT_DONE.get(body["kind"], "Noted.") if event else "Noted, but it could not be saved just now.")
    return redirect(_back(url_for("pages.search_page")))
