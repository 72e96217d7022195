"""The JSON API behind the review pages (routes on the `/api/v1` blueprint of :mod:`web.api`)."""

from __future__ import annotations

from web.api import bp  # noqa: F401
