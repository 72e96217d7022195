"""Reading an API request's query string the same way everywhere: known parameters only, and flags.

An unknown parameter is a 400 naming the ones the route takes (a typo such as ``?stauts=`` must not be
silently ignored); a flag is true/false in the usual spellings and anything else is a 400.
"""

from __future__ import annotations

from flask import request

from kb.errors import ValidationError

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def only_params(allowed: tuple[str, ...]) -> None:
    """Raise ValidationError when the query string has a parameter outside ``allowed``."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown parameter {unknown[0]!r}; parameters: {', '.join(allowed) or 'none'}")


def flag(name: str) -> bool:
    """The query parameter ``name`` as a boolean (absent or empty: false)."""
    value = request.args.get(name)
    text = (value or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationError(f"{name} must be true or false, got {value!r}")
