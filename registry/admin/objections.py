"""Admin pages of objections: per notice, handled with a note, exported as CSV.

Thin, like the other admin pages: they read a form, call ``registry.objections.services``,
commit on success and redirect. Editors and admins may use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from registry.accounts.auth import actor, requires
from registry.accounts.models import Role
from registry.admin import bp
from registry.extensions import db
from registry.lists.models import Notice
from registry.lists.services import get_notice
from registry.objections import services
from registry.objections.forms import HandleForm, objection_filter
from registry.objections.models import Objection
from registry.objections.services import Counts, ObjectionFilter
from registry.timeutil import utcnow
from registry.validation import ValidationError

INVALID = 422
CONFLICT = 409


def _objections_of(notice: Notice) -> list[Objection]:
    return services.find_objections(db.session, ObjectionFilter(notice_id=notice.id))


@bp.context_processor
def _objection_helpers() -> dict[str, Any]:
    # For the dashboard and the notice page: the window of a notice, and its objections.
    return {"objection_window": services.window, "objections_of": _objections_of}


@dataclass
class NoticeObjections:
    """One notice on the objections page: its counts and the objections the filters keep."""

    notice: Notice
    counts: Counts
    objections: list[Objection] = field(default_factory=list)


def _filter_or_errors() -> tuple[ObjectionFilter, list[str]]:
    try:
        return objection_filter(request.args), []
    except ValidationError as error:
        return ObjectionFilter(), [m[:1].upper() + m[1:] + "." for m in error.errors.values()]


@bp.get("/objections")
@requires(Role.EDITOR)
def objections() -> tuple[str, int]:
    """Objections grouped by notice, newest notice first, narrowed by notice and status."""
    chosen, errors = _filter_or_errors()
    groups: dict[int, NoticeObjections] = {}
    if not errors:
        found = services.find_objections(db.session, chosen)
        notice_ids = {o.notice_id for o in found}
        only = get_notice(db.session, chosen.notice_id) if chosen.notice_id is not None else None
        if only is not None:
            notice_ids.add(only.id)
        totals = services.counts(db.session, notice_ids)
        if only is not None:
            groups[only.id] = NoticeObjections(only, totals.get(only.id, Counts()))
        for objection in found:
            group = groups.setdefault(
                objection.notice_id,
                NoticeObjections(objection.notice, totals.get(objection.notice_id, Counts())),
            )
            group.objections.append(objection)
    return render_template(
        "admin/objections.html",
        groups=list(groups.values()),
        chosen=chosen,
        errors=errors,
        notices=services.notices_with_objections(db.session),
        filters={k: v for k, v in request.args.items() if k in ("notice", "status", "reference") and v}
        if not errors
        else {},
    ), 400 if errors else 200


@bp.get("/objections.csv")
@requires(Role.EDITOR)
def objections_csv() -> Response:
    """Every objection the filters keep, with what it objects to, as a CSV file for the DPO."""
    chosen, errors = _filter_or_errors()
    if errors:
        abort(400, "Fix the filters: " + " ".join(errors))
    return Response(
        stream_with_context(services.objections_csv(services.stream_objections(db.session, chosen))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="objections-{utcnow():%Y-%m-%d}.csv"'},
    )


def _objection_or_404(objection_id: int) -> Objection:
    objection = services.get_objection(db.session, objection_id)
    if objection is None:
        abort(404, f"There is no objection {objection_id}.")
    return objection


def _objection_page(objection: Objection, form: HandleForm, status: int) -> tuple[str, int]:
    return render_template(
        "admin/objections_detail.html",
        objection=objection,
        notice=objection.notice,
        register_list=objection.notice.register_list,
        form=form,
    ), status


@bp.get("/objections/<int:objection_id>")
@requires(Role.EDITOR)
def objection(objection_id: int) -> tuple[str, int]:
    return _objection_page(_objection_or_404(objection_id), HandleForm(formdata=None), 200)


@bp.post("/objections/<int:objection_id>/handle")
@requires(Role.EDITOR)
def handle_objection(objection_id: int) -> WerkzeugResponse | tuple[str, int]:
    objection = _objection_or_404(objection_id)
    form = HandleForm()
    if not form.validate():
        return _objection_page(objection, form, INVALID)
    try:
        services.handle(db.session, objection, note=form.note.data or "", actor=actor(), now=utcnow())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _objection_page(objection, form, CONFLICT if "objection" in error.errors else INVALID)
    flash(f"Marked the objection of {objection.organisation} as handled.", "success")
    return redirect(url_for("admin.objection", objection_id=objection.id))
