"""Signing in and out, and a user's own password."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter import RouteLimit
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from registry.accounts import services, totp
from registry.accounts.auth import actor, start_session
from registry.accounts.forms import CodeForm, EmptyForm, PasswordForm, SignInForm
from registry.accounts.models import User
from registry.accounts.passwords import verify_password
from registry.extensions import db, limiter
from registry.security import fingerprint
from registry.timeutil import utcnow
from registry.validation import ValidationError

bp = Blueprint("accounts", __name__)

# Session keys: the user between password and code, and the secret being enrolled.
PENDING = "second_factor_pending"
PENDING_SECONDS = 300
ENROLMENT = "second_factor_enrolment"
SIGN_IN_FAILED = "That email address and password do not match an active account."
TOO_MANY = "Too many sign-in attempts. Please wait 15 minutes and try again."
TOO_MANY_TRIES = "Too many wrong attempts. Please wait 15 minutes and try again."


def safe_next(target: str | None) -> str | None:
    """``next`` only to a path on this site: never another host, scheme or a protocol-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _address_key() -> str:
    # Keyed by fingerprint: the limiter's storage (Redis in production) never holds what was typed.
    return "sign-in:" + fingerprint((request.form.get("email") or "")[:320])


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGN_IN_LIMIT_PER_IP"], methods=["POST"], error_message=TOO_MANY)
@limiter.limit(
    lambda: current_app.config["SIGN_IN_LIMIT_PER_ADDRESS"],
    key_func=_address_key,
    methods=["POST"],
    error_message=TOO_MANY,
)
def sign_in() -> Response | tuple[str, int]:
    form = SignInForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(form.next.data) or url_for("admin.dashboard"))
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(
            db.session, form.email.data or "", form.password.data or "", ip=request.remote_addr, now=utcnow()
        )
        db.session.commit()
        if user is not None:
            # A new session at sign-in: nothing from before (a fixed session id) carries over.
            session.clear()
            if user.totp_secret:
                session[PENDING] = {"id": user.id, "epoch": user.session_epoch, "at": utcnow().timestamp(),
                                    "next": safe_next(form.next.data)}  # fmt: skip
                return redirect(url_for("accounts.second_factor"))
            return _finish(user, "password", safe_next(form.next.data))
        form.password.errors = [SIGN_IN_FAILED]
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/sign_in.html", form=form), status


def _finish(user: User, method: str, next_url: str | None) -> Response:
    services.complete_sign_in(db.session, user, ip=request.remote_addr, now=utcnow(), method=method)
    db.session.commit()
    session.clear()
    login_user(user)
    start_session(utcnow())
    if user.must_enrol_second_factor:
        flash("An admin requires a second factor for your account: set it up to continue.", "warning")
        return redirect(url_for("accounts.two_factor"))
    return redirect(next_url or url_for("admin.dashboard"))


def _pending_user() -> User | None:
    """The user who passed the password step in this session, within the last few minutes."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or utcnow().timestamp() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending.get("id"))
    if user is None or not user.active or user.session_epoch != pending.get("epoch") or not user.totp_secret:
        return None
    return user


def _pending_id() -> int | None:
    pending = session.get(PENDING)
    user_id = pending.get("id") if isinstance(pending, dict) else None
    return user_id if isinstance(user_id, int) else None


def _pending_account_key() -> str:
    """The account waiting for its second factor: whoever has its password may guess codes from
    many addresses and sessions, so the code step is limited per account too. The id comes from
    the signed session, set only after a correct password, so a stranger cannot spend another
    account's allowance by naming it."""
    return f"second-factor:{_pending_id()}"


