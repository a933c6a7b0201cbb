"""Admin pages of personal data: a person's data on request (look up, download, erase), and the
retention settings with the retention job's last runs. Admins only.

An address is always posted, never put in a URL, so it stays out of access logs and browser
history. Every look-up that finds something, every download and every erasure is in the audit
trail, which names the address only by its keyed hash (``privacy.services.fingerprint``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from registry.accounts.auth import actor, requires
from registry.accounts.models import Role
from registry.admin import bp
from registry.audit.services import record
from registry.downloads import json_download
from registry.extensions import db
from registry.privacy import services
from registry.privacy.forms import EraseForm, LookupForm
from registry.privacy.models import RetentionRun
from registry.subscriptions.models import Subscriber
from registry.timeutil import utcnow
from registry.validation import ValidationError, normalise_email

INVALID = 422
RUNS_SHOWN = 20
# The settings the retention page shows, with what each one means.
RETENTION_SETTINGS = (
    (
        "UNCONFIRMED_PURGE_AFTER_SECONDS",
        "Sign-ups and new addresses never confirmed are deleted after",
        "seconds",
    ),
    ("RETENTION_UNSUBSCRIBED_DAYS", "Addresses that unsubscribed are erased after", "days"),
    ("RETENTION_BOUNCING_DAYS", "Addresses refused by their mail server are erased after", "days"),
    ("RETENTION_DELIVERY_YEARS", "Records of emails sent lose the address and error texts after", "years"),
    ("RETENTION_OBJECTION_YEARS", "Objections lose the objector's name, address and reason after", "years"),
    ("RETENTION_EVERY_SECONDS", "The retention job runs every", "seconds"),
)
KIND_LABELS = {
    "unconfirmed_subscribers": "Sign-ups never confirmed, deleted",
    "unconfirmed_addresses": "New addresses never confirmed, forgotten",
    "unsubscribed_subscribers": "Unsubscribed addresses, erased",
    "bouncing_subscribers": "Refused addresses, erased",
    "delivery_records": "Records of emails, anonymised",
    "objections": "Objections, anonymised",
}


def _audit(action: str, address: str, data: dict[str, Any], summary: str) -> None:
    subscriber = data["subscriber"]
    record(
        db.session,
        action,
        actor(),
        now=utcnow(),
        target=("subscriber", _subscriber_id(address)) if subscriber else None,
        summary=summary,
        after={"address_hmac": services.fingerprint(address), "objections": len(data["objections"])},
    )


def _subscriber_id(address: str) -> int | None:
    return db.session.scalar(select(Subscriber.id).where(Subscriber.email == address))


def _address(form: LookupForm | EraseForm) -> str:
    """The posted address, normalised; ``ValidationError`` with a message otherwise."""
    return normalise_email(form.email.data or "")


def _subscribers_page(
    lookup: LookupForm, *, address: str | None = None, erase: EraseForm | None = None, status: int = 200
) -> tuple[str, int]:
    data = services.subject_data(db.session, address, now=utcnow()) if address else None
    return render_template(
        "admin/privacy.html",
        lookup=lookup,
        address=address,
        data=data,
        found=data is not None and services.holds_anything(data),
        erasures=services.erasures(db.session, address) if address else [],
        erase=erase or EraseForm(formdata=None, email=address),
    ), status


@bp.get("/subscribers")
@requires(Role.ADMIN)
def subscribers() -> tuple[str, int]:
    """A form to look up one exact address."""
    return _subscribers_page(LookupForm(formdata=None))


@bp.post("/subscribers")
@requires(Role.ADMIN)
def look_up_subscriber() -> tuple[str, int]:
    """What we hold about the posted address, with its download and erasure."""
    lookup = LookupForm()
    try:
        address = _address(lookup)
    except ValidationError as error:
        lookup.email.errors = list(error.errors.values())
        return _subscribers_page(lookup, status=INVALID)
    data = services.subject_data(db.session, address, now=utcnow())
    if services.holds_anything(data):
        _audit("subscriber.look_up", address, data, "looked up an address's data on request")
        db.session.commit()
    return _subscribers_page(lookup, address=address)


@bp.post("/subscribers/data.json")
@requires(Role.ADMIN)
def download_subscriber_data() -> Response | tuple[str, int]:
    """The same data as a JSON file, to send to the person who asked."""
    lookup = LookupForm()
    try:
        address = _address(lookup)
    except ValidationError as error:
        lookup.email.errors = list(error.errors.values())
        return _subscribers_page(lookup, status=INVALID)
    now = utcnow()
    data = services.subject_data(db.session, address, now=now)
    _audit("subscriber.export", address, data, "downloaded an address's data on request")
    db.session.commit()
    return json_download(data, f"personal-data-{now:%Y-%m-%d}.json")


@bp.post("/subscribers/erase")
@requires(Role.ADMIN)
def erase_subscriber() -> Response | tuple[str, int]:
    """Erase the posted address everywhere, on the person's request."""
    form = EraseForm()
    try:
        address = _address(form)
    except ValidationError as error:
        lookup = LookupForm(formdata=None)
        lookup.email.errors = list(error.errors.values())
        return _subscribers_page(lookup, status=INVALID)
    reason = " ".join((form.reason.data or "").split())[:500]
    errors = {}
    if not reason:
        errors["reason"] = "Say why: the request, its date and how it reached us."
    if not form.confirm.data:
        errors["confirm"] = "Tick the box to confirm the erasure."
    if errors:
        for name, message in errors.items():
            getattr(form, name).errors = [message]
        return _subscribers_page(
            LookupForm(formdata=None, email=address), address=address, erase=form, status=INVALID
        )
    erasure = services.erase_address(
        db.session, address, actor=actor(), now=utcnow(), reason=f"on request: {reason}"
    )
    db.session.commit()
    if erasure.found:
        flash(
            "The address is erased: "
            f"{'its subscriber record, ' if erasure.subscriber else ''}"
            f"{erasure.notifications} record(s) of emails unlinked, {erasure.objections} objection(s) anonymised.",
            "success",
        )
    else:
        flash("We hold nothing about this address: there was nothing to erase.", "info")
    return redirect(url_for("admin.subscribers"), 303)


@bp.get("/retention")
@requires(Role.ADMIN)
def retention() -> str:
    """The retention settings, and what the last runs of the retention job did."""
    runs = db.session.scalars(
        select(RetentionRun)
        .order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
        .limit(RUNS_SHOWN)
    ).all()
    settings = [(name, label, current_app.config[name], unit) for name, label, unit in RETENTION_SETTINGS]
    return render_template(
        "admin/privacy_retention.html",
        settings=settings,
        runs=runs,
        kinds=services.RETENTION_KINDS,
        kind_labels=KIND_LABELS,
    )
