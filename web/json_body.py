"""Reading a write request's JSON body: only the fields a route knows, and the acting user.

The acting user is whoever is logged in (session or API token); a body cannot name someone else
(``as`` is an unknown field like any other), so every write is attributed to its real author.
"""

from __future__ import annotations

from typing import Any

from flask import request

from kb.errors import ValidationError
from web.auth import require_user


def json_body(allowed: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    """The JSON object body (only ``allowed`` keys; an empty body is ``{}``) and the caller's e-mail."""
    if (request.content_length or 0) > 0 and not request.is_json:
        raise ValidationError("the request body must be a JSON object (Content-Type: application/json)")
    body: Any = request.get_json(silent=True) if request.get_data(cache=True) else {}
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(allowed) or 'none'}")
    return body, require_user().email
