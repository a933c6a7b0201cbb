"""API routes. Authentication is a bearer token (no cookies, so no CSRF); every route declares
the role it needs and is checked before it runs, as in the admin pages.

The routes only translate HTTP: they read the request (``registry.api.inputs``), call the same
services as the admin pages inside one transaction (committed on success, rolled back on any
failure), and answer with the shapes of ``registry.api.formats``. Every error is JSON:
``{"error": {"status", "title", "message", "fields"?, "current"?}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from registry.accounts.auth import actor, enforce_role, requires
from registry.accounts.models import Role
from registry.api import inputs
from registry.api.formats import (
    change_json,
    conflict_json,
    event_json,
    list_json,
    notice_json,
    webhook_json,
)
from registry.api.openapi import document as openapi_document
from registry.audit.services import AuditFilter, find_events
from registry.cors import shared
from registry.extensions import csrf, db
from registry.lists import services, workflow
from registry.lists.fields import processor_fields
from registry.lists.models import Change, ChangeAction, ChangeStatus, Notice, NoticeStatus, RegisterList
from registry.lists.workflow import ConflictError
from registry.timeutil import utcnow
from registry.validation import ValidationError
from registry.webhooks import services as webhooks

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# The OpenAPI document describes the API and grants nothing: the one route that needs no token.
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
MAX_PAGE = 500


@bp.before_request
def _protect() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return enforce_role(current_app)


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _error(status: int, title: str, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify(error={"status": status, "title": title, "message": message, **extra}), status


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError) -> ResponseReturnValue:
    return _error(422, "Invalid input", str(error), fields=error.errors)


@bp.errorhandler(ConflictError)
def _conflict(error: ConflictError) -> ResponseReturnValue:
    return _error(409, "Conflict", str(error), current=conflict_json(error.current))


@bp.errorhandler(IntegrityError)
@bp.errorhandler(StaleDataError)
def _race(_exception: Exception) -> ResponseReturnValue:
    # Two requests changed the same thing at once; the database kept one. Nothing of this one stayed.
    # (The argument must not be called ``_error``: that would hide the function answering below.)
    db.session.rollback()
    return _error(
        409,
        "Conflict",
        "Someone else changed this at the same moment. Read it again, then retry.",
        current=None,
    )


@contextmanager
def _transaction() -> Iterator[None]:
    """Commit what the block did, or roll all of it back: a request changes everything or nothing."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _created(body: dict[str, Any], location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def _shown(text: str) -> str:
    return repr(text[:80])


def _list(slug: str) -> RegisterList:
    register_list = services.get_list(db.session, slug)
    if register_list is None:
        abort(404, f"There is no list {_shown(slug)}.")
    return register_list


def _change(change_id: int) -> Change:
    change = services.get_change(db.session, change_id) if change_id <= inputs.MAX_ID else None
    if change is None:
        abort(404, f"There is no change {change_id}.")
    return change


def _notice(notice_id: int) -> Notice:
    notice = services.get_notice(db.session, notice_id) if notice_id <= inputs.MAX_ID else None
    if notice is None:
        abort(404, f"There is no notice {notice_id}.")
    return notice


def _fail_if(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


# --- lists and their entries --------------------------------------------------------------------


@bp.get("/lists")
@requires(Role.EDITOR)
def lists() -> ResponseReturnValue:
    return jsonify(
        lists=[
            list_json(lst, services.latest_version(db.session, lst)) for lst in services.all_lists(db.session)
        ]
    )


@bp.get("/lists/<slug>")
@requires(Role.EDITOR)
def register_list(slug: str) -> ResponseReturnValue:
    found = _list(slug)
    return jsonify(list_json(found, services.latest_version(db.session, found)))


@bp.patch("/lists/<slug>")
@requires(Role.ADMIN)
def update_list(slug: str) -> ResponseReturnValue:
    """Change a list's settings (admins): notice period, objection window, four eyes, reminders."""
    found = _list(slug)
    errors: dict[str, str] = {}
    values = inputs.settings(inputs.json_body(), errors)
    _fail_if(errors)
    with _transaction():
        services.update_settings(db.session, found, values, actor=actor(), now=utcnow())
    return jsonify(list_json(found, services.latest_version(db.session, found)))


@bp.get("/lists/<slug>/processors")
@requires(Role.EDITOR)
def processors(slug: str) -> ResponseReturnValue:
    found = _list(slug)
    return jsonify(
        list=found.slug, version=found.current_version, processors=services.snapshot_of(db.session, found)
    )


# --- changes ------------------------------------------------------------------------------------


@bp.get("/lists/<slug>/changes")
@requires(Role.EDITOR)
def changes(slug: str) -> ResponseReturnValue:
    found = _list(slug)
    errors: dict[str, str] = {}
    status = inputs.choice("status", (status.value for status in ChangeStatus), errors)
    limit = inputs.whole_number("limit", errors, default=100, low=1, high=MAX_PAGE)
    offset = inputs.whole_number("offset", errors, default=0, low=0, high=inputs.MAX_OFFSET)
    _fail_if(errors)
    rows = services.changes_of(
        db.session, found, ChangeStatus(status) if status else None, limit=limit, offset=offset
    )
    return jsonify(changes=[change_json(change) for change in rows], limit=limit, offset=offset)


def _draft(register_list: RegisterList, wanted: inputs.ChangeRequest, now: datetime) -> Change:
    current = None
    if wanted.action is ChangeAction.UPDATE:
        assert wanted.target is not None
        entry = services.entry_by_slug(db.session, register_list, wanted.target)
        if entry is None or not entry.active:
            raise ValidationError(
                {wanted.target_key: f"There is no current entry with the id {_shown(wanted.target)}."}
            )
        current = processor_fields(entry)
    try:
        return workflow.draft_change(
            db.session,
            register_list,
            wanted.action,
            now=now,
            actor=actor(),
            processor=wanted.target,
            fields=wanted.fields_over(current),
        )
    except ValidationError as error:
        raise wanted.service_errors(error) from None


@bp.post("/lists/<slug>/drafts")
@requires(Role.EDITOR)
def create_draft(slug: str) -> ResponseReturnValue:
    found = _list(slug)
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, inputs.CHANGE_KEYS, errors)
    wanted = inputs.change_request(body, errors)
    _fail_if(errors)
    assert wanted is not None
    with _transaction():
        change = _draft(found, wanted, utcnow())
    return _created(change_json(change), url_for(".change", change_id=change.id))


