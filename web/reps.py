"""Pages for reps: ask a prospect question, my questions and notifications, and the actions on search results."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reps", __name__)
