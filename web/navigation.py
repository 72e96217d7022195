"""The main navigation: which pages each role sees in the top bar.

An entry shows only when its endpoint exists and the user's role may open it, so a page registers
itself by having a row here and a rule in :mod:`web.access_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request, url_for

from web.access_rules import RULES, allows
from web.auth import current_user

# (label, endpoint, endpoint prefixes that also mark it current), in the order they appear.
NAV = (
    ("Search", "pages.search_page", ()),
    ("Ask", "reps.ask", ()),
    ("My questions", "reps.my_questions", ("reps.question",)),
    ("My links", "links.my_links", ("links.",)),
    ("Backlog", "marketing.backlog", ("marketing.topic", "marketing.content")),
    ("Coverage", "marketing.coverage", ()),
    ("Usage", "usage.scorecard_page", ("usage.",)),
    ("Review", "review.current_week", ("review.",)),
    ("Admin", "admin.users", ("admin.",)),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def nav_items() -> list[NavItem]:
    user = current_user()
    items = []
    here = request.endpoint or ""
    for label, endpoint, also in NAV:
        if endpoint not in current_app.view_functions or not allows(user.role if user else None, RULES[endpoint]):
            continue
        active = here == endpoint or any(here.startswith(prefix) for prefix in also)
        items.append(NavItem(label, url_for(endpoint), active))
    return items


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_items"] = nav_items
