"""Pages for marketers: the backlog, topic pages, the coverage heatmap and content pages.

Marketers and admins only (reps get 403): the backlog and topic pages show every rep's questions with their
prospects' companies and deal values, and the content page lists the questions each item answered, so none
of them is a rep's page (reps see their own questions under "My questions").

Every write is a plain HTML form that comes back to the page it was sent from with a message (post, redirect,
get). A mistake on the topic page (a status the topic cannot move to, a bad date) shows the page again with
the message and the status of the error (400 / 409); a bulk change reports per topic what was applied and
what was refused. Logic lives in :mod:`kb.bulk_triage`, :mod:`kb.topic_changes`, :mod:`kb.topic_merge`,
:mod:`kb.suggestion_decisions`, :mod:`kb.coverage`, :mod:`kb.content_view` and :mod:`kb.content_tags`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from kb.backlog import SORTS
from kb.bulk_triage import FORM_KEYS, backlog_screen, bulk_change, merge_selected, topic_screen, triage_from_form
from kb.content_tags import set_content_tags, tag_choices
from kb.content_view import content_details, content_page
from kb.coverage import coverage as coverage_matrix
from kb.errors import ConflictError, ValidationError
from kb.suggestion_decisions import decide_suggestion
from kb.topic_changes import add_note as add_topic_note
from kb.topic_merge import merge_request, move_request
from web.auth import require_user
from web.context import knowledge_base
from web.pagination import page_args
from web.query_args import TRUE

bp = Blueprint("marketing", __name__)

BACKLOG_FILTERS = ("status", "persona", "stage", "owner", "overdue", "sort")
BULK_FIELDS = ("status", "owner", "persona", "stage", "due")
CONTENT_FILTERS = ("kind", "persona", "stage", "status", "q")
DECISIONS = {"confirm": "Confirmed: the topic is answered and the reps who asked are told.",
             "reject": "Rejected: this content will not be suggested for the topic again."}


def _back(default: str) -> str:
    """Where a form returns to: a path on this site only (never another host), else ``default``."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return default


def _form_id(name: str, what: str, *, allow: tuple[str, ...] = ()) -> int | str:
    """A required id field of the form (or one of the words in ``allow``); anything else is a 400."""
    raw = request.form.get(name, "").strip().lower()
    if raw in allow:
        return raw
    if not raw.isdigit() or len(raw) > 18:  # 18 digits: always within a database row id
        raise ValidationError(f"{name} must be {what}")
    return int(raw)


# -- the backlog ----------------------------------------------------------------------------------
def _backlog_filters() -> dict[str, Any]:
    args = request.args
    return {"status": [s for s in args.getlist("status") if s.strip()], "persona": args.get("persona") or None,
            "stage": args.get("stage") or None, "owner": args.get("owner") or None,
            "overdue": args.get("overdue", "").strip().lower() in TRUE, "sort": args.get("sort") or None}


@bp.get("/backlog")
def backlog():  # type: ignore[no-untyped-def]
    """The backlog table: filters (GET form), sort by column header, paging, bulk actions and merge."""
    page = page_args()
    filters = _backlog_filters()
    data = backlog_screen(knowledge_base(), limit=page.limit, offset=page.offset, **filters)
    args = {k: values for k in BACKLOG_FILTERS if (values := [v for v in request.args.getlist(k) if v])}
    return render_template("marketing/backlog.html", page=page, filters=filters, args=args, sorts=SORTS, **data)


@bp.post("/backlog/bulk")
def bulk():  # type: ignore[no-untyped-def]
    """Apply the bulk form (``action``: apply or merge) to the ticked topics (``id``, repeatable)."""
    form = request.form
    ids = form.getlist("id")
    who = require_user().email
    if form.get("action", "apply") == "merge":
        result = merge_selected(knowledge_base(), ids, into=form.get("into", "").strip() or None, user_email=who)
        merged = ", ".join(f"#{topic_id}" for topic_id in result["merged"])
        flash(f"Merged {merged} into #{result['target']['id']} ({result['target']['title']}).")
    else:
        changes = {name: form[name].strip() for name in BULK_FIELDS if form.get(name, "").strip()}
        flash(bulk_change(knowledge_base(), ids, changes, user_email=who).summary())
    return redirect(_back(url_for("marketing.backlog")), code=303)


