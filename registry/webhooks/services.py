"""Webhook endpoints and the events owed to them. Callers commit.

Registering, disabling, enabling and deleting an endpoint, and sending it a test ping, are the
same functions for the admin page and the API, each recorded in the audit trail (with the URL
and what it is registered for, never the secret). Events are written to the webhook outbox
(``webhook_deliveries``) in the caller's transaction, one row per event and endpoint.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from registry.audit.services import Actor, record
from registry.documents.services import get_document
from registry.limits import MAX_NAME
from registry.lists.services import get_list
from registry.validation import ValidationError, text_problem
from registry.webhooks import payloads
from registry.webhooks.addresses import validate_url
from registry.webhooks.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookTarget,
    new_message_id,
)

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
SECRET_BYTES = 32
MAX_TARGETS = 100
# Statuses of a delivery still owed.
PENDING = (WebhookDeliveryStatus.QUEUED, WebhookDeliveryStatus.RETRYING, WebhookDeliveryStatus.SENDING)


def new_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes, as Standard Webhooks writes a secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])


@dataclass(frozen=True)
class Registration:
    """What an admin asked for: a URL, the lists and documents (by slug), a description."""

    url: str
    lists: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    description: str = ""


def _targets(session: Session, wanted: Registration) -> list[WebhookTarget]:
    errors: dict[str, str] = {}
    targets: list[WebhookTarget] = []
    unknown_lists = []
    for slug in dict.fromkeys(wanted.lists):
        found = get_list(session, slug)
        if found is None:
            unknown_lists.append(slug)
        else:
            targets.append(WebhookTarget(register_list=found))
    unknown_documents = []
    for slug in dict.fromkeys(wanted.documents):
        document = get_document(session, slug)
        if document is None:
            unknown_documents.append(slug)
        else:
            targets.append(WebhookTarget(document=document))
    if unknown_lists:
        errors["lists"] = "There is no list " + ", ".join(repr(s[:80]) for s in unknown_lists[:5]) + "."
    if unknown_documents:
        names = ", ".join(repr(s[:80]) for s in unknown_documents[:5])
        errors["documents"] = f"There is no document {names}."
    if not targets and not errors:
        errors["lists"] = "Choose at least one list or document for the endpoint."
    if len(targets) > MAX_TARGETS:
        errors["lists"] = f"An endpoint may be registered for at most {MAX_TARGETS} lists and documents."
    if errors:
        raise ValidationError(errors)
    return targets


def register(
    session: Session, wanted: Registration, *, actor: Actor, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint for some lists and documents; returns it and its secret, which the
    caller shows once. The URL is checked (and resolved) as it will be at every delivery."""
    errors: dict[str, str] = {}
    url = ""
    try:
        url = validate_url(wanted.url, allow_private=allow_private())
    except ValidationError as error:
        errors |= error.errors
    description = " ".join(wanted.description.split())
    if len(description) > MAX_NAME:
        errors["description"] = f"The description must be {MAX_NAME} characters or fewer."
    elif description and (problem := text_problem(description)):
        errors["description"] = f"The description {problem}."
    try:
        targets = _targets(session, wanted)
    except ValidationError as error:
        errors |= error.errors
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url, description=description, secret=secret, created_at=now, created_by=actor.label
    )
    endpoint.targets = targets
    session.add(endpoint)
    session.flush()
    _recorded(session, endpoint, "webhook.register", f"registered: {url[:200]}", actor=actor, now=now)
    return endpoint, secret


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: never its secret."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "lists": [t.slug for t in endpoint.targets if not t.is_document],
        "documents": [t.slug for t in endpoint.targets if t.is_document],
    }


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= 2**31 - 1 else None


def all_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .options(
                selectinload(WebhookEndpoint.targets).selectinload(WebhookTarget.register_list),
                selectinload(WebhookEndpoint.targets).selectinload(WebhookTarget.document),
            )
            .order_by(WebhookEndpoint.id)
        )
    )


