"""Sending a claimed batch over one SMTP connection, exactly once as far as SMTP allows.

Everything a batch needs from the database is read first, then the transaction ends: nothing
stays open while the network is slow. Each message is then built and sent, and marked sent in
its own short commit right after the server accepted it, so a crash can repeat at most the one
message in flight, under the same Message-ID. ``bench/fanout.py`` measures this loop against a
plain ``smtplib`` loop; the writes go through a plain connection, not the ORM, for that reason.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app
from flask_mail import BadHeaderError, Message
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, joinedload

from registry.notifications import delivery
from registry.notifications.delivery import DeliveryReport, Permanent
from registry.notifications.emails import Composer, Draft
from registry.notifications.models import Notification, NotificationStatus
from registry.notifications.senders import Sender
from registry.timeutil import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Item:
    notification_id: int
    subscriber_id: int | None
    recipient: str | None
    draft: Draft | None = None
    message: Message | None = None
    error: str | None = None


def deliver_batch(
    session: Session, sender: Sender, *, worker: str, clock: Clock, report: DeliveryReport
) -> bool:
    """Claim and send one batch; False when nothing was due or the server is unreachable."""
    config = current_app.config
    ids = delivery.claim(
        session,
        now=clock(),
        worker=worker,
        limit=config["DELIVERY_BATCH_SIZE"],
        lease_seconds=config["DELIVERY_LEASE_SECONDS"],
    )
    session.commit()
    if not ids:
        return False
    composer = Composer(session)
    items = _prepare(session, ids, composer)
    session.commit()  # no transaction stays open while the network is slow
    with session.get_bind().connect() as ledger:
        return _send(ledger, sender, composer, items, worker=worker, clock=clock, report=report)


def _prepare(session: Session, ids: list[int], composer: Composer) -> list[_Item]:
    """Everything the batch needs from the database, read now: sending reads nothing."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .options(joinedload(Notification.subscriber), joinedload(Notification.objection))
        .order_by(Notification.id)
    ).all()
    items = []
    for notification in rows:
        item = _Item(notification.id, notification.subscriber_id, composer.recipient(notification))
        if item.recipient:
            try:
                item.draft = composer.draft(notification, item.recipient)
            except Exception as error:
                _cannot_compose(item, error)
        items.append(item)
    return items


def _cannot_compose(item: _Item, error: Exception) -> None:
    # A message that cannot be built is a bug: keep it visible and retried (a deploy may fix it),
    # without holding up the rest of the batch.
    log.error("could not compose notification %s", item.notification_id, exc_info=error)
    item.error = f"could not compose the message: {type(error).__name__}: {error}"


def _build(composer: Composer, item: _Item) -> _Item:
    """Turn an item's draft into the message to send."""
    if item.draft is not None and item.error is None:
        try:
            item.message = composer.build(item.draft)
        except Exception as error:
            _cannot_compose(item, error)
    return item


def _send(
    ledger: Connection,
    sender: Sender,
    composer: Composer,
    items: list[_Item],
    *,
    worker: str,
    clock: Clock,
    report: DeliveryReport,
) -> bool:
    """Send over one connection; True unless the connection failed."""
    untried = {item.notification_id for item in items}
    try:
        with sender.connect() as connection:
            for item in items:
                untried.discard(item.notification_id)
                _deliver_one(
                    ledger, connection, _build(composer, item), worker=worker, clock=clock, report=report
                )
    except (smtplib.SMTPException, OSError) as error:
        # Could not connect, or the connection broke: the message in hand was counted by
        # _deliver_one; the untried rest get their attempt recorded too and back off.
        failure = delivery.classify(error)
        report.errors.append(str(failure))
        log.warning("SMTP connection failed: %s", failure)
        for notification_id in sorted(untried):
            _record_failure(ledger, notification_id, str(failure), worker, clock, False, report)
        return False
    return True


def _write(ledger: Connection, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One result, in its own short transaction."""
    with ledger.begin():
        return write(ledger, *args, **kwargs)


def _deliver_one(
    ledger: Connection, connection: Any, item: _Item, *, worker: str, clock: Clock, report: DeliveryReport
) -> None:
    if item.error is not None:
        _record_failure(ledger, item.notification_id, item.error, worker, clock, False, report)
        return
    if item.message is None:
        _write(ledger, delivery.cancel, item.notification_id, "no recipient any more", worker=worker)
        report.cancelled += 1
        return
    try:
        connection.send(item.message)
    except BadHeaderError:
        # Cannot happen with validated addresses; if it does, resending will not help.
        _record_failure(ledger, item.notification_id, "header injection refused", worker, clock, True, report)
        return
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        # The server answered and the connection is still usable: go on with the next message.
        failure = delivery.classify(error)
        permanent = isinstance(failure, Permanent)
        _record_failure(ledger, item.notification_id, str(failure), worker, clock, permanent, report)
        bounced = permanent and item.subscriber_id is not None
        if bounced and _write(ledger, delivery.mark_bouncing, item.subscriber_id, str(failure), now=clock()):
            report.bounced += 1
        return
    except (smtplib.SMTPException, OSError) as error:
        _record_failure(
            ledger, item.notification_id, str(delivery.classify(error)), worker, clock, False, report
        )
        raise
    # Its own commit, right after the server took it: a crash from here on cannot resend it.
    _write(ledger, delivery.mark_sent, item.notification_id, worker=worker, now=clock())
    report.sent += 1


def _record_failure(
    ledger: Connection,
    notification_id: int,
    error: str,
    worker: str,
    clock: Clock,
    permanent: bool,
    report: DeliveryReport,
) -> None:
    status = _write(
        ledger, delivery.mark_failed, notification_id, error, worker=worker, now=clock(), permanent=permanent
    )
    if status is NotificationStatus.DEAD:
        report.dead += 1
        log.error("notification %s is dead: %s", notification_id, error)
    elif status is NotificationStatus.RETRYING:
        report.retrying += 1