# -- one topic ------------------------------------------------------------------------------------
def _topic_page(topic_id: int, *, error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    data = topic_screen(knowledge_base(), topic_id)
    return render_template("marketing/topic.html", error=error, **data), status


@bp.get("/topics/<int:topic_id>")
def topic(topic_id: int):  # type: ignore[no-untyped-def]
    """Every ask with its context, the suggested answer, triage, notes, merge and move, and the history."""
    return _topic_page(topic_id)


def _topic_write(topic_id: int, action, done) -> Any:  # type: ignore[no-untyped-def]
    """Run a topic form's write; a mistake shows the topic page again with the message and its status."""
    try:
        result = action()
    except (ValidationError, ConflictError) as exc:
        return _topic_page(topic_id, error=exc.message, status=exc.http_status)
    flash(done(result) if callable(done) else done)
    return redirect(url_for("marketing.topic", topic_id=topic_id), code=303)


@bp.post("/topics/<int:topic_id>/triage")
def triage(topic_id: int):  # type: ignore[no-untyped-def]
    submitted = {name: request.form[name] for name in FORM_KEYS if name in request.form}
    return _topic_write(
        topic_id, lambda: triage_from_form(knowledge_base(), topic_id, submitted, user_email=require_user().email),
        lambda changed: f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")


@bp.post("/topics/<int:topic_id>/notes")
def add_note(topic_id: int):  # type: ignore[no-untyped-def]
    text = request.form.get("text", "")
    return _topic_write(topic_id, lambda: add_topic_note(knowledge_base(), topic_id, text,
                                                         user_email=require_user().email), "Note added.")


@bp.post("/topics/<int:topic_id>/suggestion")
def decide(topic_id: int):  # type: ignore[no-untyped-def]
    """Confirm or reject the topic's suggested answer (``decision``: confirm / reject)."""
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        raise ValidationError("decision must be confirm or reject")
    return _topic_write(topic_id, lambda: decide_suggestion(knowledge_base(), topic_id, decision,
                                                            user_email=require_user().email), DECISIONS[decision])


@bp.post("/topics/<int:topic_id>/merge")
def merge(topic_id: int):  # type: ignore[no-untyped-def]
    """Merge this topic into another (``into``); the page of the topic it went into follows."""
    into = _form_id("into", "the id of the topic to merge into")
    try:
        merge_request(knowledge_base(), topic_id, int(into), user_email=require_user().email)
    except (ValidationError, ConflictError) as exc:
        return _topic_page(topic_id, error=exc.message, status=exc.http_status)
    flash(f"Merged topic #{topic_id} into this one.")
    return redirect(url_for("marketing.topic", topic_id=int(into)), code=303)


@bp.post("/topics/<int:topic_id>/move")
def move_question(topic_id: int):  # type: ignore[no-untyped-def]
    """Move one of this topic's questions (``question_id``) to topic ``to``, or to a new topic (``to=new``)."""
    question_id = _form_id("question_id", "the id of the question to move")
    to = _form_id("to", "a topic id, or 'new' for a topic of its own", allow=("new",))

    def done(result: dict[str, Any]) -> str:
        return f"Moved question #{question_id} to topic #{result['to']['id']}."

    return _topic_write(topic_id, lambda: move_request(knowledge_base(), int(question_id),
                                                       to_topic_id=None if to == "new" else int(to),
                                                       user_email=require_user().email), done)


# -- coverage and content -------------------------------------------------------------------------
@bp.get("/coverage")
def coverage():  # type: ignore[no-untyped-def]
    """The persona x stage heatmap: content against open demand, each cell linking to both; ``measure``
    (content, demand, usage) switches what the colours show."""
    return render_template("marketing/coverage.html",
                           matrix=coverage_matrix(knowledge_base(), request.args.get("measure")))


@bp.get("/content")
def content_list():  # type: ignore[no-untyped-def]
    page = page_args()
    filters = {name: request.args.get(name) or None for name in CONTENT_FILTERS}
    data = content_page(knowledge_base(), limit=page.limit, offset=page.offset, **filters)
    args = {k: v for k, v in request.args.items() if k in CONTENT_FILTERS and v}
    return render_template("marketing/content_list.html", page=page, args=args, **data)


@bp.get("/content/<int:content_id>")
def content(content_id: int):  # type: ignore[no-untyped-def]
    """One content item: metadata, passages, the topics and questions it answers, and its persona/stage form."""
    kb = knowledge_base()
    return render_template("marketing/content.html", item=content_details(kb, content_id),
                           choices=tag_choices(kb.settings))


@bp.post("/content/<int:content_id>/tags")
def content_tags(content_id: int):  # type: ignore[no-untyped-def]
    """A marketer's persona and stage ("none": untagged); sticky, suggestions never replace them."""
    changes = {name: request.form[name] for name in ("persona", "stage") if name in request.form}
    set_content_tags(knowledge_base(), content_id, changes)
    flash("Saved the persona and stage.")
    return redirect(url_for("marketing.content", content_id=content_id), code=303)
