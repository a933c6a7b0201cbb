"""The admin pages for account managers: dashboard, list editor, workflow, users, settings.

Every route on this blueprint needs a signed-in user with the role its view declares (see
``registry.accounts.auth``): the check runs before any view, so a new page without a declared
role is refused to everybody. Routes live in ``views.py`` (the lists and their changes) and
``manage.py`` (users, tokens, list settings).
"""

from __future__ import annotations

from flask import Blueprint, current_app
from werkzeug.wrappers import Response

from registry.accounts.auth import enforce_role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _protect() -> object:
    return enforce_role(current_app)


@bp.after_request
def _private(response: Response) -> Response:
    # Admin pages hold drafts and personal data: never stored by browsers or proxies.
    response.headers["Cache-Control"] = "no-store"
    return response
