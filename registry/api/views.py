"""API routes. Authentication is a bearer token (no cookies, so no CSRF); every route declares
the role it needs and is checked before it runs, as in the admin pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from registry.accounts.auth import enforce_role, requires
from registry.accounts.models import Role
from registry.extensions import csrf, db
from registry.lists import services
from registry.validation import ValidationError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.before_request
def _protect() -> object:
    return enforce_role(current_app)


@bp.after_request
def _private(response):  # type: ignore[no-untyped-def]
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError) -> ResponseReturnValue:
    return jsonify(
        error={"status": 422, "title": "Invalid input", "message": str(error), "fields": error.errors}
    ), 422


def _list_json(register_list: Any) -> dict[str, Any]:
    return {
        "slug": register_list.slug,
        "title": register_list.title,
        "version": register_list.current_version,
        "notice_period_days": register_list.notice_period_days,
        "requires_approval": register_list.requires_approval,
    }


@bp.get("/lists")
@requires(Role.EDITOR)
def lists() -> ResponseReturnValue:
    return jsonify(lists=[_list_json(lst) for lst in services.all_lists(db.session)])
