"""The weekly smarketing review: the agenda of a week, meeting mode, decisions and exports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")
