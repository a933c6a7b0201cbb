"""Signing in and out, and a user's own password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from registry.accounts import services
from registry.accounts.auth import actor
from registry.accounts.forms import EmptyForm, PasswordForm, SignInForm
from registry.accounts.passwords import verify_password
from registry.extensions import db, limiter
from registry.timeutil import utcnow
from registry.validation import ValidationError

bp = Blueprint("accounts", __name__)

SIGN_IN_FAILED = "That email address and password do not match an active account."
TOO_MANY = "Too many sign-in attempts. Please wait 15 minutes and try again."


def safe_next(target: str | None) -> str | None:
    """``next`` only to a path on this site: never another host, scheme or a protocol-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _address_key() -> str:
    return "sign-in:" + (request.form.get("email") or "").strip().lower()[:320]


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
            login_user(user)
            return redirect(safe_next(form.next.data) or url_for("admin.dashboard"))
        form.password.errors = [SIGN_IN_FAILED]
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/sign_in.html", form=form), status


@bp.post("/sign-out")
@login_required
def sign_out() -> Response:
    form = EmptyForm()
    if form.validate_on_submit():
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("accounts.sign_in"))


@bp.route("/account", methods=["GET", "POST"])
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
                login_user(current_user)
                flash("Your password is changed; other sessions are signed out.", "success")
                return redirect(url_for("accounts.account"))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/account.html", form=form), status
