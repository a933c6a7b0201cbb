"""The public objection form of a notice, and its thank-you page.

Thin: the rules (when the window is open, what a valid objection is) live in
``registry.objections.services``. A notice that takes no objections is a 404 (unknown, not
public, a withdrawal) or a 410 (its deadline passed, or it was withdrawn), never a form.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from registry.accounts.auth import actor
from registry.extensions import db, limiter
from registry.limits import MAX_EMAIL
from registry.lists.models import Notice
from registry.lists.wording import change_headline
from registry.objections import services
from registry.objections.forms import ObjectionForm
from registry.objections.services import ObjectionsClosed, Window
from registry.publishing.wording import deadline_text
from registry.security import fingerprint
from registry.timeutil import utcnow
from registry.validation import ValidationError, normalise_email

bp = Blueprint("objections", __name__)

INVALID = 422
# The objection just sent from this browser, so the thank-you page can quote its reference.
RECEIVED = "objection_received"
TOO_MANY = (
    "Too many objections were sent from your network or with this address in the last hour. "
    "Please wait an hour and send yours again."
)
NOT_FOUND = (
    "There is no announcement open for objections at this address. Please check the link in the "
    "notice you received, or the upcoming changes on the list's page."
)


def _address_key() -> str:
    """The per-address limit counts an address however it is typed, and keeps no address in the
    limiter's storage (which an erasure does not reach): only its keyed hash."""
    raw = request.form.get("email") or ""
    try:
        address = normalise_email(raw)
    except ValidationError:
        address = raw.strip().lower()[:MAX_EMAIL]
    return "objection:" + fingerprint(address)


@bp.after_request
def _private(response: Response) -> Response:
    # The form carries this visitor's CSRF token; the thank-you page their reference.
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse(notice: Notice, window: Window) -> None:
    """Answer why ``notice`` takes no objections, as a 404 or a 410 page."""
    if window is Window.WITHDRAWN:
        abort(
            410,
            "This announcement was withdrawn: its changes will not take effect, so there is nothing to object to.",
        )
    if window is Window.CLOSED:
        abort(
            410,
            f"Objections to this announcement are closed: the last day to object was "
            f"{deadline_text(notice.objection_deadline)}.",
        )
    abort(404, NOT_FOUND)


@bp.route("/notices/<reference>/object", methods=["GET", "POST"], endpoint="object")
@limiter.limit(lambda: current_app.config["OBJECTION_LIMIT_PER_IP"], methods=["POST"], error_message=TOO_MANY)
# Each objection sends a receipt to the address typed: this keeps anyone from flooding one inbox.
@limiter.limit(
    lambda: current_app.config["OBJECTION_LIMIT_PER_ADDRESS"],
    key_func=_address_key,
    methods=["POST"],
    error_message=TOO_MANY,
)
def object_to(reference: str) -> Response | tuple[str, int]:
    now = utcnow()
    notice = services.find_notice(db.session, reference) if len(reference) <= 64 else None
    if notice is None:
        abort(404, NOT_FOUND)
    window = services.window(notice, now)
    if window is not Window.OPEN:
        _refuse(notice, window)
    form = ObjectionForm()
    status = 200
    if request.method == "POST":
        if not form.validate():  # the CSRF token
            status = 400
        else:
            try:
                objection = services.receive(
                    db.session,
                    notice,
                    organisation=form.organisation.data or "",
                    contact_name=form.contact_name.data or "",
                    email=form.email.data or "",
                    reason=form.reason.data or "",
                    actor=actor(),
                    now=now,
                )
                db.session.commit()
            except ValidationError as error:
                db.session.rollback()
                form.show_errors(error.errors)
                status = INVALID
            except ObjectionsClosed as error:
                db.session.rollback()
                _refuse(notice, error.window)
            else:
                session[RECEIVED] = objection.uuid
                return redirect(url_for("objections.received", reference=notice.uuid), 303)
    return render_template(
        "objections/form.html",
        notice=notice,
        register_list=notice.register_list,
        form=form,
        change_headline=change_headline,
    ), status


@bp.get("/notices/<reference>/object/received")
def received(reference: str) -> str:
    """The thank-you page, with the reference of the objection this browser just sent."""
    objection = services.find_objection(db.session, str(session.get(RECEIVED) or ""))
    if objection is None or objection.notice.uuid != reference.strip().lower():
        abort(
            404,
            "There is no objection of yours to show here. If you sent one, its reference is in the acknowledgement email.",
        )
    return render_template(
        "objections/received.html",
        objection=objection,
        notice=objection.notice,
        register_list=objection.notice.register_list,
    )
