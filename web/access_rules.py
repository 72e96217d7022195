"""Who may call which route: one table, checked before every request, default deny.

Every endpoint of the app has exactly one row. A route missing from the table is refused for
everyone (and the route-matrix test fails), so adding a route without deciding its audience is
impossible. Roles are ordered: an admin may do what a marketer may, a marketer what a rep may.
"""

from __future__ import annotations

PUBLIC, REP, MARKETER, ADMIN = "public", "rep", "marketer", "admin"
LEVELS = {REP: 1, MARKETER: 2, ADMIN: 3}

RULES: dict[str, str] = {
    "static": PUBLIC,
    # accounts
    "account.login": PUBLIC,
    "account.logout": PUBLIC,  # ends a session if there is one; harmless without
    "account.invitation": PUBLIC,  # the invitation token is the credential
    "account.settings": REP,
    "account.change_password": REP,
    "account.create_token": REP,
    "account.revoke_token": REP,
    # reps (and everyone above them)
    "pages.search_page": REP,
    # JSON API
    "api.search": REP,
    "api.question_submit": REP,
    "api.question_show": REP,
    "api.backlog_topics": REP,
    "api.backlog_topic": REP,
    "api.backlog_update": MARKETER,
    "api.backlog_note": MARKETER,
    "api.backlog_merge": MARKETER,
    "api.backlog_move_question": MARKETER,
    "api.confirm_topic": MARKETER,
    "api.reject_topic": MARKETER,
    "api.me": REP,
    # -- slice: reps (web/reps.py, web/api_reps.py) --
    # -- end reps --
    # -- slice: marketing (web/marketing.py, web/api_marketing.py) --
    # -- end marketing --
    # -- slice: review (web/review.py, web/api_review.py) --
    # -- end review --
    # -- slice: admin (web/admin.py, web/api_admin.py) --
    # -- end admin --
    # -- slice: openapi --
    # -- end openapi --
}


def allows(role: str | None, required: str) -> bool:
    """Whether a user with ``role`` (None: anonymous) may use a route that requires ``required``."""
    if required == PUBLIC:
        return True
    return role is not None and LEVELS.get(role, 0) >= LEVELS[required]
