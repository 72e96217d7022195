"""The weekly smarketing review: the agenda of a week, meeting mode, decisions and exports.

Reps and marketers attend together, so viewing is for reps and up; recording a decision is for
marketers. Logic lives in :mod:`kb.review_agenda`, :mod:`kb.review_meeting`, :mod:`kb.review_decisions`
and :mod:`kb.review_export`; these views parse the request, call one of them and render.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.routing import BuildError

from kb.errors import ConflictError, NotFoundError, ValidationError
from kb.models import REVIEW_DECISIONS
from kb.review_agenda import review_agenda
from kb.review_decisions import DECISION_LABELS, record_decision
from kb.review_export import review_export
from kb.review_meeting import review_meeting
from kb.sparkline import HEIGHT, WIDTH, sparkline_svg
from kb.weeks import current_week as this_week
from kb.weeks import parse_week
from web.access_rules import MARKETER, allows
from web.auth import require_user
from web.context import knowledge_base

bp = Blueprint("review", __name__, url_prefix="/review")
TOPIC_PAGE = "marketing.topic"  # the backlog's topic page, linked when that page exists


def sparkline(values: Sequence[float], label: str = "", width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """The SVG trend chart; kb.sparkline builds it escape-first (the label is the only text in it)."""
    return Markup(sparkline_svg(values, label=label, width=width, height=height))  # noqa: S704  # nosec B704


def topic_url(topic_id: int) -> str | None:
    if TOPIC_PAGE not in current_app.view_functions:
        return None
    try:
        return url_for(TOPIC_PAGE, topic_id=topic_id)
    except BuildError:  # that page takes other arguments: show the title without a link rather than fail
        return None


def _context() -> dict[str, object]:
    user = require_user()
    return {"sparkline": sparkline, "topic_url": topic_url, "can_decide": allows(user.role, MARKETER),
            "decision_labels": DECISION_LABELS, "decision_kinds": REVIEW_DECISIONS}


@bp.get("/")
def current_week():  # type: ignore[no-untyped-def]
    return redirect(url_for("review.week", week=str(this_week())))


@bp.get("/<week>")
def week(week: str):  # type: ignore[no-untyped-def]
    agenda = review_agenda(knowledge_base(), week, top=request.args.get("top"))
    return render_template("review/week.html", agenda=agenda, **_context())


@bp.get("/<week>/meeting")
def meeting(week: str):  # type: ignore[no-untyped-def]
    data = review_meeting(knowledge_base(), week, request.args.get("item"), top=request.args.get("top"))
    return render_template("review/meeting.html", agenda=data["agenda"], meeting=data, **_context())


@bp.get("/<week>/print")
def print_view(week: str):  # type: ignore[no-untyped-def]
    agenda = review_agenda(knowledge_base(), week, top=request.args.get("top"))
    return render_template("review/print.html", agenda=agenda, **_context())


@bp.post("/<week>/decisions")
def record(week: str):  # type: ignore[no-untyped-def]
    """Record the form's decision, then go on to the next agenda item ("save and next") or back."""
    name = str(parse_week(week))
    form = request.form
    position = form.get("position", "")
    position = int(position) if position.isdigit() else None
    topic_id = form.get("topic_id", "")
    try:
        if not topic_id.isdigit():
            raise ValidationError("topic_id must be a topic id (a whole number)")
        record_decision(knowledge_base(), name, int(topic_id), form.get("decision", ""),
                        owner_email=form.get("owner"), note=form.get("note"), content_id=form.get("content"),
                        merge_into_id=form.get("merge_into"), user_email=require_user().email)
    except (ValidationError, ConflictError, NotFoundError) as exc:
        flash(f"Decision not saved: {exc.message}")
        if position is not None:
            return redirect(url_for("review.meeting", week=name, item=position), code=303)
        return redirect(url_for("review.week", week=name), code=303)
    flash(f"Decision saved for topic {topic_id}.")
    if position is not None:
        step = 1 if form.get("after") == "next" else 0
        return redirect(url_for("review.meeting", week=name, item=position + step), code=303)
    return redirect(url_for("review.week", week=name, _anchor=f"topic-{topic_id}"), code=303)


def _download(fmt: str, week: str) -> Response:
    export = review_export(knowledge_base(), week, fmt, top=request.args.get("top"))
    response = Response(export.text, content_type=export.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<week>.md")
def export_markdown(week: str):  # type: ignore[no-untyped-def]
    return _download("markdown", week)


@bp.get("/<week>.csv")
def export_csv(week: str):  # type: ignore[no-untyped-def]
    return _download("csv", week)
