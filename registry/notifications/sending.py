"""Sending a claimed batch over one SMTP connection, exactly once as far as SMTP allows.

Each message is marked sent in its own commit after the server accepted it. That commit runs in
a thread of its own while the server takes the next message's envelope (MAIL FROM, RCPT TO),
and the next message's content is only sent once the commit is done. So a crash can repeat at
most the one message that was accepted and not yet recorded, under the same Message-ID, and
the database write costs the sender no time on the wire. The next message is built meanwhile in
another thread. ``bench/fanout.py`` measures what this buys against a plain ``smtplib`` loop.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app
from flask_mail import BadHeaderError, Message
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
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


class Ledger:
    """Writes delivery results in order, each in its own transaction, from one thread of its own.

    ``submit`` returns at once with a future; ``run`` waits for the result.
    """

    def __init__(self, app: Flask, engine: Engine):
        self.app = app
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._connection: Connection | None = None

    def submit(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._pool.submit(self._transaction, write, args, kwargs)

    def run(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.submit(write, *args, **kwargs).result()

    def _transaction(self, write: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self._connection is None:
            self._connection = self.engine.connect()  # made, used and closed in this thread only
        with self.app.app_context(), self._connection.begin():
            return write(self._connection, *args, **kwargs)

    def close(self) -> None:
        def close_connection() -> None:
            if self._connection is not None:
                self._connection.close()

        self._pool.submit(close_connection).result()
        self._pool.shutdown()


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
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ledger = Ledger(app, session.get_bind())  # type: ignore[arg-type]
    try:
        return _send(ledger, sender, composer, items, worker=worker, clock=clock, report=report)
    finally:
        ledger.close()


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


def _build(app: Flask, composer: Composer, item: _Item) -> _Item:
    """Turn an item's draft into the bytes to send."""
    if item.draft is not None and item.error is None:
        with app.app_context():
            try:
                message = composer.build(item.draft)
                message.as_bytes()
                item.message = message
            except Exception as error:
                _cannot_compose(item, error)
    return item


def _built_ahead(composer: Composer, items: list[_Item]) -> Iterator[_Item]:
    """The items in order, each message built while the one before it is being sent.

    One message ahead at a time keeps each turn of the helper thread short, so the sender gets
    the interpreter back as soon as the server's reply arrives.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose") as pool:
        upcoming = pool.submit(_build, app, composer, items[0]) if items else None
        for index in range(len(items)):
            assert upcoming is not None
            current = upcoming.result()
            if index + 1 < len(items):
                upcoming = pool.submit(_build, app, composer, items[index + 1])
            yield current


def _send(
    ledger: Ledger,
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
    recorded: Future[None] | None = None  # the previous message's "sent", being committed
    try:
        with sender.connect() as connection:
            for item in _built_ahead(composer, items):
                untried.discard(item.notification_id)
                recorded = _deliver_one(
                    ledger, connection, item, recorded, worker=worker, clock=clock, report=report
                )
            if recorded is not None:
                recorded.result()
    except (smtplib.SMTPException, OSError) as error:
        # Could not connect, or the connection broke: the message in hand was counted by
        # _deliver_one; the untried rest get their attempt recorded too and back off.
        if recorded is not None:
            recorded.result()
        failure = delivery.classify(error)
        report.errors.append(str(failure))
        log.warning("SMTP connection failed: %s", failure)
        for notification_id in sorted(untried):
            _record_failure(ledger, notification_id, str(failure), worker, clock, False, report)
        return False
    return True


def _deliver_one(
    ledger: Ledger,
    connection: Any,
    item: _Item,
    recorded: Future[None] | None,
    *,
    worker: str,
    clock: Clock,
    report: DeliveryReport,
) -> Future[None] | None:
    """Send one message; returns the future of its "sent" commit (None when not sent)."""

    def previous_recorded() -> None:
        if recorded is not None:
            recorded.result()  # a failed commit raises here, before this message's content goes

    if item.error is not None or item.message is None:
        previous_recorded()
        if item.error is not None:
            _record_failure(ledger, item.notification_id, item.error, worker, clock, False, report)
        else:
            ledger.run(delivery.cancel, item.notification_id, "no recipient any more", worker=worker)
            report.cancelled += 1
        return None
    try:
        connection.send(item.message, before_data=previous_recorded)
    except BadHeaderError:
        previous_recorded()
        # Cannot happen with validated addresses; if it does, resending will not help.
        _record_failure(ledger, item.notification_id, "header injection refused", worker, clock, True, report)
        return None
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        previous_recorded()
        # The server answered and the connection is still usable: go on with the next message.
        failure = delivery.classify(error)
        permanent = isinstance(failure, Permanent)
        _record_failure(ledger, item.notification_id, str(failure), worker, clock, permanent, report)
        bounced = permanent and item.subscriber_id is not None
        if bounced and ledger.run(delivery.mark_bouncing, item.subscriber_id, str(failure), now=clock()):
            report.bounced += 1
        return None
    except (smtplib.SMTPException, OSError) as error:
        previous_recorded()
        _record_failure(
            ledger, item.notification_id, str(delivery.classify(error)), worker, clock, False, report
        )
        raise
    report.sent += 1
    return ledger.submit(delivery.mark_sent, item.notification_id, worker=worker, now=clock())


def _record_failure(
    ledger: Ledger,
    notification_id: int,
    error: str,
    worker: str,
    clock: Clock,
    permanent: bool,
    report: DeliveryReport,
) -> None:
    status = ledger.run(
        delivery.mark_failed, notification_id, error, worker=worker, now=clock(), permanent=permanent
    )
    if status is NotificationStatus.DEAD:
        report.dead += 1
        log.error("notification %s is dead: %s", notification_id, error)
    elif status is NotificationStatus.RETRYING:
        report.retrying += 1
