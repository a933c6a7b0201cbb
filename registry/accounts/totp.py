"""The optional second factor: time-based one-time passwords (RFC 6238) and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.orm import Session

from registry.accounts.models import User

RECOVERY_CODES = 10
# A code is accepted in the 30-second step before and after the server's, for clock drift.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_code(uri: str) -> str:
    """The enrolment QR code as a data: URI (an <img>; no inline SVG or script for the CSP)."""
    import segno  # imported by the enrolment page alone, not at each start (5 ms)

    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step ``code`` belongs to (within the allowed drift), or None."""
    code = _clean(code)
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(session: Session, user: User, code: str, now: datetime) -> bool:
    """Check a code for a user's enrolled secret and spend it: a code is good once (no replay).

    Spent with a compare-and-set in the database, not by reading ``totp_last_step`` and writing it
    back: two requests with the same code at once both read the old step, and both would pass.
    The conditional UPDATE lets only one of them move the step forward (PostgreSQL re-checks the
    condition on the row the other one committed; SQLite runs the two one after the other).
    """
    if not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code, now)
    if step is None:
        return False
    result = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["totp_last_step"])
    return getattr(result, "rowcount", 0) == 1


def new_recovery_codes() -> tuple[list[str], list[str]]:
    """(codes to show once, their hashes to keep). 50 random bits each: a plain hash suffices."""
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    return codes, [_hash(code) for code in codes]


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Accept a recovery code once: it is removed when used, by a compare-and-set.

    The list is written back only if it is still exactly the one read (compared as text:
    PostgreSQL's ``json`` has no equality), so of two requests at once, with the same code or with
    two different ones, the second finds it changed and fails instead of restoring a spent code.
    """
    digest = _hash(code)
    stored_as_text = cast(User.recovery_codes, Text)
    read = session.scalar(select(stored_as_text).where(User.id == user.id))
    kept: list[str] = json.loads(read) if read else []
    if digest not in kept:
        return False
    result = session.execute(
        update(User)
        .where(User.id == user.id, stored_as_text == read)
        .values(recovery_codes=[other for other in kept if other != digest])
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["recovery_codes"])
    return getattr(result, "rowcount", 0) == 1


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()