@bp.post("/lists/<slug>/changes")
@requires(Role.EDITOR)
def announce_change(slug: str) -> ResponseReturnValue:
    """Draft one change and announce it, in one transaction: both happen, or neither."""
    found = _list(slug)
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, inputs.CHANGE_KEYS + inputs.ANNOUNCEMENT_KEYS, errors)
    wanted = inputs.change_request(body, errors)
    effective_at = inputs.moment(body, "effective_at", errors)
    reason = inputs.text(body, "reason", errors, required=True)
    short_notice_reason = inputs.text(body, "short_notice_reason", errors, nullable=True)
    _fail_if(errors)
    assert wanted is not None and effective_at is not None and reason is not None
    now = utcnow()
    with _transaction():
        change = _draft(found, wanted, now)
        try:
            workflow.announce(
                db.session,
                found,
                [change],
                reason=reason,
                effective_at=effective_at,
                now=now,
                actor=actor(),
                short_notice_reason=short_notice_reason,
            )
        except ValidationError as error:
            raise wanted.service_errors(error) from None
    return _created(change_json(change), url_for(".change", change_id=change.id))


@bp.post("/lists/<slug>/corrections")
@requires(Role.EDITOR)
def correct_entry(slug: str) -> ResponseReturnValue:
    """Fix an entry's wording or links at once, without notice: refused (422) if it widens
    processing; waits for a second person (202) where the list requires approval."""
    found = _list(slug)
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, ("target", "processor", "reason"), errors)
    reason = inputs.text(body, "reason", errors, required=True)
    if "target" not in body:
        errors["target"] = "name the entry to correct"
    wanted = inputs.change_request(
        {"action": "update", **{k: body[k] for k in ("target", "processor") if k in body}}, errors
    )
    _fail_if(errors)
    assert wanted is not None and reason is not None
    now = utcnow()
    with _transaction():
        change = _draft(found, wanted, now)
        try:
            notice = workflow.correct(db.session, found, [change], reason=reason, now=now, actor=actor())
        except ValidationError as error:
            raise wanted.service_errors(error) from None
    response = _created(notice_json(notice), url_for(".notice", notice_id=notice.id))
    if notice.status is NoticeStatus.PENDING_APPROVAL:
        response.status_code = 202
    return response


@bp.get("/changes/<int:change_id>")
@requires(Role.EDITOR)
def change(change_id: int) -> ResponseReturnValue:
    return jsonify(change_json(_change(change_id)))


@bp.post("/changes/<int:change_id>/discard")
@requires(Role.EDITOR)
def discard_change(change_id: int) -> ResponseReturnValue:
    found = _change(change_id)
    with _transaction():
        workflow.discard_draft(db.session, found, actor=actor(), now=utcnow())
    return jsonify(change_json(found))


# --- notices ------------------------------------------------------------------------------------


@bp.post("/lists/<slug>/notices")
@requires(Role.EDITOR)
def announce_drafts(slug: str) -> ResponseReturnValue:
    """Announce drafts together as one notice (one email, one feed entry for customers)."""
    found = _list(slug)
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, ("changes", *inputs.ANNOUNCEMENT_KEYS), errors)
    ids = inputs.identifiers(body, "changes", errors)
    effective_at = inputs.moment(body, "effective_at", errors)
    reason = inputs.text(body, "reason", errors, required=True)
    short_notice_reason = inputs.text(body, "short_notice_reason", errors, nullable=True)
    _fail_if(errors)
    assert effective_at is not None and reason is not None
    drafts = [services.get_change(db.session, change_id) for change_id in ids]
    missing = [change_id for change_id, draft in zip(ids, drafts, strict=True) if draft is None]
    _fail_if({"changes": f"There is no change {missing[0]}."} if missing else {})
    with _transaction():
        notice = workflow.announce(
            db.session,
            found,
            [draft for draft in drafts if draft is not None],
            reason=reason,
            effective_at=effective_at,
            now=utcnow(),
            actor=actor(),
            short_notice_reason=short_notice_reason,
        )
    return _created(notice_json(notice), url_for(".notice", notice_id=notice.id))


