"""Admin-only pages: users and their API tokens, list settings and new lists.

Views are thin: they read a form, call ``registry.accounts.services`` or ``registry.lists.services``
(which validate, change and audit), commit on success and redirect (POST/redirect/GET). Bad input
is shown again with the messages next to the fields (422); an unknown id is a 404. A new API token
is the one exception to the redirect: it is shown in the response to the POST, once, and never put
in the session or a flash message.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from registry.accounts import services as accounts
from registry.accounts.auth import actor, requires
from registry.accounts.forms import EmptyForm
from registry.accounts.models import ApiToken, Role, User
from registry.admin import bp
from registry.admin.manage_forms import (
    ListSettingsForm,
    NewListForm,
    NewUserForm,
    PasswordResetForm,
    TokenForm,
    UserForm,
)
from registry.extensions import db
from registry.lists import services as lists
from registry.lists.models import RegisterList
from registry.timeutil import utcnow
from registry.validation import ValidationError

INVALID = 422
_MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer do not exist (and PostgreSQL refuses them)

Page = str | Response | tuple[str, int]


# --- lookups: anything unknown is a 404 --------------------------------------------------------


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id) if user_id <= _MAX_ID else None
    if user is None:
        abort(404, f"There is no user {user_id}.")
    return user


def _token_or_404(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id) if token_id <= _MAX_ID else None
    if token is None or token.user_id != user.id:
        abort(404, f"{user.email} has no API token {token_id}.")
    return token


def _list_or_404(slug: str) -> RegisterList:
    register_list = lists.get_list(db.session, slug) if len(slug) <= 64 else None
    if register_list is None:
        abort(404, f"There is no list called “{slug[:64]}”.")
    return register_list


def _is_me(user: User) -> bool:
    return bool(user.id == current_user.id)


# --- users -------------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@requires(Role.ADMIN)
def users() -> Page:
    """Every user, and a form to create one."""
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session,
                form.email.data or "",
                form.password.data or "",
                form.role.data or "",
                actor=actor(),
                now=utcnow(),
            )
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
            status = INVALID
        else:
            db.session.commit()
            flash(f"{user.email} can now sign in as {user.role} with the password you chose.", "success")
            return redirect(url_for("admin.user", user_id=user.id))
    elif form.is_submitted():
        status = INVALID
    return render_template("admin/manage/users.html", users=accounts.all_users(db.session), form=form), status


def _user_page(
    user: User,
    *,
    form: UserForm | None = None,
    password_form: PasswordResetForm | None = None,
    token_form: TokenForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The user's page; the forms not being submitted are filled from the user, not the request."""
    form = form or UserForm(
        formdata=None,
        role=user.role.value,
        active=user.active,
        second_factor_required=user.totp_required,
    )
    return render_template(
        "admin/manage/user.html",
        user=user,
        me=_is_me(user),
        form=form,
        password_form=password_form or PasswordResetForm(formdata=None),
        token_form=token_form or TokenForm(formdata=None),
        revoke_form=EmptyForm(formdata=None),
        tokens=sorted(user.tokens, key=lambda token: token.id, reverse=True),
    ), status


@bp.get("/users/<int:user_id>")
@requires(Role.ADMIN)
def user(user_id: int) -> Page:
    return _user_page(_user_or_404(user_id))


