"""The main navigation: which pages each role sees in the top bar.

An entry shows only when its endpoint exists and the user's role may open it, so a page registers
itself by having a row here and a rule in :mod:`web.access_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request, url_for

from web.access_rules import RULES, allows
from web.auth import current_user

# (label, endpoint), in the order they appear.
NAV = (
    ("Search", "pages.search_page"),
    ("Ask", "reps.ask"),
    ("My questions", "reps.my_questions"),
    ("Backlog", "marketing.backlog"),
    ("Coverage", "marketing.coverage"),
    ("Review", "review.current_week"),
    ("Admin", "admin.users"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def nav_items() -> list[NavItem]:
    user = current_user()
    items = []
    for label, endpoint in NAV:
        if endpoint not in current_app.view_functions or not allows(user.role if user else None, RULES[endpoint]):
            continue
        prefix = endpoint.split(".")[0]
        active = request.endpoint == endpoint or (prefix not in ("pages", "reps") and
                                                  (request.endpoint or "").startswith(prefix + "."))
        items.append(NavItem(label, url_for(endpoint), active))
    return items


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_items"] = nav_items