def _cancel_pending(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status.in_((WebhookDeliveryStatus.QUEUED, WebhookDeliveryStatus.RETRYING)),
        )
        .values(status=WebhookDeliveryStatus.CANCELLED, last_error=reason, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def _recorded(
    session: Session,
    endpoint: WebhookEndpoint,
    action: str,
    summary: str,
    *,
    actor: Actor,
    now: datetime,
    gone: bool = False,
) -> None:
    """The audit event of a change to ``endpoint``: what it is now, or (``gone``) what it was."""
    state = _audited(endpoint)
    record(
        session,
        action,
        actor,
        now=now,
        target=("webhook_endpoint", endpoint.id),
        summary=f"Webhook endpoint {endpoint.id} {summary}",
        before=state if gone else None,
        after=None if gone else state,
    )


def disable(session: Session, endpoint: WebhookEndpoint, *, reason: str, actor: Actor, now: datetime) -> bool:
    """Stop posting to an endpoint; what it was still owed is cancelled. False if it was off."""
    if not endpoint.enabled:
        return False
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    _cancel_pending(session, endpoint, f"endpoint disabled: {reason}")
    _recorded(session, endpoint, "webhook.disable", f"disabled: {reason}", actor=actor, now=now)
    return True


def enable(session: Session, endpoint: WebhookEndpoint, *, actor: Actor, now: datetime) -> bool:
    """Post to an endpoint again, from the next event on. False if it was on."""
    if endpoint.enabled:
        return False
    endpoint.enabled = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    _recorded(session, endpoint, "webhook.enable", "enabled", actor=actor, now=now)
    return True


def delete(session: Session, endpoint: WebhookEndpoint, *, actor: Actor, now: datetime) -> None:
    """Remove an endpoint, its secret and its deliveries; the audit trail keeps that it was."""
    _recorded(
        session, endpoint, "webhook.delete", f"deleted: {endpoint.url[:200]}", actor=actor, now=now, gone=True
    )
    session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == endpoint.id)  # type: ignore[attr-defined]
    )
    session.delete(endpoint)
    session.flush()


def ping(session: Session, endpoint: WebhookEndpoint, *, actor: Actor, now: datetime) -> WebhookDelivery:
    """Owe the endpoint a ``webhook.ping`` event (delivered like any other, by the job)."""
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        message_id=new_message_id(),
        event_type="webhook.ping",
        event_key=f"webhook.ping:{new_message_id()}",
        body=payloads.body("webhook.ping", payloads.ping_data(endpoint.id), now=now),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(delivery)
    session.flush()
    record(
        session,
        "webhook.ping",
        actor,
        now=now,
        target=("webhook_endpoint", endpoint.id),
        summary=f"Test ping queued for webhook endpoint {endpoint.id}",
    )
    return delivery


# --- events -----------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def queue_event(
    session: Session,
    event_type: str,
    about: str,
    data: dict[str, Any],
    *,
    list_id: int | None = None,
    document_id: int | None = None,
    now: datetime,
) -> int:
    """Owe the event to every enabled endpoint registered for the list or document, in the
    caller's transaction; returns how many rows were written. The same event twice (its
    ``about`` key) writes nothing more: the unique constraint, ON CONFLICT DO NOTHING."""
    registered = (
        WebhookTarget.list_id == list_id if list_id is not None else WebhookTarget.document_id == document_id
    )
    endpoint_ids = list(
        session.scalars(
            select(WebhookEndpoint.id)
            .join(WebhookTarget, WebhookTarget.endpoint_id == WebhookEndpoint.id)
            .where(WebhookEndpoint.enabled.is_(True), registered)
            .order_by(WebhookEndpoint.id)
        )
    )
    if not endpoint_ids:
        return 0
    text = payloads.body(event_type, data, now=now)
    rows = [
        {
            "endpoint_id": endpoint_id,
            "message_id": new_message_id(),
            "event_type": event_type,
            "event_key": f"{event_type}:{about}",
            "body": text,
            "status": WebhookDeliveryStatus.QUEUED.value,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for endpoint_id in endpoint_ids
    ]
    statement = _insert(session)(WebhookDelivery).values(rows).on_conflict_do_nothing()
    return session.execute(statement).rowcount  # type: ignore[attr-defined]


# --- what admins see --------------------------------------------------------------------------


def status_counts(session: Session) -> dict[WebhookDeliveryStatus, int]:
    counts = dict.fromkeys(WebhookDeliveryStatus, 0)
    for status, count in session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    ):
        counts[WebhookDeliveryStatus(status)] = count
    return counts


def recent_deliveries(
    session: Session,
    *,
    statuses: Iterable[WebhookDeliveryStatus] | None = None,
    limit: int,
    offset: int = 0,
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).options(selectinload(WebhookDelivery.endpoint))
    if statuses is not None:
        query = query.where(WebhookDelivery.status.in_(tuple(statuses)))
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)))
