"""The audit trail for admins: read, filter, export as CSV. Read only: there is no page, here or
anywhere, that edits or deletes an audit event (and the database would refuse it)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from registry.accounts.auth import guard, requires
from registry.accounts.models import Role
from registry.audit.forms import AuditFilterForm
from registry.audit.services import events_csv, find_events, stream_events
from registry.extensions import db
from registry.timeutil import utcnow

# Routes are /admin/audit and /admin/audit.csv (a url_prefix of /admin/audit cannot give the latter).
bp = Blueprint("audit", __name__, url_prefix="/admin")
guard(bp, check_csrf=True)

PER_PAGE = 100


def as_json(value: Any) -> str:
    """A before or after value on one line that wraps (keys sorted, text as written)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def differences(before: Any, after: Any) -> list[tuple[str, Any, Any]] | None:
    """(field, before, after) for each field that differs, when both sides are objects; else None."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    return [
        (name, before.get(name), after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


@bp.get("/audit")
@requires(Role.ADMIN)
def trail() -> tuple[str, int]:
    """Newest first, PER_PAGE to a page, narrowed by the filters in the query string."""
    form = AuditFilterForm(formdata=request.args)
    if not form.validate():
        return _page(form, events=[], has_next=False), 400
    page = form.page_number
    events = find_events(db.session, form.audit_filter(), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    return _page(form, events=events[:PER_PAGE], has_next=len(events) > PER_PAGE), 200


def _page(form: AuditFilterForm, *, events: list[Any], has_next: bool) -> str:
    return render_template(
        "audit/trail.html",
        form=form,
        events=events,
        page=form.page_number if not form.page.errors else 1,
        per_page=PER_PAGE,
        has_next=has_next,
        filters=form.query_args() if not form.errors else {},
        as_json=as_json,
        differences=differences,
    )


@bp.get("/audit.csv")
@requires(Role.ADMIN)
def export() -> Response:
    """Every event the filters match (all pages), as a CSV file to download."""
    form = AuditFilterForm(formdata=request.args)
    if not form.validate():
        abort(400, "Fix the filters: " + "; ".join(form.messages()))
    # Streamed: the app context (and its read transaction) lasts until the last row is sent.
    return Response(
        stream_with_context(events_csv(stream_events(db.session, form.audit_filter()))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-trail-{utcnow():%Y-%m-%d}.csv"'},
    )
