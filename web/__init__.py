"""The Flask adapter: pages and the JSON API over a :class:`kb.knowledge_base.KnowledgeBase`.

Views parse the request, call one ``kb`` function and render; no business logic lives here.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask

from kb.knowledge_base import KnowledgeBase

EXTENSION_KEY = "kb"


def create_app(kb: KnowledgeBase, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app around an existing knowledge base (its settings come from ``config.toml``)."""
    app = Flask(__name__)
    app.config.from_mapping(
        # Secrets only from the environment; without one, sessions last as long as the process.
        SECRET_KEY=kb.settings.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions[EXTENSION_KEY] = kb

    from web import api, api_loop, api_questions, api_topics, errors, pages  # noqa: F401  (route registration)

    errors.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    return app