@bp.post("/users/<int:user_id>")
@requires(Role.ADMIN)
def update_user(user_id: int) -> Page:
    """Role, active, and whether a second factor is required."""
    user = _user_or_404(user_id)
    form = UserForm()
    if not form.validate():
        return _user_page(user, form=form, status=INVALID)
    role, active, required = (
        form.role.data or "",
        bool(form.active.data),
        bool(form.second_factor_required.data),
    )
    signed_out = role != user.role.value or active != user.active
    changed = signed_out or required != user.totp_required
    if not changed:
        flash("Nothing to save: that is how the account is already.", "info")
        return redirect(url_for("admin.user", user_id=user.id))
    try:
        if signed_out:
            accounts.update_user(db.session, user, role=role, active=active, actor=actor(), now=utcnow())
        accounts.set_second_factor_required(db.session, user, required, actor=actor(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _user_page(user, form=form, status=INVALID)
    db.session.commit()
    message = f"Saved {user.email}: {user.role}, {'active' if user.active else 'deactivated'}."
    if signed_out:
        message += " Their sessions are signed out."
    flash(message, "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@requires(Role.ADMIN)
def reset_password(user_id: int) -> Page:
    user = _user_or_404(user_id)
    form = PasswordResetForm()
    if _is_me(user):
        # Your own password needs your current one: an open session alone must not be enough.
        form.show_errors({"password": "Change your own password on your account page."})
        return _user_page(user, password_form=form, status=INVALID)
    if not form.validate():
        return _user_page(user, password_form=form, status=INVALID)
    try:
        accounts.set_password(db.session, user, form.password.data or "", actor=actor(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _user_page(user, password_form=form, status=INVALID)
    db.session.commit()
    flash(f"The password of {user.email} is changed and their sessions are signed out.", "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/end-sessions")
@requires(Role.ADMIN)
def end_sessions(user_id: int) -> Page:
    """Sign a user out everywhere (a lost laptop, a cookie that leaked): every session's
    identifier goes stale at once. Your own: every other session ends, this one goes on."""
    user = _user_or_404(user_id)
    if not EmptyForm().validate():
        abort(400, "The form expired; reload the page and try again.")
    accounts.end_sessions(db.session, user, actor=actor(), now=utcnow())
    db.session.commit()
    if _is_me(user):
        login_user(user)  # this session takes the new epoch; its sign-in time is kept
        flash("Your other sessions are signed out.", "success")
    else:
        flash(f"Every session of {user.email} is signed out.", "success")
    return redirect(url_for("admin.user", user_id=user.id, _anchor="sessions"))


# --- API tokens --------------------------------------------------------------------------------


@bp.post("/users/<int:user_id>/tokens")
@requires(Role.ADMIN)
def create_token(user_id: int) -> Page:
    """Create a token and show it in this response: the only time anybody sees it."""
    user = _user_or_404(user_id)
    form = TokenForm()
    if not form.validate():
        return _user_page(user, token_form=form, status=INVALID)
    token = accounts.create_token(db.session, user, form.name.data or "", actor=actor(), now=utcnow())
    db.session.commit()
    return render_template("admin/manage/token_created.html", user=user, token=token, name=form.name.data)


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
@requires(Role.ADMIN)
def revoke_token(user_id: int, token_id: int) -> Page:
    user = _user_or_404(user_id)
    token = _token_or_404(user, token_id)
    if token.revoked_at is not None:
        flash(f"The token {token.prefix}… was revoked already.", "info")
    else:
        accounts.revoke_token(db.session, token, actor=actor(), now=utcnow())
        db.session.commit()
        flash(f"The token {token.prefix}… is revoked: it no longer works.", "success")
    return redirect(url_for("admin.user", user_id=user.id, _anchor="tokens"))


# --- lists and their settings ------------------------------------------------------------------


@bp.route("/lists-settings", methods=["GET", "POST"])
@requires(Role.ADMIN)
def lists_settings() -> Page:
    """Every list with its settings, and a form to create one."""
    form = NewListForm(notice_period_days=30, objection_closes_days_before=1)
    status = 200
    if form.validate_on_submit():
        try:
            register_list = lists.create_list(
                db.session, slug=(form.slug.data or "").strip(), actor=actor(), now=utcnow(), **form.values()
            )
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
            status = INVALID
        else:
            db.session.commit()
            flash(
                f"The list “{register_list.title}” is created. It is empty until entries are published.",
                "success",
            )
            return redirect(url_for("admin.list_settings", slug=register_list.slug))
    elif form.is_submitted():
        status = INVALID
    return render_template("admin/manage/lists.html", lists=lists.all_lists(db.session), form=form), status


@bp.route("/lists-settings/<slug>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def list_settings(slug: str) -> Page:
    register_list = _list_or_404(slug)
    form = ListSettingsForm(obj=register_list)
    status = 200
    if form.validate_on_submit():
        revision = register_list.revision
        try:
            lists.update_settings(db.session, register_list, form.values(), actor=actor(), now=utcnow())
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
            status = INVALID
        else:
            db.session.commit()
            if register_list.revision == revision:
                flash("Nothing to save: these are the settings already.", "info")
            else:
                flash(f"The settings of “{register_list.title}” are saved; readers see them now.", "success")
            return redirect(url_for("admin.list_settings", slug=register_list.slug))
    elif form.is_submitted():
        status = INVALID
    return render_template("admin/manage/list_settings.html", register_list=register_list, form=form), status
