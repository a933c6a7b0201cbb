"""Admin pages about lists and their changes: dashboard, list editor, drafts, announcements."""

from __future__ import annotations

from flask import render_template

from registry.accounts.auth import requires
from registry.accounts.models import Role
from registry.admin import bp
from registry.extensions import db
from registry.lists import services


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
