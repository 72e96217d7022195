"""The JSON API behind the admin pages (routes on the `/api/v1` blueprint of :mod:`web.api`).

``/users`` (list, invite, change role or active), ``/sites`` (list, add, edit, crawl now, crawl health) and
``/settings`` (list, override one key with ``{"value": ...}``, reset it). Bodies accept only the fields a
route knows: ``id``, ``password_hash`` or ``allow_private_addresses`` are unknown fields (400), so nothing
can be mass-assigned. An invitation link is in the response that creates it and never again.
"""

from __future__ import annotations

from flask import jsonify, request, url_for

from ingest.crawler import crawl_site as run_crawl
from kb.admin_users import CHANGE_FIELDS, change_user, invite_user, reinvite_user, user_rows
from kb.crawl_jobs import start_crawl
from kb.errors import ValidationError
from kb.roles import ROLES
from kb.runtime_settings import reset_override, set_overrides, setting_row, setting_rows
from kb.site_admin import (
    CREATE_FIELDS,
    EDIT_FIELDS,
    LIST_FIELDS,
    create_site,
    edit_site,
    site_details,
    site_health,
    site_rows,
)
from web.admin import invitation_link
from web.api import bp
from web.auth import require_user
from web.context import knowledge_base
from web.json_body import json_body
from web.openapi import BOOLEAN, INTEGER, NUMBER, PAGING, STRING, api_doc, obj
from web.pagination import page_args
from web.query_args import only_params

INVITE_FIELDS = ("email", "name", "role")
STRINGS = {"type": "array", "items": {"type": "string"}}
SITE_FIELDS = {"base_url": STRING, **{name: STRINGS for name in LIST_FIELDS}, "page_budget": INTEGER,
               "delay_seconds": NUMBER, "max_depth": INTEGER}




# -- users -------------------------------------------------------------------------------------------
@bp.get("/users")
@api_doc("Users with role, state and pending invitation", tag="admin", query=PAGING)
def admin_users():  # type: ignore[no-untyped-def]
    only_params(("limit", "offset"))
    page = page_args()
    rows, total = user_rows(knowledge_base(), limit=page.limit, offset=page.offset)
    return jsonify(page.envelope("users", rows, total))


@bp.post("/users")
@api_doc("Invite a user: creates them without a password and returns a one-time invitation link (only here)",
         tag="admin", status=201, body=obj({"email": STRING, "name": STRING, "role": {"type": "string",
                                                                                  "enum": list(ROLES)}},
                                          required=("email",)))
def admin_invite():  # type: ignore[no-untyped-def]
    body, _who = json_body(INVITE_FIELDS)
    if "email" not in body:
        raise ValidationError("'email' is required")
    user, token = invite_user(knowledge_base(), body["email"], name=body.get("name", ""),
                              role=body.get("role", "rep"), invited_by=require_user().id)
    return jsonify({"user": user, "invitation_url": invitation_link(token)}), 201


@bp.post("/users/<int:user_id>/invitation")
@api_doc("A new invitation link for a user (older links stop working)", tag="admin", status=201, body=obj({}))
def admin_reinvite(user_id: int):  # type: ignore[no-untyped-def]
    json_body(())
    user, token = reinvite_user(knowledge_base(), user_id, invited_by=require_user().id)
    return jsonify({"user": user, "invitation_url": invitation_link(token)}), 201


@bp.patch("/users/<int:user_id>")
@api_doc("Change a user's role or disable/enable them (effective on their next request)", tag="admin",
         body=obj({"role": {"type": "string", "enum": list(ROLES)}, "active": BOOLEAN}))
def admin_change_user(user_id: int):  # type: ignore[no-untyped-def]
    body, _who = json_body(CHANGE_FIELDS)
    return jsonify(change_user(knowledge_base(), user_id, body))


# -- sites -------------------------------------------------------------------------------------------
@bp.get("/sites")
@api_doc("Crawl sources with their last crawl", tag="admin")
def admin_sites():  # type: ignore[no-untyped-def]
    only_params(())
    rows = site_rows(knowledge_base())
    return jsonify({"sites": rows, "count": len(rows)})


@bp.post("/sites")
@api_doc("Add a site to crawl (http(s) only)", tag="admin", status=201,
         body=obj({"name": STRING, **SITE_FIELDS}, required=("name", "base_url")))
def admin_add_site():  # type: ignore[no-untyped-def]
    body, _who = json_body(CREATE_FIELDS)
    return jsonify(create_site(knowledge_base(), body)), 201


@bp.get("/sites/<int:site_id>")
@api_doc("One site: settings, crawl runs and the running crawl job", tag="admin")
def admin_site(site_id: int):  # type: ignore[no-untyped-def]
    only_params(())
    return jsonify(site_details(knowledge_base(), site_id))


@bp.patch("/sites/<int:site_id>")
@api_doc("Edit a site added here (sites from config.toml are read-only)", tag="admin", body=obj(SITE_FIELDS))
def admin_edit_site(site_id: int):  # type: ignore[no-untyped-def]
    body, _who = json_body(EDIT_FIELDS)
    return jsonify(edit_site(knowledge_base(), site_id, body))


@bp.post("/sites/<int:site_id>/crawl")
@api_doc("Crawl the site now, in the background (409 while a crawl of it runs)", tag="admin", status=202,
         body=obj({}))
def admin_crawl_site(site_id: int):  # type: ignore[no-untyped-def]
    json_body(())
    job = start_crawl(knowledge_base(), site_id, run_crawl, started_by=require_user().email)
    status_url = url_for("api.admin_site", site_id=site_id)
    return jsonify({"crawl_job": job.to_dict(), "status_url": status_url}), 202, {"Location": status_url}


@bp.get("/sites/<int:site_id>/health")
@api_doc("Crawl health: every URL of the latest crawl with its outcome and reason", tag="admin",
         query={"outcome": STRING, **PAGING})
def admin_site_health(site_id: int):  # type: ignore[no-untyped-def]
    only_params(("outcome", "limit", "offset"))
    page = page_args()
    outcomes = [o for o in request.args.getlist("outcome") for o in o.split(",") if o]
    report = site_health(knowledge_base(), site_id, outcomes=outcomes, limit=page.limit, offset=page.offset)
    pages = report.pop("pages")
    return jsonify({**report, **page.envelope("pages", pages, report.pop("total"))})


# -- settings ----------------------------------------------------------------------------------------
@bp.get("/settings")
@api_doc("Settings that may change at run time: value, config value and source", tag="admin")
def admin_settings():  # type: ignore[no-untyped-def]
    only_params(())
    rows = setting_rows(knowledge_base())
    return jsonify({"settings": rows, "count": len(rows)})


@bp.put("/settings/<key>")
@api_doc("Override one setting (validated like config.toml)", tag="admin", body=obj({"value": {}},
                                                                                   required=("value",)))
def admin_set_setting(key: str):  # type: ignore[no-untyped-def]
    body, _who = json_body(("value",))
    if "value" not in body:
        raise ValidationError("'value' is required")
    set_overrides(knowledge_base(), {key: body["value"]}, user_id=require_user().id)
    return jsonify(setting_row(knowledge_base(), key))


@bp.delete("/settings/<key>")
@api_doc("Back to the config.toml value", tag="admin")
def admin_reset_setting(key: str):  # type: ignore[no-untyped-def]
    reset_override(knowledge_base(), key)
    return jsonify(setting_row(knowledge_base(), key))
