"""The ``transcripts`` site setting: URL templates of caption files no page links to, and their check.

Lives in ``kb`` because the site settings are checked here (config.toml and the admin site form); the
crawler fills the templates in (:mod:`ingest.transcript_locations`, which documents the placeholders).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["PLACEHOLDERS", "check_template"]

PLACEHOLDERS = ("slug", "path", "id")
_FIELD = re.compile(r"\{([^{}]*)\}")


def check_template(template: str) -> str | None:
    """Why ``template`` is not usable (unknown placeholder, none at all, not http(s) or a path), or None."""
    names = _FIELD.findall(template)
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
    if not names:
        return "needs a placeholder such as {slug} or {id}, or every page would get the same transcript"
    scheme = urlsplit(template.replace("{", "").replace("}", "")).scheme
    if scheme not in ("", "http", "https") or (not scheme and not template.startswith("/")):
        return "must be an http(s) URL or a path starting with /"
    return None
