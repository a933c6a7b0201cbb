"""Delivering the outbox: claim a batch, send it over one connection, record each result.

Exactly once, as far as SMTP allows: a batch is claimed with a lease (``FOR UPDATE SKIP LOCKED``
on PostgreSQL; SQLite serialises writers), so two senders never hold the same row; each message
is marked sent in its own commit right after the server accepted it, so a crash can repeat at
most the one message in flight, under the same Message-ID. Rows a dead sender held become
claimable again when its lease runs out.
"""

from __future__ import annotations

import logging
import os
import random
import smtplib
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_mail import BadHeaderError, Message
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, joinedload

from registry.notifications import outbox
from registry.notifications.emails import Composer
from registry.notifications.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
)
from registry.notifications.senders import Sender
from registry.subscriptions.models import Subscriber, SubscriberStatus
from registry.timeutil import UTCDateTime

# Where results are written: the ORM session, or (in the send loop) a plain connection.
Executor = Session | Connection

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    cancelled: int = 0
    bounced: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retrying {self.retrying}, dead {self.dead}, "
            f"cancelled {self.cancelled}, bounced {self.bounced}"
        )


class Temporary(Exception):
    """Try again later: 4xx, a refused or broken connection, a timeout."""


class Permanent(Exception):
    """The server refused this recipient for good (5xx)."""


def claim(session: Session, *, now: datetime, worker: str, limit: int, lease_seconds: int) -> list[int]:
    """Take up to ``limit`` due notifications for ``worker`` until the lease ends; caller commits."""
    due = or_(
        and_(
            Notification.status.in_((NotificationStatus.QUEUED, NotificationStatus.RETRYING)),
            Notification.next_attempt_at <= now,
        ),
        and_(Notification.status == NotificationStatus.SENDING, Notification.lease_until < now),
    )
    candidates = (
        select(Notification.id)
        .where(due)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(Notification)
        .where(Notification.id.in_(candidates.scalar_subquery()))
        .values(
            status=NotificationStatus.SENDING,
            lease_until=now + timedelta(seconds=lease_seconds),
            claimed_by=worker,
        )
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement).all())


def _held_by(worker: str, notification_id: int) -> Any:
    return and_(
        Notification.id == notification_id,
        Notification.status == NotificationStatus.SENDING,
        Notification.claimed_by == worker,
    )


_TABLE = Notification.__table__
# Built once: the send loop runs these for every message, so they skip the ORM (a sixth of the
# cost per message, measured by bench/fanout.py).
_MARK_SENT = (
    update(_TABLE)
    .where(
        _TABLE.c.id == bindparam("notification_id"),
        _TABLE.c.status == NotificationStatus.SENDING,
        _TABLE.c.claimed_by == bindparam("worker"),
    )
    .values(
        status=NotificationStatus.SENT,
        sent_at=bindparam("now", type_=UTCDateTime()),
        attempts=_TABLE.c.attempts + 1,
        lease_until=None,
        last_error=None,
    )
)
_RECORD_ATTEMPT = insert(DeliveryAttempt.__table__).values(
    notification_id=bindparam("notification_id"),
    at=bindparam("now", type_=UTCDateTime()),
    outcome=bindparam("outcome", type_=DeliveryAttempt.__table__.c.outcome.type),
    error=bindparam("error"),
)


def mark_sent(db: Executor, notification_id: int, *, worker: str, now: datetime) -> None:
    """The server accepted the message: sent, with its attempt recorded. The caller commits."""
    values = {"notification_id": notification_id, "worker": worker, "now": now}
    db.execute(_MARK_SENT, values)
    db.execute(_RECORD_ATTEMPT, {**values, "outcome": AttemptOutcome.SENT, "error": None})


