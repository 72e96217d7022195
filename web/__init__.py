"""The Flask adapter: pages and the JSON API over a :class:`kb.knowledge_base.KnowledgeBase`.

Views parse the request, call one ``kb`` function and render; no business logic lives here.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from kb.knowledge_base import KnowledgeBase

EXTENSION_KEY = "kb"


def create_app(kb: KnowledgeBase, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app around an existing knowledge base (its settings come from ``config.toml``)."""
    from web import (
        account,
        admin,
        api,
        auth,
        converters,
        errors,
        health,
        links,
        marketing,
        navigation,
        pages,
        reps,
        request_log,
        review,
        security,
        template_filters,
        usage,
    )
    from web.api_routes import import_api_routes

    app = Flask(__name__)
    converters.init_app(app)  # before any route is added
    security.configure(app, kb)
    request_log.init_app(app)  # first hooks: every request gets its id and log line, probes answer before login
    health.init_app(app)
    if test_config:
        app.config.update(test_config)
    app.extensions[EXTENSION_KEY] = kb

    errors.init_app(app)
    auth.init_app(app)
    navigation.init_app(app)
    template_filters.init_app(app)
    import_api_routes()
    for blueprint in (account.bp, pages.bp, reps.bp, links.bp, marketing.bp, usage.bp, review.bp, admin.bp, api.bp):
        app.register_blueprint(blueprint)
    return app
