"""Reading a write request's JSON body: only the fields a route knows, and the optional acting user.

Until login arrives, a write may name who makes it as ``"as": "email"`` in its body; every route that
takes a body reads it here, so an unknown field or a body that is not an object is the same 400 everywhere.
"""

from __future__ import annotations

from typing import Any

from flask import request

from kb.errors import ValidationError


def json_body(allowed: tuple[str, ...] = ()) -> tuple[dict[str, Any], str | None]:
    """The JSON object body (only ``allowed`` keys besides ``as``; an empty body is ``{}``) and its ``as`` e-mail."""
    body: Any = request.get_json(silent=True) if request.get_data(cache=True) else {}
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed) - {"as"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join((*allowed, 'as'))}")
    who = body.pop("as", None)
    if who is not None and not isinstance(who, str):
        raise ValidationError("'as' must be an e-mail address")
    return body, who or None
