"""Admin pages: users, sites and crawl health, and settings that may change at run time."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
