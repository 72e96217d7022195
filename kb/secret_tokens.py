"""The random tokens that stand for a login: sessions, API tokens and invitations.

256 bits from the OS CSPRNG, URL-safe; the database keeps only the SHA-256 (a fast hash is right here:
the token has full entropy, so there is nothing to brute-force, unlike a password).
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str = "") -> str:
    """A fresh token; ``prefix`` (e.g. ``"skb_"``) lets secret scanners and people recognise API tokens."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
