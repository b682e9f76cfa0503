"""Password hashing: argon2id hashes for ``[auth]``, ``[[oper]]`` and account passwords.

Hashing and verifying are deliberately slow (tens of milliseconds): never on the event loop thread.
A stored password is either such a hash (``$argon2...``) or, in a config file, plain text.
"""

from __future__ import annotations

import hmac

import argon2
from argon2.exceptions import Argon2Error

__all__ = ["check_password", "hash_password", "is_malformed_hash"]

_HASHER = argon2.PasswordHasher()  # argon2id with the library's recommended parameters


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, for ``[auth]`` or ``[[oper]]`` in a config.

    Deliberately slow (tens of milliseconds): never call it on the event loop thread. Raises
    ``ValueError`` for an empty password.
    """
    if not password:
        raise ValueError("refusing to hash an empty password")
    return _HASHER.hash(password)


def check_password(stored: str, given: str) -> bool:
    """True if ``given`` matches ``stored``, an argon2 hash or a plain-text password.

    Never raises and never accepts an empty password on either side. Plain text is compared in
    constant time. Verifying a hash is slow: keep it off the event loop thread.
    """
    if not stored or not given:
        return False
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, given)
        except (Argon2Error, ValueError):
            return False
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


def is_malformed_hash(value: str) -> bool:
    """True if ``value`` claims to be an argon2 hash (``$argon2...``) but cannot be one.

    A config check: such a password would otherwise be compared as plain text and never match.
    """
    if not value.startswith("$argon2"):
        return False
    try:
        argon2.extract_parameters(value)
    except (Argon2Error, ValueError):
        return True
    return False
