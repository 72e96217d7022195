"""Pages for marketers: the backlog, topic pages, the coverage heatmap and content pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("marketing", __name__)
