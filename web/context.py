"""Access to the knowledge base of the running app."""

from __future__ import annotations

from flask import current_app

from kb.knowledge_base import KnowledgeBase


def knowledge_base() -> KnowledgeBase:
    return current_app.extensions["kb"]
