"""Typed exceptions of the knowledge base.

Every error a user can cause is one of these. Each carries the HTTP status and CLI exit code it maps
to, so the web layer and the CLI translate them in one place each (``web.errors`` and ``kb.cli``)
instead of guessing per call site.
"""

from __future__ import annotations


class KBError(Exception):
    """Base class: a problem the user can fix, reported as one clear line."""

    http_status = 400
    exit_code = 1
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingsError(KBError):
    """The configuration file or an environment override is invalid."""

    http_status = 500
    exit_code = 2
    code = "bad_configuration"


class ValidationError(KBError):
    """An argument or request field is invalid."""

    http_status = 400
    exit_code = 2
    code = "invalid"


class NotFoundError(KBError):
    """The requested object does not exist."""

    http_status = 404
    exit_code = 3
    code = "not_found"


class ConflictError(KBError):
    """The object already exists or the operation conflicts with current state."""

    http_status = 409
    exit_code = 4
    code = "conflict"


class IndexUnavailableError(KBError):
    """The search index cannot be used (nothing crawled yet, or the model is missing)."""

    http_status = 503
    exit_code = 5
    code = "index_unavailable"


class AuthenticationError(KBError):
    """Not logged in, or the credentials (password, session, API token) are wrong, expired or revoked."""

    http_status = 401
    exit_code = 6
    code = "unauthenticated"


class PermissionDeniedError(KBError):
    """Logged in, but the role does not allow this."""

    http_status = 403
    exit_code = 6
    code = "forbidden"


class RateLimitedError(KBError):
    """Too many attempts in a short time; ``retry_after`` says how many seconds to wait."""

    http_status = 429
    exit_code = 7
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
