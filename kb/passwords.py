"""Password hashing (argon2id) and the rules a new password must pass.

argon2-cffi's defaults (argon2id, 64 MiB, 3 passes) meet OWASP ASVS 11.4.2; a hash made with older
parameters is re-hashed at the next successful login (:func:`needs_rehash`). The rules follow NIST
SP 800-63B / ASVS 6.2: at least 8 characters, up to 128, no composition rules, nothing truncated or
case-folded, and none of the 3,000 most common passwords (zxcvbn's list, so we ship no list of our own).
"""

from __future__ import annotations

import contextlib
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_LIST_SIZE = 3000


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # ~1 MB of lists: loaded only when a password is set

    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_LIST_SIZE])


def check_password_rules(password: str, *, email: str = "") -> None:
    """Raise ValidationError naming the rule a new password breaks."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise ValidationError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"the password must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise ValidationError("this password is one of the most common ones; choose another")
    if email and lowered in {email.lower(), email.split("@")[0].lower()}:
        raise ValidationError("the password must not be your e-mail address")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing or malformed hash never matches."""
    if not password_hash:
        # Same work as a real check, so "no such user" and "wrong password" take similar time (ASVS 6.3.8).
        _burn_time(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password anyone has")


def _burn_time(password: str) -> None:
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher().verify(_dummy_hash(), password)