@bp.get("/notices/<int:notice_id>")
@requires(Role.EDITOR)
def notice(notice_id: int) -> ResponseReturnValue:
    return jsonify(notice_json(_notice(notice_id)))


@bp.post("/notices/<int:notice_id>/approve")
@requires(Role.EDITOR)
def approve_notice(notice_id: int) -> ResponseReturnValue:
    found = _notice(notice_id)
    with _transaction():
        workflow.approve(db.session, found, actor=actor(), now=utcnow())
    return jsonify(notice_json(found))


def _reason_body() -> str:
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, ("reason",), errors)
    reason = inputs.text(body, "reason", errors, required=True)
    _fail_if(errors)
    assert reason is not None
    return reason


@bp.post("/notices/<int:notice_id>/reject")
@requires(Role.EDITOR)
def reject_notice(notice_id: int) -> ResponseReturnValue:
    found = _notice(notice_id)
    reason = _reason_body()
    with _transaction():
        workflow.reject(db.session, found, reason=reason, actor=actor(), now=utcnow())
    return jsonify(notice_json(found))


@bp.post("/notices/<int:notice_id>/withdraw")
@requires(Role.EDITOR)
def withdraw_notice(notice_id: int) -> ResponseReturnValue:
    """Withdraw an announcement before it takes effect; the withdrawal is a notice of its own."""
    found = _notice(notice_id)
    reason = _reason_body()
    with _transaction():
        withdrawal = workflow.withdraw(db.session, found, reason=reason, actor=actor(), now=utcnow())
    return _created(notice_json(withdrawal), url_for(".notice", notice_id=withdrawal.id))


# --- webhook endpoints -----------------------------------------------------------------------


@bp.get("/webhooks")
@requires(Role.ADMIN)
def list_webhooks() -> ResponseReturnValue:
    return jsonify(webhooks=[webhook_json(endpoint) for endpoint in webhooks.all_endpoints(db.session)])


@bp.post("/webhooks")
@requires(Role.ADMIN)
def register_webhook() -> ResponseReturnValue:
    """Register an endpoint; the answer carries its signing secret, this once."""
    body = inputs.json_body()
    errors: dict[str, str] = {}
    inputs.refuse_unknown(body, ("url", "lists", "documents", "description"), errors)
    url = inputs.text(body, "url", errors, required=True)
    lists = inputs.slugs(body, "lists", errors)
    documents = inputs.slugs(body, "documents", errors)
    description = inputs.text(body, "description", errors, nullable=True)
    _fail_if(errors)
    wanted = webhooks.Registration(
        url=url or "", lists=tuple(lists), documents=tuple(documents), description=description or ""
    )
    with _transaction():
        endpoint, secret = webhooks.register(db.session, wanted, actor=actor(), now=utcnow())
    return _created(
        {"webhook": webhook_json(endpoint), "secret": secret},
        url_for(".list_webhooks", _anchor=str(endpoint.id)),
    )


@bp.delete("/webhooks/<int:webhook_id>")
@requires(Role.ADMIN)
def delete_webhook(webhook_id: int) -> ResponseReturnValue:
    """Remove an endpoint with its secret and deliveries; answers what it was."""
    endpoint = webhooks.get_endpoint(db.session, webhook_id) if webhook_id <= inputs.MAX_ID else None
    if endpoint is None:
        abort(404, f"There is no webhook endpoint {webhook_id}.")
    gone = webhook_json(endpoint)
    with _transaction():
        webhooks.delete(db.session, endpoint, actor=actor(), now=utcnow())
    return jsonify(webhook=gone)


# --- the audit trail, and the description of all of this ----------------------------------------


@bp.get("/audit")
@requires(Role.ADMIN)
def audit() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    audit_filter = AuditFilter(
        action=request.args.get("action", "").strip(),
        actor=request.args.get("actor", "").strip(),
        since=inputs.moment_arg("since", errors),
        until=inputs.moment_arg("until", errors, end_of_day=True),
    )
    limit = inputs.whole_number("limit", errors, default=100, low=1, high=MAX_PAGE)
    offset = inputs.whole_number("offset", errors, default=0, low=0, high=inputs.MAX_OFFSET)
    _fail_if(errors)
    events = find_events(db.session, audit_filter, limit=limit, offset=offset)
    return jsonify(events=[event_json(event) for event in events], limit=limit, offset=offset)


@bp.get("/openapi.json")
@shared
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())
