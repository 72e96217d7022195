"""The modules that add routes to the ``/api/v1`` blueprint, one per area of the product.

Each imports ``web.api.bp`` and decorates its views; importing them here (before the blueprint is
registered) is what puts their routes into the app.
"""

from __future__ import annotations

import importlib

API_MODULES = ("api_questions", "api_topics", "api_loop", "api_reps", "api_marketing", "api_review", "api_admin",
               "api_links", "api_usage")


def import_api_routes() -> None:
    for name in API_MODULES:
        importlib.import_module(f"web.{name}")