@bp.route("/sign-in/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGN_IN_LIMIT_PER_IP"], methods=["POST"], error_message=TOO_MANY)
@limiter.limit(
    lambda: current_app.config["SECOND_FACTOR_LIMIT_PER_ACCOUNT"],
    key_func=_pending_account_key,
    methods=["POST"],
    error_message=TOO_MANY,
    # Without a pending account the view only sends the visitor back to the password step.
    exempt_when=lambda: _pending_id() is None,
)
def second_factor() -> Response | tuple[str, int]:
    user = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("accounts.sign_in"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        code = form.code.data or ""
        now = utcnow()
        if totp.verify(db.session, user, code, now):
            return _finish(user, "password and one-time code", session[PENDING].get("next"))
        if totp.use_recovery_code(db.session, user, code):
            flash(f"You used a recovery code; {len(user.recovery_codes)} are left.", "warning")
            return _finish(user, "password and recovery code", session[PENDING].get("next"))
        services.second_factor_failed(db.session, user, ip=request.remote_addr, now=now)
        db.session.commit()
        form.code.errors = ["This code is not valid (or was used already). Try the next one."]
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/second_factor.html", form=form), status


def _own_account_key() -> str:
    """The signed-in account: its password and its code are checked again on its own pages, and
    a session alone (a borrowed laptop, a stolen cookie) may not guess them without end."""
    return f"account:{current_user.get_id()}"


def _failed(response: Response) -> bool:
    """Only a refused password or code counts: a person who types theirs right is never held up."""
    return response.status_code == 400


def _wrong_answers_limited(setting: str, *, exempt_when: Callable[[], bool]) -> RouteLimit:
    """The limit, per signed-in account, of the posts of a page that checks a password or code
    the person already has: the setting names how many, and only wrong answers count."""
    return limiter.limit(
        lambda: current_app.config[setting],
        key_func=_own_account_key,
        methods=["POST"],
        error_message=TOO_MANY_TRIES,
        deduct_when=_failed,
        exempt_when=exempt_when,
    )


@bp.route("/account/two-factor", methods=["GET", "POST"])
# Only turning it off checks a code the person should already have; enrolling shows the secret.
@_wrong_answers_limited(
    "SECOND_FACTOR_LIMIT_PER_ACCOUNT",
    exempt_when=lambda: not (current_user.is_authenticated and current_user.totp_secret),
)
@login_required
def two_factor() -> Response | str | tuple[str, int]:
    """Enrol (scan, then confirm a code) or turn off the second factor."""
    user: User = current_user._get_current_object()
    form = CodeForm()
    status = 200
    if user.totp_secret:
        if form.validate_on_submit():
            if not totp.verify(db.session, user, form.code.data or "", utcnow()):
                form.code.errors = [
                    "This code is not valid; to turn the second factor off, enter a current one."
                ]
                status = 400
            else:
                try:
                    services.disable_second_factor(db.session, user, actor=actor(), now=utcnow())
                except ValidationError as error:
                    form.code.errors = list(error.errors.values())
                    status = 400
                else:
                    db.session.commit()
                    login_user(user)
                    flash("The second factor is off.", "info")
                    return redirect(url_for("accounts.account"))
        return render_template("accounts/two_factor.html", form=form, enrolled=True), status

    secret = session.get(ENROLMENT) or totp.new_secret()
    session[ENROLMENT] = secret
    if form.validate_on_submit():
        try:
            codes = services.enable_second_factor(
                db.session, user, secret, form.code.data or "", actor=actor(), now=utcnow()
            )
        except ValidationError as error:
            form.code.errors = list(error.errors.values())
            status = 400
        else:
            db.session.commit()
            session.pop(ENROLMENT, None)
            login_user(user)
            # Shown in this response only: recovery codes are never stored in clear.
            return render_template("accounts/recovery_codes.html", codes=codes)
    elif request.method == "POST":
        status = 400
    uri = totp.provisioning_uri(secret, user.email, current_app.config["COMPANY_NAME"])
    return render_template(
        "accounts/two_factor.html", form=form, enrolled=False, secret=secret, qr_code=totp.qr_code(uri)
    ), status


@bp.post("/sign-out")
@login_required
def sign_out() -> Response:
    form = EmptyForm()
    if form.validate_on_submit():
        # Ends this session everywhere it was copied, not only in this browser.
        user: User = current_user._get_current_object()
        services.end_sessions(db.session, user, actor=actor(), now=utcnow(), action="user.sign_out")
        db.session.commit()
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("accounts.sign_in"))


@bp.route("/account", methods=["GET", "POST"])
@_wrong_answers_limited("SIGN_IN_LIMIT_PER_ADDRESS", exempt_when=lambda: not current_user.is_authenticated)
@login_required
def account() -> Response | tuple[str, int]:
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current.data or ""):
            form.current.errors = ["This is not your current password."]
            status = 400
        else:
            try:
                services.set_password(
                    db.session, current_user, form.new.data or "", actor=actor(), now=utcnow()
                )
            except ValidationError as error:
                form.new.errors = [error.errors["password"]]
                status = 400
            else:
                db.session.commit()
                # The epoch changed, ending every other session; this one signs in afresh.
                login_user(current_user._get_current_object())
                flash("Your password is changed; other sessions are signed out.", "success")
                return redirect(url_for("accounts.account"))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/account.html", form=form), status
