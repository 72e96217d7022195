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
    "reps.ask": REP,
    "reps.my_questions": REP,
    "reps.question": REP,  # a rep sees their own questions only (404 otherwise); marketer+ any
    "reps.mark_read": REP,
    "reps.record_event": REP,
    "api.usage_event": REP,
    "api.my_questions": REP,
    "api.my_notifications": REP,
    "api.mark_notifications": REP,
    # -- end reps --
    # -- slice: marketing (web/marketing.py, web/api_marketing.py) --
    # Marketer and up only: these pages show every rep's questions with prospect companies and deal values
    # (reps see their own under My questions); the content pages list the questions each item answered.
    "marketing.backlog": MARKETER,
    "marketing.bulk": MARKETER,
    "marketing.topic": MARKETER,
    "marketing.triage": MARKETER,
    "marketing.add_note": MARKETER,
    "marketing.decide": MARKETER,
    "marketing.merge": MARKETER,
    "marketing.move_question": MARKETER,
    "marketing.coverage": MARKETER,
    "marketing.content_list": MARKETER,
    "marketing.content": MARKETER,
    "marketing.content_tags": MARKETER,
    "api.coverage": MARKETER,
    "api.content_list": MARKETER,
    "api.content_item": MARKETER,
    "api.content_update": MARKETER,
    "api.topics_bulk": MARKETER,
    "api.topics_merge": MARKETER,
    # -- end marketing --
    # -- slice: review (web/review.py, web/api_review.py) --
    # both teams attend the review: reps view it (agenda, meeting mode, exports, print); marketers decide
    "review.current_week": REP,
    "review.week": REP,
    "review.meeting": REP,
    "review.print_view": REP,
    "review.export_markdown": REP,
    "review.export_csv": REP,
    "review.record": MARKETER,
    "api.review_week": REP,
    "api.review_item": REP,
    "api.review_decide": MARKETER,
    # -- end review --
    # -- slice: admin (web/admin.py, web/api_admin.py) --
    "admin.users": ADMIN,
    "admin.invite": ADMIN,
    "admin.reinvite": ADMIN,
    "admin.change_role": ADMIN,
    "admin.change_active": ADMIN,
    "admin.sites": ADMIN,
    "admin.add_site": ADMIN,
    "admin.site": ADMIN,
    "admin.edit_site": ADMIN,
    "admin.crawl": ADMIN,
    "admin.health": ADMIN,
    "admin.settings": ADMIN,
    "admin.save_settings": ADMIN,
    "admin.reset_setting": ADMIN,
    "admin.save_tag": ADMIN,
    "admin.remove_tag": ADMIN,
    "api.admin_users": ADMIN,
    "api.admin_invite": ADMIN,
    "api.admin_reinvite": ADMIN,
    "api.admin_change_user": ADMIN,
    "api.admin_sites": ADMIN,
    "api.admin_add_site": ADMIN,
    "api.admin_site": ADMIN,
    "api.admin_edit_site": ADMIN,
    "api.admin_crawl_site": ADMIN,
    "api.admin_site_health": ADMIN,
    "api.admin_settings": ADMIN,
    "api.admin_set_setting": ADMIN,
    "api.admin_reset_setting": ADMIN,
    # -- end admin --
    # -- issue 8: health and readiness probes (web/health.py); answered before the login check --
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    # -- end issue 8 probes --
    # -- issue 7: tracked links for prospects (web/links.py, web/api_links.py) --
    "links.follow": PUBLIC,  # the prospect's /l/<token>: the random token is the only key
    "links.follow_item": PUBLIC,  # one item of an answer pack, from its landing page
    "links.my_links": REP,  # every list and change is the caller's own links (another's: 404)
    "links.new_link": REP,
    "links.create": REP,
    "links.revoke": REP,
    "api.links_list": REP,
    "api.links_create": REP,
    "api.links_show": REP,
    "api.links_revoke": REP,
    # -- end issue 7 links --
    # -- issue 7: usage reports (web/usage.py, web/api_usage.py): marketer and up; the leaderboard names reps --
    "usage.scorecard_page": MARKETER,
    "usage.unused_page": MARKETER,
    "usage.stale_page": MARKETER,
    "usage.top_page": MARKETER,
    "usage.leaderboard_page": MARKETER,
    "api.usage_scorecard": MARKETER,
    "api.usage_unused": MARKETER,
    "api.usage_stale": MARKETER,
    "api.usage_top": MARKETER,
    "api.usage_leaderboard": MARKETER,
    "api.usage_click": REP,  # a rep's own click on a result (the search and ask pages' links report it)
    # -- end issue 7 usage --
    # -- slice: openapi --
    "api.openapi": PUBLIC,
    # -- end openapi --
}


def allows(role: str | None, required: str) -> bool:
    """Whether a user with ``role`` (None: anonymous) may use a route that requires ``required``."""
    if required == PUBLIC:
        return True
    return role is not None and LEVELS.get(role, 0) >= LEVELS[required]
