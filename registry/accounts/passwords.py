"""Password hashing with argon2id, at a cost the configuration sets.

The cost is three settings (``PASSWORD_HASH_TIME_COST``, ``PASSWORD_HASH_MEMORY_COST`` in KiB,
``PASSWORD_HASH_PARALLELISM``) whose defaults are argon2-cffi's, RFC 9106's low-memory profile:
production keeps them, the tests choose argon2's cheapest so that signing in costs them nothing.
A stored hash names its own parameters, so changing them later rehashes each password at its
owner's next sign-in (``needs_rehash``). Nothing is hashed at import.
"""

from __future__ import annotations

import base64
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 1024

Cost = tuple[int, int, int]  # time cost, memory cost (KiB), parallelism


def _cost() -> Cost:
    config = current_app.config
    return (
        config["PASSWORD_HASH_TIME_COST"],
        config["PASSWORD_HASH_MEMORY_COST"],
        config["PASSWORD_HASH_PARALLELISM"],
    )


@cache
def _hasher(cost: Cost) -> PasswordHasher:
    time_cost, memory_cost, parallelism = cost
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


@cache
def _dummy_hash(cost: Cost) -> str:
    """Verified against when the address is unknown, so that both answers take the same time.

    Not hashed from anything: random bytes in the form of a hash of this cost (argon2id, the same
    parameters, salt and digest lengths). Verifying recomputes a hash at the cost the string
    names and compares, so it costs what verifying a real password costs; and as nothing is
    hashed to make it, the first sign-in of an unknown address takes no longer than the next
    ones (a hash made on first need would add a whole hash to that first answer).
    """
    hasher = _hasher(cost)
    time_cost, memory_cost, parallelism = cost

    def encoded(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")

    return (
        f"$argon2id$v={ARGON2_VERSION}$m={memory_cost},t={time_cost},p={parallelism}"
        f"${encoded(hasher.salt_len)}${encoded(hasher.hash_len)}"
    )


def hash_password(password: str) -> str:
    return _hasher(_cost()).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    cost = _cost()
    try:
        return (
            _hasher(cost).verify(password_hash or _dummy_hash(cost), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher(_cost()).check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length is what matters (NIST SP 800-63B)."""
    if len(password) < MIN_LENGTH:
        return f"Choose a password of at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Choose a password of at most {MAX_LENGTH} characters."
    return None
