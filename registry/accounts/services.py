"""Users and tokens: creating them, signing in, and checking API tokens. Callers commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from registry.accounts import totp
from registry.accounts.models import ApiToken, Role, User
from registry.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from registry.audit.services import Actor, record
from registry.security import fingerprint
from registry.validation import ValidationError, normalise_email

TOKEN_PREFIX = "prt_"  # noqa: S105  # a marker that makes leaked tokens easy to scan for, not a secret
# A token's "last used" is recorded at most this often: enough to tell live tokens from dead
# ones, without turning every API read into a write.
TOKEN_USE_PRECISION = timedelta(seconds=60)


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    session: Session, email: str, password: str, role: Role | str, *, actor: Actor, now: datetime
) -> User:
    errors: dict[str, str] = {}
    try:
        email = normalise_email(email)
    except ValidationError as error:
        errors.update(error.errors)
    else:
        if find_user(session, email) is not None:
            errors["email"] = "A user with this address exists already: open their page instead."
    problem = password_problem(password)
    if problem:
        errors["password"] = problem
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = "Choose the role editor or admin."
    if errors:
        raise ValidationError(errors)
    user = User(email=email, password_hash=hash_password(password), role=Role(role), created_at=now)
    session.add(user)
    session.flush()
    record(session, "user.create", actor, now=now, target=("user", user.id), after=user.public())
    return user


def authenticate(
    session: Session, email: str, password: str, *, ip: str | None, now: datetime
) -> User | None:
    """The user for these credentials, or None. A failure is audited; both answers take the same
    time (an unknown address is checked against a dummy hash). Success is recorded by
    ``complete_sign_in`` once any second factor is checked too."""
    user = find_user(session, email) if len(email) <= 320 else None
    valid = verify_password(user.password_hash if user else None, password[:1024])
    if user is None or not valid or not user.active:
        # The trail is kept forever, and people type passwords into the address field: what was
        # typed is never recorded. A known user is named by the account; an unknown address by
        # its keyed fingerprint, which tells repeated attempts apart and matches an address only
        # for someone who already knows it.
        if user is None:
            actor = Actor(None, f"unknown address {fingerprint(email)[:16]}", ip)
            summary = "unknown address"
        else:
            actor = Actor(user.id, user.email, ip)
            summary = "inactive" if valid else "wrong password"
        target = ("user", user.id) if user else None
        record(session, "user.sign_in_failed", actor, now=now, target=target, summary=summary)
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def complete_sign_in(session: Session, user: User, *, ip: str | None, now: datetime, method: str) -> None:
    user.last_sign_in_at = now
    record(
        session,
        "user.sign_in",
        Actor(user.id, user.email, ip),
        now=now,
        target=("user", user.id),
        summary=method,
    )


def end_sessions(
    session: Session, user: User, *, actor: Actor, now: datetime, action: str = "user.end_sessions"
) -> None:
    """End every session of ``user``: bumping the epoch makes each cookie's identifier stale, so a
    copied cookie stops working too (clearing one browser's cookie would not). ``action`` names why
    in the trail: "user.sign_out" for a user's own sign-out, else an admin's "end sessions"."""
    user.session_epoch += 1
    record(session, action, actor, now=now, target=("user", user.id))


def second_factor_failed(session: Session, user: User, *, ip: str | None, now: datetime) -> None:
    record(
        session,
        "user.second_factor_failed",
        Actor(user.id, user.email, ip),
        now=now,
        target=("user", user.id),
    )


def enable_second_factor(
    session: Session, user: User, secret: str, code: str, *, actor: Actor, now: datetime
) -> list[str]:
    """Turn on TOTP once the user proves their app has the secret; returns recovery codes to show once."""
    if totp.matching_step(secret, code, now) is None:
        raise ValidationError(
            {"code": "this code does not match; check your device's clock and try the next one"}
        )
    codes, hashes = totp.new_recovery_codes()
    user.totp_secret = secret
    user.totp_last_step = totp.matching_step(secret, code, now)
    user.recovery_codes = hashes
    user.session_epoch += 1
    record(session, "user.second_factor_enable", actor, now=now, target=("user", user.id))
    return codes


def disable_second_factor(session: Session, user: User, *, actor: Actor, now: datetime) -> None:
    if user.totp_required and actor.user_id == user.id:
        raise ValidationError({"code": "An admin requires a second factor for your account: set one up."})
    user.totp_secret = None
    user.totp_last_step = None
    user.recovery_codes = []
    user.session_epoch += 1
    record(session, "user.second_factor_disable", actor, now=now, target=("user", user.id))


def set_second_factor_required(
    session: Session, user: User, required: bool, *, actor: Actor, now: datetime
) -> None:
    if user.totp_required == required:
        return
    before = user.public()
    user.totp_required = required
    record(
        session, "user.update", actor, now=now, target=("user", user.id), before=before, after=user.public()
    )


def set_password(session: Session, user: User, password: str, *, actor: Actor, now: datetime) -> None:
    problem = password_problem(password)
    if problem:
        raise ValidationError({"password": problem})
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    record(session, "user.password_change", actor, now=now, target=("user", user.id))


def update_user(
    session: Session, user: User, *, role: Role | str, active: bool, actor: Actor, now: datetime
) -> None:
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError({"role": "Choose the role editor or admin."}) from None
    if actor.user_id == user.id and (role is not Role.ADMIN or not active):
        raise ValidationError(
            {"role": "You cannot remove your own admin rights or deactivate yourself: ask another admin."}
        )
    before = user.public()
    user.role, user.active = role, active
    user.session_epoch += 1
    record(
        session, "user.update", actor, now=now, target=("user", user.id), before=before, after=user.public()
    )


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough and lets us look them up by hash.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, *, actor: Actor, now: datetime) -> str:
    """Create a token and return it: the only time it is ever visible."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user, name=name.strip()[:100], token_hash=_token_hash(token), prefix=token[:12], created_at=now
    )
    session.add(row)
    session.flush()
    record(
        session,
        "token.create",
        actor,
        now=now,
        target=("api_token", row.id),
        summary=f"{row.prefix}… for {user.email}",
    )
    return token


def token_for(session: Session, token: str) -> ApiToken | None:
    """The valid (unrevoked, of an active user) token row for ``token``; reads only."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row


def token_use_due(row: ApiToken, *, now: datetime) -> bool:
    """Whether ``row``'s last use is old enough to be recorded again (see ``record_token_use``)."""
    return row.last_used_at is None or row.last_used_at < now - TOKEN_USE_PRECISION


def record_token_use(session: Session, token_id: int, *, now: datetime) -> bool:
    """Set the token's "last used" to ``now`` unless it was set less than a minute ago.

    One conditional UPDATE, so that two requests (or workers) at once record it once; True if
    this one did. The caller commits, in a transaction of its own: see ``accounts.auth``.
    """
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_USE_PRECISION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def revoke_token(session: Session, token: ApiToken, *, actor: Actor, now: datetime) -> None:
    token.revoked_at = now
    record(
        session, "token.revoke", actor, now=now, target=("api_token", token.id), summary=f"{token.prefix}…"
    )
