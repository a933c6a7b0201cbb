"""Who may do what: sessions for the admin pages, bearer tokens for the API, one role check.

Protection is default-deny: the admin and API blueprints check every request before any view
runs, and a view that does not declare the role it needs is refused to everybody.

The two ways in never mix. On the ``api`` blueprint only the bearer token counts: the request's
user is set from it before anything asks, so Flask-Login never reads the session cookie there
(a signed-in admin's cookie carries no CSRF token or second factor an API request could be held
to; and a cookie left by the public pages must not hide a valid token behind the session
protection). Everywhere else only the session counts, and tokens are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response as WerkzeugResponse

from registry.accounts import services
from registry.accounts.models import ApiToken, Role, User
from registry.audit.services import Actor
from registry.database import is_busy, transaction_intent
from registry.extensions import csrf, db, login_manager
from registry.timeutil import utcnow

F = TypeVar("F", bound=Callable[..., Any])
ROLE_ATTRIBUTE = "required_role"
API_BLUEPRINT = "api"
# Seconds a request waits to record its token's use before going on without (the next one will).
TOKEN_USE_LOCK_WAIT = 1.0

# Keys of the signed session: when the user signed in and when a request was last seen (epoch
# seconds). Last-seen is written at most once a minute, so most requests send no new cookie.
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
SEEN_PRECISION = 60.0
# Flask-Login's key for the user's identifier in the session.
_USER_KEY = "_user_id"

log = logging.getLogger(__name__)


def start_session(now: datetime) -> None:
    """Stamp a session that has just been signed in to; the limits run from here."""
    session[SIGNED_IN_AT] = session[SEEN_AT] = now.timestamp()


def session_expired(started: object, seen: object, now: float, *, idle: float, lifetime: float) -> bool:
    """Whether a session stamped ``started`` and last ``seen`` (epoch seconds) is over at ``now``.

    A session without stamps (from before they existed, or forged without them) is over too.
    """
    if not isinstance(started, int | float) or not isinstance(seen, int | float):
        return True
    return now - started > lifetime or now - seen > idle


def _clock() -> datetime:
    """The time the session limits are checked against: SESSION_CLOCK if set (tests move it)."""
    clock: Callable[[], datetime] = current_app.config.get("SESSION_CLOCK") or utcnow
    return clock()


def requires(role: Role) -> Callable[[F], F]:
    """Declare the role a view needs; enforced by the blueprint's ``before_request``."""

    def mark(view: F) -> F:
        setattr(view, ROLE_ATTRIBUTE, role)
        return view

    return mark


def required_role(app: Flask, endpoint: str | None) -> Role | None:
    view = app.view_functions.get(endpoint or "")
    return getattr(view, ROLE_ATTRIBUTE, None)


def actor() -> Actor:
    """The signed-in user (or token owner) as an audit actor, with the client's address."""
    user = current_user if current_user and current_user.is_authenticated else None
    return (
        Actor(user.id, user.email, request.remote_addr)
        if user
        else Actor(None, "anonymous", request.remote_addr)
    )


def bearer_user() -> User | None:
    """The owner of the request's valid bearer token, if any; its use is recorded on the way."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = services.token_for(db.session, token.strip())
    if row is None:
        return None
    now = utcnow()
    if services.token_use_due(row, now=now):
        _record_use(row, now)
    return row.user


def _record_use(row: ApiToken, now: datetime) -> None:
    """Record the token's use in a short transaction of its own, at most once a minute.

    The read so far is ended first, so this write never upgrades a stale snapshot (on SQLite) and
    never holds the request's own work. Bookkeeping must not cost the request: a database too
    busy to record it within ``TOKEN_USE_LOCK_WAIT`` is logged and the request goes on; the next
    request records it.
    """
    token_id = row.id
    db.session.commit()  # only read so far: ends the snapshot, writes nothing
    try:
        with transaction_intent(writes=True, lock_wait=TOKEN_USE_LOCK_WAIT):
            services.record_token_use(db.session, token_id, now=now)
            db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        if not is_busy(error):
            raise
        log.warning("token %s: last use not recorded, database busy", token_id)


def register(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # The session is tied to the address and browser it started from.
    login_manager.session_protection = "strong"

    @app.before_request
    def _api_user_from_token() -> None:
        # First of the app's checks that ask who the user is: on the API the token decides,
        # before Flask-Login would look at the session cookie (or clear it as "protected").
        if request.blueprint == API_BLUEPRINT:
            login_manager._update_request_context_with_user(bearer_user())

    @app.before_request
    def _session_limits() -> WerkzeugResponse | None:
        # Before any view or blueprint check asks who the user is: an expired session is cleared
        # here, so it is never loaded at all. The API has no sessions.
        if request.blueprint == API_BLUEPRINT or _USER_KEY not in session:
            return None
        now = _clock().timestamp()
        config = current_app.config
        if session_expired(
            session.get(SIGNED_IN_AT),
            session.get(SEEN_AT),
            now,
            idle=config["SESSION_IDLE_MINUTES"] * 60,
            lifetime=config["SESSION_MAX_HOURS"] * 3600,
        ):
            session.clear()
            flash("Your session has ended. Please sign in again.", "info")
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("accounts.sign_in", next=target))
        if now - float(session[SEEN_AT]) >= SEEN_PRECISION:
            session[SEEN_AT] = now
        return None

    @login_manager.user_loader
    def load_user(identifier: str) -> User | None:
        if request.blueprint == API_BLUEPRINT:
            return None  # a session cookie never signs in to the API
        # The identifier carries the session epoch: a password or role change ends old sessions.
        user_id, _, epoch = identifier.partition(":")
        if not (user_id.isascii() and user_id.isdigit() and epoch.isascii() and epoch.isdigit()):
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_epoch != int(epoch):
            return None
        return user


def enforce_role(app: Flask) -> WerkzeugResponse | None:
    """Refuse the current request unless the user holds the role its view declares."""
    role = required_role(app, request.endpoint)
    if not current_user.is_authenticated:
        if request.blueprint == API_BLUEPRINT:
            abort(401, "Send an API token: Authorization: Bearer <token>.")
        return login_manager.unauthorized()  # redirects to sign-in with next=
    if role is None:
        abort(403, "This page has no declared role; nobody may use it.")
    if current_user.must_enrol_second_factor and request.blueprint != API_BLUEPRINT:
        return redirect(url_for("accounts.two_factor"))
    if not current_user.can(role):
        abort(403, f"This needs the {role} role.")
    return None


def guard(blueprint: Blueprint, *, check_csrf: bool) -> None:
    """Protect every route of a blueprint: the role first, then (for cookie sessions) CSRF.

    The app-wide CSRF check would run before any blueprint's, telling an editor "400 CSRF token
    missing" where the answer is "403 admins only"; so these blueprints are exempt from it and
    make the very same check here, once the role is known to be right. Responses are private.
    """
    csrf.exempt(blueprint)

    @blueprint.before_request
    def _protect() -> WerkzeugResponse | None:
        refusal = enforce_role(current_app)
        if refusal is None and check_csrf:
            csrf.protect()
        return refusal

    @blueprint.after_request
    def _private(response: WerkzeugResponse) -> WerkzeugResponse:
        # Drafts, users and the audit trail: never stored by browsers or proxies.
        response.headers["Cache-Control"] = "no-store"
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
