"""The optional second factor: time-based one-time passwords (RFC 6238) and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno

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


def verify(user: User, code: str, now: datetime) -> bool:
    """Check a code for a user's enrolled secret; a code is good once (no replay)."""
    if not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def new_recovery_codes() -> tuple[list[str], list[str]]:
    """(codes to show once, their hashes to keep). 50 random bits each: a plain hash suffices."""
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    return codes, [_hash(code) for code in codes]


def use_recovery_code(user: User, code: str) -> bool:
    """Accept a recovery code once: it is removed when used."""
    digest = _hash(code)
    if digest not in (user.recovery_codes or []):
        return False
    user.recovery_codes = [kept for kept in user.recovery_codes if kept != digest]
    return True


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()
