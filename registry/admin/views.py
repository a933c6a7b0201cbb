"""Admin pages. Every route here needs a signed-in user with the role its view declares (see
``registry.accounts.auth``): protection is checked before any view runs, so a new page without
a declared role is refused to everybody."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from registry.accounts.auth import enforce_role, requires
from registry.accounts.models import Role
from registry.extensions import db
from registry.lists import services

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _protect() -> object:
    return enforce_role(current_app)


@bp.after_request
def _private(response):  # type: ignore[no-untyped-def]
    # Admin pages hold drafts and personal data: never stored by browsers or proxies.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@requires(Role.EDITOR)
def dashboard() -> str:
    return render_template(
        "admin/dashboard.html",
        lists=services.all_lists(db.session),
        drafts=services.drafts_of(db.session),
        pending=services.pending_notices(db.session),
        announced=services.announced_notices(db.session),
        recent=services.recent_changes(db.session),
    )
