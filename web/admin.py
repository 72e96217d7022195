"""Admin pages: users, sites and crawl health, and settings that may change at run time.

Every view parses the form, calls one function of :mod:`kb.admin_users`, :mod:`kb.site_admin`,
:mod:`kb.crawl_jobs` or :mod:`kb.runtime_settings`, and renders. A form the kb refuses (bad value, the last
admin, a crawl already running) renders the page again with the message and the error's status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ingest.crawler import crawl_site as run_crawl
from kb.admin_users import change_user, invite_user, reinvite_user, user_rows
from kb.crawl_jobs import start_crawl
from kb.crawl_report import OUTCOMES
from kb.errors import KBError, ValidationError
from kb.models import ROLES
from kb.runtime_settings import (
    SLA_LEVELS,
    TAG_KINDS,
    apply_runtime_settings,
    remove_tag,
    reset_override,
    save_tag,
    set_overrides,
    setting_rows,
)
from kb.site_admin import CREATE_FIELDS, EDIT_FIELDS, create_site, edit_site, site_details, site_health, site_rows
from web.auth import require_user
from web.context import knowledge_base
from web.pagination import page_args

bp = Blueprint("admin", __name__, url_prefix="/admin")
SCALAR_SETTINGS = ("questions.answer_threshold", "questions.duplicate_threshold", "backlog.high_priority",
                   "backlog.medium_priority")
MAX_FIELD = 5000


@bp.before_app_request
def use_runtime_settings() -> None:
    """Every request sees the settings admins changed, in whichever worker they changed them."""
    if request.endpoint != "static":
        apply_runtime_settings(knowledge_base())


def public_url(path: str) -> str:
    """An absolute link for people outside this request: ``web.base_url`` when set, else the request's own
    address (which Flask accepts only from ``web.trusted_hosts`` when those are set)."""
    base = knowledge_base().settings.web.base_url.strip().rstrip("/")
    return (base or request.host_url.rstrip("/")) + path


def invitation_link(token: str) -> str:
    return public_url(url_for("account.invitation", token=token))


def _form(name: str) -> str:
    return request.form.get(name, "")[:MAX_FIELD]


def _error_status(exc: KBError) -> int:
    return exc.http_status if exc.http_status in (400, 404, 409) else 400


# -- users -------------------------------------------------------------------------------------------
def _users_page(status: int = 200, *, error: str | None = None, link: dict[str, Any] | None = None,
                form: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    rows, _total = user_rows(knowledge_base())
    settings = knowledge_base().settings.web
    return render_template("admin/users.html", users=rows, roles=ROLES, error=error, link=link,
                           form=form or {}, base_url_set=bool(settings.base_url or settings.trusted_hosts)), status


@bp.get("/users")
def users():  # type: ignore[no-untyped-def]
    return _users_page()


@bp.post("/users")
def invite():  # type: ignore[no-untyped-def]
    me = require_user()
    form = {"email": _form("email")[:320], "name": _form("name")[:300], "role": _form("role") or "rep"}
    try:
        user, token = invite_user(knowledge_base(), form["email"], name=form["name"], role=form["role"],
                                  invited_by=me.id)
    except KBError as exc:
        return _users_page(_error_status(exc), error=exc.message, form=form)
    return _users_page(201, link={"email": user["email"], "url": invitation_link(token), "new": True})


@bp.post("/users/<int:user_id>/invitation")
def reinvite(user_id: int):  # type: ignore[no-untyped-def]
    me = require_user()
    try:
        user, token = reinvite_user(knowledge_base(), user_id, invited_by=me.id)
    except KBError as exc:
        return _users_page(_error_status(exc), error=exc.message)
    return _users_page(201, link={"email": user["email"], "url": invitation_link(token), "new": False})


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int):  # type: ignore[no-untyped-def]
    try:
        user = change_user(knowledge_base(), user_id, {"role": _form("role")})
    except KBError as exc:
        return _users_page(_error_status(exc), error=exc.message)
    flash(f"{user['email']} is now {user['role']}.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
def change_active(user_id: int):  # type: ignore[no-untyped-def]
    active = _form("active")
    try:
        if active not in ("0", "1"):
            raise ValidationError("active must be 0 or 1")
        user = change_user(knowledge_base(), user_id, {"active": active == "1"})
    except KBError as exc:
        return _users_page(_error_status(exc), error=exc.message)
    flash(f"{user['email']} is {'enabled' if user['active'] else 'disabled; their sessions have ended'}.")
    return redirect(url_for("admin.users"))


# -- sites -------------------------------------------------------------------------------------------
def _fields(names: tuple[str, ...]) -> dict[str, str]:
    return {name: _form(name) for name in names if name in request.form}


@bp.get("/sites")
def sites():  # type: ignore[no-untyped-def]
    return render_template("admin/sites.html", sites=site_rows(knowledge_base()), form={})


@bp.post("/sites")
def add_site():  # type: ignore[no-untyped-def]
    fields = _fields(CREATE_FIELDS)
    try:
        site = create_site(knowledge_base(), fields)
    except KBError as exc:
        return render_template("admin/sites.html", sites=site_rows(knowledge_base()), form=fields,
                               error=exc.message), _error_status(exc)
    flash(f"Site {site['name']} added. Crawl it when you are ready.")
    return redirect(url_for("admin.site", site_id=site["id"]))


def _site_page(site_id: int, status: int = 200, *, error: str | None = None,  # type: ignore[no-untyped-def]
               form: dict[str, str] | None = None):
    return render_template("admin/site.html", site=site_details(knowledge_base(), site_id), error=error,
                           form=form), status


@bp.get("/sites/<int:site_id>")
def site(site_id: int):  # type: ignore[no-untyped-def]
    return _site_page(site_id)


@bp.post("/sites/<int:site_id>", endpoint="edit_site")
def edit_site_view(site_id: int):  # type: ignore[no-untyped-def]
    fields = _fields(EDIT_FIELDS)
    try:
        edit_site(knowledge_base(), site_id, fields)
    except KBError as exc:
        if exc.http_status == 404:
            raise
        return _site_page(site_id, _error_status(exc), error=exc.message, form=fields)
    flash("Site settings saved; the next crawl uses them.")
    return redirect(url_for("admin.site", site_id=site_id))


@bp.post("/sites/<int:site_id>/crawl")
def crawl(site_id: int):  # type: ignore[no-untyped-def]
    try:
        job = start_crawl(knowledge_base(), site_id, run_crawl, started_by=require_user().email)
    except KBError as exc:
        if exc.http_status == 404:
            raise
        return _site_page(site_id, _error_status(exc), error=exc.message)
    flash(f"Crawl of {job.site} started. Refresh this page to follow it.")
    return redirect(url_for("admin.site", site_id=site_id))


@bp.get("/sites/<int:site_id>/health")
def health(site_id: int):  # type: ignore[no-untyped-def]
    outcomes = [o for o in request.args.getlist("outcome") if o]
    page = page_args()
    report = site_health(knowledge_base(), site_id, outcomes=outcomes, limit=page.limit, offset=page.offset)
    return render_template("admin/health.html", report=report, outcomes=OUTCOMES, selected=outcomes, page=page)


# -- settings ----------------------------------------------------------------------------------------
def _settings_page(status: int = 200, *, error: str | None = None):  # type: ignore[no-untyped-def]
    rows = {row["key"]: row for row in setting_rows(knowledge_base())}
    return render_template("admin/settings.html", rows=rows, scalars=SCALAR_SETTINGS, levels=SLA_LEVELS,
                           kinds=TAG_KINDS, error=error), status


@bp.get("/settings")
def settings():  # type: ignore[no-untyped-def]
    return _settings_page()


@bp.post("/settings")
def save_settings():  # type: ignore[no-untyped-def]
    values: dict[str, Any] = {key: _form(key).strip() for key in SCALAR_SETTINGS if _form(key).strip()}
    sla = {level: _form(f"backlog.sla_days.{level}").strip() for level in SLA_LEVELS}
    if any(sla.values()):
        values["backlog.sla_days"] = sla
    try:
        changed = set_overrides(knowledge_base(), values, user_id=require_user().id, skip_unchanged=True)
    except KBError as exc:
        return _settings_page(_error_status(exc), error=exc.message)
    flash(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")
    return redirect(url_for("admin.settings"))


@bp.post("/settings/reset")
def reset_setting():  # type: ignore[no-untyped-def]
    key = _form("key")
    try:
        reset_override(knowledge_base(), key)
    except KBError as exc:
        return _settings_page(_error_status(exc), error=exc.message)
    flash(f"{key} is back to its config value.")
    return redirect(url_for("admin.settings"))


@bp.post("/settings/<kind>", endpoint="save_tag")
def save_tag_view(kind: str):  # type: ignore[no-untyped-def]
    examples = [line.strip() for line in _form("examples").splitlines() if line.strip()]
    original = _form("original") or None
    try:
        save_tag(knowledge_base(), kind, original=original, name=_form("name"), description=_form("description"),
                 examples=examples, user_id=require_user().id)
    except KBError as exc:
        return _settings_page(_error_status(exc), error=exc.message)
    flash(f"{_form('name').strip()} saved; tag suggestions use it from now on.")
    return redirect(url_for("admin.settings", _anchor=kind))


@bp.post("/settings/<kind>/remove", endpoint="remove_tag")
def remove_tag_view(kind: str):  # type: ignore[no-untyped-def]
    try:
        remove_tag(knowledge_base(), kind, _form("name"), user_id=require_user().id)
    except KBError as exc:
        return _settings_page(_error_status(exc), error=exc.message)
    flash(f"{_form('name')} removed. Topics tagged with it keep the tag.")
    return redirect(url_for("admin.settings", _anchor=kind))
