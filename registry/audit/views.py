"""The audit trail for admins: read, filter, export as CSV."""

from __future__ import annotations

from flask import Blueprint, current_app
from werkzeug.wrappers import Response

from registry.accounts.auth import enforce_role

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


@bp.before_request
def _protect() -> object:
    return enforce_role(current_app)


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
