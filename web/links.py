"""Tracked links: the public ``/l/<token>`` redirect a prospect follows, and the reps' "My links" pages.

``/l/<token>`` answers 302 to the stored destination (an answer pack: its small landing page), with
``Cache-Control: no-store`` (every open reaches us; 302 is never cached like a 301 would be) and
``Referrer-Policy: no-referrer`` (the token never leaks to the destination). Anything wrong is the
same generic 404 page. The rules (what counts, bots, the site check) live in :mod:`kb.link_visits`.

The rep pages are plain forms: "Tracked link" on a search result or an answer opens the form for that
content (optionally at the passage's second), "Answer pack" on a question the form for its matches;
creating shows the link with a copy button; "My links" lists them with their opens, and revokes.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from kb.errors import ValidationError
from kb.link_visits import Visitor, open_link
from kb.tracked_links import LINK_PATH, create_link, create_pack, link_form, list_links, revoke_link
from web.auth import require_user
from web.context import knowledge_base
from web.pagination import page_args

bp = Blueprint("links", __name__)

PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


@bp.after_app_request
def link_headers(response):  # type: ignore[no-untyped-def]
    """Every answer under /l/ (redirect, pack page, any 404) is uncacheable, unindexed and sends no Referer."""
    if request.path.startswith(LINK_PATH):
        response.headers.update(PUBLIC_HEADERS)
    return response


def _visitor() -> Visitor:
    # remote_addr is the proxy's client address when web.behind_proxy is on (ProxyFix), else the peer.
    return Visitor(address=request.remote_addr, user_agent=request.headers.get("User-Agent", ""),
                   method=request.method)


def _answer(opening, token: str):  # type: ignore[no-untyped-def]
    if opening.destination is not None:
        return redirect(opening.destination, code=302)
    return render_template("links/pack.html", title=opening.pack_title, items=opening.pack_items, token=token)


@bp.get("/l/<token>")
def follow(token: str):  # type: ignore[no-untyped-def]
    """A prospect follows a tracked link (query parameters are ignored: the destination is stored)."""
    opening = open_link(knowledge_base(), token, _visitor(), secret=current_app.secret_key)
    return _answer(opening, token)


@bp.get("/l/<token>/<int:item>")
def follow_item(token: str, item: int):  # type: ignore[no-untyped-def]
    """A prospect opens one item of an answer pack from its landing page."""
    opening = open_link(knowledge_base(), token, _visitor(), secret=current_app.secret_key, item=item)
    return _answer(opening, token)


def _base() -> str:
    return request.host_url.rstrip("/")


@bp.get("/my/links")
def my_links():  # type: ignore[no-untyped-def]
    """The caller's tracked links, newest first, with when the prospect opened them."""
    page = page_args()
    links, total = list_links(knowledge_base(), require_user().id, limit=page.limit, offset=page.offset,
                              base_url=_base())
    return render_template("links/my_links.html", links=links, total=total, page=page,
                           config_window=knowledge_base().settings.links.visit_window_minutes)


def _int_arg(source, name: str) -> int | None:  # type: ignore[no-untyped-def]
    raw = (source.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError(f"{name} must be an id (a whole number)")
    return int(raw)


@bp.get("/my/links/new")
def new_link():  # type: ignore[no-untyped-def]
    """The form for a link to one content item (``?content_id=&at=``) or a question's answer pack
    (``?question_id=``)."""
    form = link_form(knowledge_base(), require_user().id, content_id=_int_arg(request.args, "content_id"),
                     at_seconds=request.args.get("at"), question_id=_int_arg(request.args, "question_id"))
    return render_template("links/new.html", form=form, values={})


def _pack_items() -> list[dict[str, object]]:
    """The ticked items of a pack form: ``item`` values ``CONTENT_ID`` or ``CONTENT_ID@SECONDS``."""
    items = []
    for raw in request.form.getlist("item"):
        content, _, at = raw.strip().partition("@")
        if not content.isdigit():
            raise ValidationError("each item must be a content id")
        items.append({"content_id": int(content), **({"at": at} if at else {})})
    return items


@bp.post("/my/links")
def create():  # type: ignore[no-untyped-def]
    """Make a link (form fields ``content_id``, ``at``, ``label``) or a pack (``question_id``, ``item``s,
    ``label``) and show it with a copy button."""
    user = require_user()
    question_id = _int_arg(request.form, "question_id")
    label = request.form.get("label", "")
    if question_id is not None:
        link = create_pack(knowledge_base(), user.id, _pack_items(), question_id=question_id, label=label,
                           base_url=_base())
    else:
        link = create_link(knowledge_base(), user.id, content_id=_int_arg(request.form, "content_id"),
                           at_seconds=request.form.get("at"), label=label, base_url=_base())
    return render_template("links/created.html", link=link), 201


@bp.post("/my/links/<int:link_id>/revoke")
def revoke(link_id: int):  # type: ignore[no-untyped-def]
    """Stop one of the caller's links: it answers 404 from now on."""
    link = revoke_link(knowledge_base(), require_user().id, link_id, base_url=_base())
    flash(f"Revoked the link{' for ' + link['label'] if link['label'] else ''}: it no longer opens.")
    return redirect(url_for("links.my_links"))
