"""Delivering the webhook outbox: claim a batch with a lease, post each event, record each result
in its own commit.

The claim is the email outbox's (``registry.leases``): two senders never hold the same row, and
the rows of a sender that died are claimable again when its lease ends. A sender starts a post
only while its claim will outlast it (the lease minus twice the time-outs), and gives back what
it cannot start in time. A result is written only while the writer still holds the claim. A 2xx
is recorded right after it came, so a crash can repeat at most the one post in flight, under the
same ``webhook-id``, which receivers use to de-duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from registry import leases
from registry.redaction import recorded_error
from registry.timeutil import Clock, utcnow
from registry.webhooks import sending
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

log = logging.getLogger(__name__)


@dataclass
class WebhookReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    disabled: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"sent {self.sent}, retrying {self.retrying}, dead {self.dead}, endpoints disabled {self.disabled}"


@dataclass(frozen=True)
class _Item:
    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    message_id: str
    body: str


def claim(session: Session, *, now: datetime, worker: str, limit: int, lease_seconds: int) -> list[int]:
    """Take up to ``limit`` due deliveries of enabled endpoints for ``worker``; caller commits."""
    enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True)).scalar_subquery()
    return leases.claim(
        session,
        WebhookDelivery,
        due=(WebhookDeliveryStatus.QUEUED, WebhookDeliveryStatus.RETRYING),
        sending=WebhookDeliveryStatus.SENDING,
        now=now,
        worker=worker,
        limit=limit,
        lease_seconds=lease_seconds,
        where=WebhookDelivery.endpoint_id.in_(enabled),
    )


def _held_by(worker: str, delivery_id: int) -> ColumnElement[bool]:
    return leases.held_by(WebhookDelivery, delivery_id, worker=worker, sending=WebhookDeliveryStatus.SENDING)


def record_sent(
    session: Session, delivery_id: int, status: int | None, *, worker: str, now: datetime
) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(_held_by(worker, delivery_id))
        .values(
            status=WebhookDeliveryStatus.SENT,
            sent_at=now,
            attempts=WebhookDelivery.attempts + 1,
            lease_until=None,
            last_error=None,
            last_status_code=status,
        )
    )


def record_failure(
    session: Session,
    delivery_id: int,
    outcome: sending.Outcome,
    *,
    worker: str,
    now: datetime,
) -> WebhookDeliveryStatus:
    """A failed attempt: tried again after a growing pause, or dead past the retry period (or
    at once when the endpoint is gone)."""
    config = current_app.config
    row = session.execute(
        select(WebhookDelivery.attempts, WebhookDelivery.created_at).where(_held_by(worker, delivery_id))
    ).one_or_none()
    if row is None:  # our lease ran out and another sender has it now
        return WebhookDeliveryStatus.SENDING
    attempts = row.attempts + 1
    delay = leases.backoff(
        attempts, config["WEBHOOK_RETRY_FIRST_DELAY_SECONDS"], config["WEBHOOK_RETRY_MAX_DELAY_SECONDS"]
    )
    next_attempt = now + timedelta(seconds=delay)
    expired = next_attempt - row.created_at > timedelta(seconds=config["WEBHOOK_RETRY_FOR_SECONDS"])
    status = WebhookDeliveryStatus.DEAD if outcome.gone or expired else WebhookDeliveryStatus.RETRYING
    session.execute(
        update(WebhookDelivery)
        .where(_held_by(worker, delivery_id))
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt,
            lease_until=None,
            last_error=recorded_error(outcome.error or "failed"),
            last_status_code=outcome.status,
        )
    )
    return status


def release(session: Session, delivery_ids: list[int], *, worker: str) -> None:
    """Give back claimed rows that were not tried, due at once for the next sender."""
    leases.release(session, WebhookDelivery, delivery_ids, worker=worker, states=WebhookDeliveryStatus)


def cancel(session: Session, delivery_id: int, reason: str, *, worker: str) -> None:
    """A claimed delivery that is no longer owed (its endpoint was disabled meanwhile)."""
    leases.cancel(session, WebhookDelivery, delivery_id, reason, worker=worker, states=WebhookDeliveryStatus)


def _disable_gone(session: Session, endpoint_id: int, *, now: datetime) -> bool:
    """The endpoint answered 410 Gone: post nothing more to it (an admin may enable it again)."""
    changed = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_at=now, disabled_reason="the endpoint answered 410 Gone")
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status.in_((WebhookDeliveryStatus.QUEUED, WebhookDeliveryStatus.RETRYING)),
            )
            .values(status=WebhookDeliveryStatus.CANCELLED, last_error="endpoint disabled: 410 Gone")
            .execution_options(synchronize_session=False)
        )
    return bool(changed)


def deliver_batch(session: Session, *, worker: str, clock: Clock, report: WebhookReport) -> bool:
    """Claim and post one batch; False when nothing was due or time ran out."""
    config = current_app.config
    claimed_at = clock()
    lease = config["WEBHOOK_LEASE_SECONDS"]
    ids = claim(
        session, now=claimed_at, worker=worker, limit=config["WEBHOOK_BATCH_SIZE"], lease_seconds=lease
    )
    session.commit()
    if not ids:
        return False
    items = [
        _Item(row.id, row.endpoint_id, row.url, row.secret, row.message_id, row.body)
        for row in session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookEndpoint.url,
                WebhookEndpoint.secret,
                WebhookDelivery.message_id,
                WebhookDelivery.body,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        )
    ]
    session.commit()  # no transaction stays open while a receiver is slow
    timeouts = config["WEBHOOK_CONNECT_TIMEOUT"] + config["WEBHOOK_READ_TIMEOUT"]
    deadline = claimed_at + timedelta(seconds=lease - min(2 * timeouts, lease / 2))
    allow_private = bool(config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])
    gone: set[int] = set()  # endpoints that answered 410 in this batch
    for index, item in enumerate(items):
        if clock() >= deadline:
            log.warning("lease of webhook batch ending: %d deliveries given back", len(items) - index)
            release(session, [rest.delivery_id for rest in items[index:]], worker=worker)
            session.commit()
            return False
        if item.endpoint_id in gone:
            cancel(session, item.delivery_id, "endpoint disabled: 410 Gone", worker=worker)
            session.commit()
            continue
        outcome = sending.post(
            item.url,
            item.secret,
            item.message_id,
            item.body,
            at=utcnow(),  # the receiver checks it against its own clock
            allow_private=allow_private,
            connect_timeout=config["WEBHOOK_CONNECT_TIMEOUT"],
            read_timeout=config["WEBHOOK_READ_TIMEOUT"],
        )
        if outcome.ok:
            record_sent(session, item.delivery_id, outcome.status, worker=worker, now=clock())
            session.commit()
            report.sent += 1
            continue
        status = record_failure(session, item.delivery_id, outcome, worker=worker, now=clock())
        if outcome.gone:
            gone.add(item.endpoint_id)
            if _disable_gone(session, item.endpoint_id, now=clock()):
                report.disabled += 1
        session.commit()
        report.errors.append(outcome.error or "failed")
        # Endpoints are named by id only: the answer of a receiver is for the admin page.
        if status is WebhookDeliveryStatus.DEAD:
            report.dead += 1
            log.error("webhook delivery %s to endpoint %s is dead", item.delivery_id, item.endpoint_id)
        elif status is WebhookDeliveryStatus.RETRYING:
            report.retrying += 1
            log.warning(
                "webhook delivery %s to endpoint %s failed; retried later", item.delivery_id, item.endpoint_id
            )
    return True