def retry_delay(attempts: int, first: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries so a recovering server is not stampeded."""
    ceiling = min(cap, first * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  # jitter, not a secret


def mark_failed(
    db: Executor, notification_id: int, error: str, *, worker: str, now: datetime, permanent: bool
) -> NotificationStatus:
    """Record a failed attempt: retry later, or give up (dead) when permanent or too old."""
    config = current_app.config
    row = db.execute(
        select(Notification.attempts, Notification.created_at, Notification.retry_since).where(
            _held_by(worker, notification_id)
        )
    ).one_or_none()
    if row is None:  # our lease ran out and another sender has it now
        return NotificationStatus.SENDING
    attempts = row.attempts + 1
    delay = retry_delay(attempts, config["RETRY_FIRST_DELAY_SECONDS"], config["RETRY_MAX_DELAY_SECONDS"])
    next_attempt = now + timedelta(seconds=delay)
    since = row.retry_since or row.created_at
    expired = next_attempt - since > timedelta(seconds=config["RETRY_FOR_SECONDS"])
    status = NotificationStatus.DEAD if permanent or expired else NotificationStatus.RETRYING
    db.execute(
        update(Notification)
        .where(_held_by(worker, notification_id))
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt,
            lease_until=None,
            last_error=error[:2000],
        )
    )
    outcome = AttemptOutcome.PERMANENT if permanent else AttemptOutcome.TEMPORARY
    db.execute(
        _RECORD_ATTEMPT,
        {"notification_id": notification_id, "now": now, "outcome": outcome, "error": error[:2000]},
    )
    return status


def mark_bouncing(db: Executor, subscriber_id: int, error: str, *, now: datetime) -> bool:
    """A permanent refusal: stop writing to the address until it is confirmed again."""
    changed = db.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status != SubscriberStatus.BOUNCING)
        .values(status=SubscriberStatus.BOUNCING, bounced_at=now, bounce_reason=error[:2000])
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        outbox.cancel_pending(db, subscriber_id, reason="the address bounces")
    return bool(changed)


def classify(error: Exception) -> Exception:
    """Temporary or Permanent, from what smtplib or the network raised."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        text = f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        return Permanent(text) if 500 <= code < 600 else Temporary(text)
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = f"{error.smtp_code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        # A 5xx to the sender or the data says nothing about the recipient's address.
        return Temporary(text)
    return Temporary(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)


@dataclass
class _Item:
    notification_id: int
    subscriber_id: int | None
    recipient: str | None
    message: Message | None
    error: str | None = None


def _prepare(session: Session, ids: list[int], composer: Composer) -> list[_Item]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .options(joinedload(Notification.subscriber), joinedload(Notification.objection))
        .order_by(Notification.id)
    ).all()
    items = []
    for notification in rows:
        item = _Item(notification.id, notification.subscriber_id, composer.recipient(notification), None)
        if item.recipient:
            try:
                item.message = composer.compose(notification, item.recipient)
            except Exception as error:
                # A message that cannot be built is a bug: keep it visible and retried (it may be
                # fixed by a deploy), without holding up the rest of the batch.
                log.exception("could not compose notification %s", notification.id)
                item.error = f"could not compose the message: {type(error).__name__}: {error}"
        items.append(item)
    return items


def deliver_batch(
    session: Session, sender: Sender, *, worker: str, clock: Any, report: DeliveryReport
) -> bool:
    """Claim and send one batch; False when nothing was due or the server is unreachable."""
    config = current_app.config
    ids = claim(
        session,
        now=clock(),
        worker=worker,
        limit=config["DELIVERY_BATCH_SIZE"],
        lease_seconds=config["DELIVERY_LEASE_SECONDS"],
    )
    session.commit()
    if not ids:
        return False
    items = _prepare(session, ids, Composer(session))
    session.commit()  # no transaction stays open while the network is slow
    with session.get_bind().connect() as ledger:
        return _send(ledger, sender, items, worker=worker, clock=clock, report=report)


def _send(
    ledger: Connection, sender: Sender, items: list[_Item], *, worker: str, clock: Any, report: DeliveryReport
) -> bool:
    """Send over one connection, recording each result in its own short transaction."""
    pending = [item.notification_id for item in items]
    try:
        with sender.connect() as connection:
            for item in items:
                pending.remove(item.notification_id)
                _deliver_one(ledger, connection, item, worker=worker, clock=clock, report=report)
    except (smtplib.SMTPException, OSError) as error:
        # Could not connect, or the connection broke: the message in hand was counted by
        # _deliver_one; the untried rest get their attempt recorded too and back off.
        failure = classify(error)
        report.errors.append(str(failure))
        log.warning("SMTP connection failed: %s", failure)
        for notification_id in pending:
            _record_failure(ledger, notification_id, str(failure), worker, clock(), False, report)
        return False
    return True


def _deliver_one(
    ledger: Connection, connection: Any, item: _Item, *, worker: str, clock: Any, report: DeliveryReport
) -> None:
    if item.error is not None:
        _record_failure(ledger, item.notification_id, item.error, worker, clock(), False, report)
        return
    if item.message is None:
        with ledger.begin():
            ledger.execute(
                update(Notification)
                .where(_held_by(worker, item.notification_id))
                .values(
                    status=NotificationStatus.CANCELLED, lease_until=None, last_error="no recipient any more"
                )
            )
        report.cancelled += 1
        return
    try:
        connection.send(item.message)
    except BadHeaderError:
        # Cannot happen with validated addresses; if it does, resending will not help.
        _record_failure(
            ledger, item.notification_id, "header injection refused", worker, clock(), True, report
        )
        return
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        # The server answered and the connection is still usable: go on with the next message.
        failure = classify(error)
        permanent = isinstance(failure, Permanent)
        _record_failure(ledger, item.notification_id, str(failure), worker, clock(), permanent, report)
        if permanent and item.subscriber_id is not None:
            with ledger.begin():
                if mark_bouncing(ledger, item.subscriber_id, str(failure), now=clock()):
                    report.bounced += 1
        return
    except (smtplib.SMTPException, OSError) as error:
        _record_failure(ledger, item.notification_id, str(classify(error)), worker, clock(), False, report)
        raise
    # Its own commit, right after the server took it: a crash from here on cannot resend it.
    with ledger.begin():
        mark_sent(ledger, item.notification_id, worker=worker, now=clock())
    report.sent += 1


def _record_failure(
    ledger: Connection,
    notification_id: int,
    error: str,
    worker: str,
    now: datetime,
    permanent: bool,
    report: DeliveryReport,
) -> None:
    with ledger.begin():
        status = mark_failed(ledger, notification_id, error, worker=worker, now=now, permanent=permanent)
    if status is NotificationStatus.DEAD:
        report.dead += 1
        log.error("notification %s is dead: %s", notification_id, error)
    elif status is NotificationStatus.RETRYING:
        report.retrying += 1
