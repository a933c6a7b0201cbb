"""Sending a claimed batch over one SMTP connection (or two), exactly once as far as SMTP allows.

A connection that breaks is opened once more and the batch goes on; only the message in flight
is charged an attempt. A message sent in full whose reply never came may have been accepted:
its attempt says the outcome is unknown, and it is sent again under the same Message-ID.

Everything a batch needs from the database is read first, then the transaction ends: nothing
stays open while the network is slow. Each accepted message's sent attempt is recorded in its
own short commit after the server accepted it and before the next message's content is ended
(its lone dot, before which no server accepts it), so a crash can repeat at most the one message
accepted and not yet recorded, under the same Message-ID. The attempt is the record: the batch's
rows are marked sent together when it ends, and a row claimed again after a sender stopped is
marked sent, not sent again, if it has one. That commit starts as soon as the server accepted
the message and goes on while the next one is serialised, its envelope exchanged and its content
sent (on PostgreSQL the database works on it meanwhile, see ``_Ledger``); the next message is
built while the server considers this one's content (see ``_Run``): the database's round trips
overlap the SMTP server's instead of adding to them. ``bench/fanout.py`` measures the loop
against a plain ``smtplib`` loop. The writes go through a plain connection, not the ORM, for
the same reason.
"""

from __future__ import annotations

import logging
import smtplib
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from flask_mail import BadHeaderError, Message
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, joinedload

from registry.database import transaction_intent
from registry.notifications import delivery
from registry.notifications.delivery import DeliveryReport, Permanent
from registry.notifications.emails import SUBSCRIBER_KINDS, Composer, Draft
from registry.notifications.models import Notification, NotificationStatus
from registry.notifications.senders import Sender
from registry.redaction import redact_addresses
from registry.smtp import NotConnected, OutcomeUnknown, UnsendableMessage
from registry.subscriptions.models import Subscriber
from registry.timeutil import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Item:
    notification_id: int
    subscriber_id: int | None
    recipient: str | None
    # A permanent refusal marks the subscriber bouncing only if it refused their own address
    # (not, say, a new address they asked to change to).
    own_address: bool = False
    draft: Draft | None = None
    message: Message | None = None
    error: str | None = None
    # Accepted by the server already, under a claim whose sender stopped before its batch
    # ended (``delivery.accepted_before``): marked sent with this batch, not sent again.
    accepted: bool = False


def deliver_batch(
    session: Session,
    sender: Sender,
    *,
    worker: str,
    clock: Clock,
    report: DeliveryReport,
    composer: Composer | None = None,
) -> bool:
    """Claim and send one batch; False when nothing was due or the server is unreachable.

    ``composer``: the one of the batches before, in a run of several, so that a notice's email
    is rendered once per run, not once per batch (a published notice does not change)."""
    config = current_app.config
    claimed_at = clock()
    ids = delivery.claim(
        session,
        now=claimed_at,
        worker=worker,
        limit=config["DELIVERY_BATCH_SIZE"],
        lease_seconds=config["DELIVERY_LEASE_SECONDS"],
    )
    session.commit()
    if not ids:
        return False
    composer = composer or Composer(session)
    # Reading and rendering the batch writes nothing: on SQLite it need not hold the write lock
    # (BEGIN IMMEDIATE, as jobs begin), which would stall another sender's marks meanwhile.
    with transaction_intent(writes=False):
        items = _prepare(session, ids, composer)
        session.commit()  # no transaction stays open while the network is slow
    # A message is only started while the claim is sure to outlast it, even if every step of
    # its SMTP exchange takes the whole timeout: after the lease, another sender may take it.
    margin = min(5 * config["MAIL_TIMEOUT"], config["DELIVERY_LEASE_SECONDS"] / 2)
    deadline = claimed_at + timedelta(seconds=config["DELIVERY_LEASE_SECONDS"] - margin)
    ledger = _Ledger(session.get_bind().engine, worker)
    try:
        run = _Run(ledger, composer, items, worker=worker, clock=clock, report=report, deadline=deadline)
        return _send(run, sender, deadline)
    finally:
        ledger.close()


def _prepare(session: Session, ids: list[int], composer: Composer) -> list[_Item]:
    """Everything the batch needs from the database, read now: sending reads nothing.

    Notices, reminders and revisions (nearly every message) need a few columns each: they are
    read in one plain query, not loaded as objects (building those was a fifth of a sender's
    time, ``bench/fanout.py``). The other kinds are loaded as objects, as their emails need.
    """
    rows = session.execute(_BATCH, {"ids": ids}).all()
    others = [row.id for row in rows if row.kind not in SUBSCRIBER_KINDS]
    loaded = (
        {
            notification.id: notification
            for notification in session.scalars(
                select(Notification)
                .where(Notification.id.in_(others))
                .options(joinedload(Notification.subscriber), joinedload(Notification.objection))
            )
        }
        if others
        else {}
    )
    items = []
    for row in rows:
        if row.accepted:
            items.append(_Item(row.id, row.subscriber_id, None, accepted=True))
            continue
        notification = loaded.get(row.id)
        if notification is None:  # one of SUBSCRIBER_KINDS
            recipient = composer.subscriber_recipient(row.email, row.status)
        else:
            recipient = composer.recipient(notification)
        own = row.email is not None and recipient == row.email
        item = _Item(row.id, row.subscriber_id, recipient, own)
        if recipient:
            try:
                if notification is None:
                    item.draft = composer.subscriber_draft(
                        row.id,
                        row.kind,
                        notice_id=row.notice_id,
                        revision_id=row.revision_id,
                        recipient=recipient,
                        token_key=row.token_key,
                    )
                else:
                    item.draft = composer.draft(notification, recipient)
            except Exception as error:
                _cannot_compose(item, error)
        items.append(item)
    return items


_BATCH = (
    select(
        Notification.id,
        Notification.kind,
        Notification.subscriber_id,
        Notification.notice_id,
        Notification.revision_id,
        Subscriber.email,
        Subscriber.status,
        Subscriber.token_key,
        delivery.accepted_before().label("accepted"),
    )
    .outerjoin(Subscriber, Subscriber.id == Notification.subscriber_id)
    .where(Notification.id.in_(bindparam("ids", expanding=True)))
    .order_by(Notification.id)
)


def _cannot_compose(item: _Item, error: Exception) -> None:
    # A message that cannot be built is a bug: keep it visible and retried (a deploy may fix it),
    # without holding up the rest of the batch.
    # Where it failed (the frames: file, line, code) and what, with any address redacted: a
    # logged traceback would print the exception's text as it is, and that may quote one.
    log.error(
        "could not compose notification %s: %s: %s\n%s",
        item.notification_id,
        type(error).__name__,
        redact_addresses(str(error)),
        "".join(traceback.format_tb(error.__traceback__)),
    )
    item.error = f"could not compose the message: {type(error).__name__}: {error}"


def _build(composer: Composer, item: _Item) -> _Item:
    """Turn an item's draft into the message to send."""
    if item.draft is not None and item.error is None:
        try:
            item.message = composer.build(item.draft)
        except Exception as error:
            _cannot_compose(item, error)
    return item


class _Broken(Exception):
    """The connection broke while ``index`` was being sent; ``charged`` if that message was
    already given its failed attempt (it was in flight), else it is still untried."""

    def __init__(self, error: Exception, *, index: int, charged: bool):
        super().__init__(str(error))
        self.error, self.index, self.charged = error, index, charged


def _send(run: _Run, sender: Sender, deadline: datetime) -> bool:
    """Send the batch; True unless the server could not be reached or time ran out.

    A connection that breaks mid-batch charges the message in flight only, and is opened once
    more for the rest: one dropped connection should not hold up two hundred messages. If it
    breaks again, or cannot be opened again, the rest is given back untried for the next run.
    """
    report = run.report
    # A message accepted under an earlier claim needs no server: its row is marked sent with
    # the batch whatever happens here, never charged for a server that is down nor given back.
    untried = deque(index for index, item in enumerate(run.items) if not item.accepted)
    run.ledger.accepted.extend(item.notification_id for item in run.items if item.accepted)

    def give_back() -> None:
        ids = [run.items[index].notification_id for index in untried]
        run.ledger.write(delivery.release, ids, worker=run.worker)

    reconnected = False
    while True:
        try:
            with sender.connect() as connection:
                run.ahead = None  # an envelope sent ahead on a connection that broke is gone
                while untried:
                    # (Unless its envelope went out with the last message's end: then it goes.)
                    if run.clock() >= deadline and run.ahead != untried[0]:
                        log.warning("lease of batch ending: %d notifications given back", len(untried))
                        run.record_accepted()
                        give_back()
                        return False
                    run.deliver(connection, untried.popleft())
                run.record_accepted()
            return True
        except _Broken as broken:
            # What was accepted is recorded, the message in flight has its attempt (deliver).
            if not broken.charged:
                untried.appendleft(broken.index)
            failure = delivery.classify(broken.error)
            report.errors.append(str(failure))
            log.warning("SMTP connection broke: %s", redact_addresses(str(failure)))
            if reconnected:
                give_back()
                return False
            reconnected = True
        except (smtplib.SMTPException, OSError) as error:
            run.record_accepted()
            failure = delivery.classify(error)
            report.errors.append(str(failure))
            log.warning("SMTP connection failed: %s", redact_addresses(str(failure)))
            if reconnected:
                # The server was there a moment ago: the rest waits for the next run, uncharged.
                give_back()
                return False
            # Unreachable from the start: every message of the batch was tried, and backs off.
            for index in untried:
                notification_id = run.items[index].notification_id
                _record_failure(
                    run.ledger, notification_id, str(failure), run.worker, run.clock, False, report
                )
            return False
        except Exception:
            # A bug: the rows not tried yet are given back at once rather than left to their lease.
            give_back()
            raise


class _Ledger:
    """The send loop's writes: on a connection of their own, one at a time and in the order
    they were asked for, in the sending thread.

    ``record_sent_soon`` starts marking a message sent (``delivery.SentMarks``): on PostgreSQL
    it returns at once, so the round trip to the database server overlaps the next message's
    serialising, envelope and content; ``settle`` waits until it is committed, and the sender
    calls it before that content is ended (and every other write waits for it first). On
    SQLite the mark is done by the time it returns (a library in this process: no round trip
    to overlap), so the sender settles before the content and writes it in one go.
    """

    def __init__(self, engine: Engine, worker: str):
        self.worker = worker
        # The messages accepted, whose rows are marked sent together when the batch ends.
        self.accepted: list[int] = []
        self.connection: Connection = engine.connect()
        try:
            delivery.ledger_opened(self.connection)
        except BaseException:
            self.connection.close()
            raise
        self._marks = delivery.SentMarks(self.connection)
        # Where the sender waits for the record: as late as the guarantee allows (before the end
        # of the next content) when the mark overlaps; else anywhere, and one write of the whole
        # content saves a system call per message.
        self.waits: dict[str, Callable[[], Any]] = (
            {"before_end": self.settle, "end_ready": self._marks.done}
            if self._marks.overlaps
            else {"before_content": self.settle}
        )

    def write(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``write(connection, *args, **kwargs)`` in its own short transaction; its result."""
        self.settle()
        with delivery.ledger_write(self.connection), self.connection.begin():
            return write(self.connection, *args, **kwargs)

    def record_sent_soon(self, notification_id: int, *, now: datetime) -> None:
        """Start recording that ``notification_id``'s message was accepted (its own commit);
        ``settle`` waits for it."""
        self._marks.start(notification_id, now=now)
        self.accepted.append(notification_id)

    def settle(self) -> None:
        """Wait until the write started last is committed; raise what it raised."""
        self._marks.wait()

    def close(self) -> None:
        """Mark the accepted messages' rows sent, and give the connection back. If that fails,
        their sent attempts are recorded all the same: whoever claims them after their lease
        marks them (``delivery.accepted_before``)."""
        try:
            self.settle()
            self.write(delivery.settle_sent, self.accepted, worker=self.worker)
        finally:
            try:
                delivery.ledger_closing(self.connection)
            finally:
                self.connection.close()


class _Run:
    """One batch going out on one connection.

    The message the server accepted last starts being recorded as sent (its own commit) as soon
    as the server's reply says so, goes on while the next one is serialised, its envelope
    exchanged and its content sent, and is always committed before that content is ended: at
    any moment at most one message is accepted and not yet recorded, and that is the only one a
    crash can make us send twice. The next message is built while the server considers this
    one's envelope, and its envelope goes with this one's end (``following``).
    """

    def __init__(
        self,
        ledger: _Ledger,
        composer: Composer,
        items: list[_Item],
        *,
        worker: str,
        clock: Clock,
        report: DeliveryReport,
        deadline: datetime,
    ):
        self.ledger, self.composer, self.items = ledger, composer, items
        self.worker, self.clock, self.report = worker, clock, report
        self.deadline = deadline
        self.accepted: int | None = None
        self.built = -1  # index of the last item built
        self.ahead: int | None = None  # index of the item whose envelope went out early

    def record_accepted(self) -> None:
        """Record the message accepted last, and wait until it is committed."""
        self.record_accepted_soon()
        self.ledger.settle()

    def record_accepted_soon(self) -> None:
        """Start recording the message accepted last; the ledger commits it meanwhile."""
        if self.accepted is not None:
            self.ledger.record_sent_soon(self.accepted, now=self.clock())
            self.accepted = None
            self.report.sent += 1

    def build(self, index: int) -> None:
        if self.built < index < len(self.items):
            _build(self.composer, self.items[index])
            self.built = index

    def following(self, index: int) -> Message | None:
        """The message to send after ``index``'s, if it is to go out next on this connection
        (built, sendable, and time left): its envelope may go with this one's end."""
        self.ahead = None
        after = index + 1
        if after >= len(self.items) or self.clock() >= self.deadline:
            return None
        item = self.items[after]
        if item.accepted or item.error is not None or item.message is None:
            return None
        self.ahead = after
        return item.message

    def deliver(self, connection: Any, index: int) -> None:
        self.build(index)
        item = self.items[index]
        ledger, worker, clock, report = self.ledger, self.worker, self.clock, self.report
        if item.error is not None or item.message is None:
            self.record_accepted()
            if item.error is not None:
                _record_failure(ledger, item.notification_id, item.error, worker, clock, False, report)
            else:
                ledger.write(delivery.cancel, item.notification_id, "no recipient any more", worker=worker)
                report.cancelled += 1
            return
        try:
            connection.send(
                item.message,
                while_envelope=lambda: self.build(index + 1),
                following=lambda: self.following(index),
                **self.ledger.waits,
            )
        except (BadHeaderError, UnsendableMessage) as error:
            self.record_accepted()
            # Addresses are validated when stored, so this should not happen; if it does,
            # resending will not help: the notification is dead, the batch goes on.
            reason = f"cannot be sent: {error or 'a line break in a header'}"
            _record_failure(ledger, item.notification_id, reason, worker, clock, True, report)
            return
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            self.record_accepted()
            # The server answered and the connection is still usable: go on with the next message.
            failure = delivery.classify(error)
            permanent = isinstance(failure, Permanent)
            _record_failure(ledger, item.notification_id, str(failure), worker, clock, permanent, report)
            bounced = permanent and item.own_address and item.subscriber_id is not None
            if bounced and ledger.write(
                delivery.mark_bouncing, item.subscriber_id, str(failure), now=clock()
            ):
                report.bounced += 1
            return
        except NotConnected as error:
            # Closed before this message began (a 421 to the last one): it goes out on the next.
            self.record_accepted()
            raise _Broken(error, index=index, charged=False) from error
        except OutcomeUnknown as error:
            # The server has the whole message and may have accepted it: say so where operators
            # look, and send it again later (same Message-ID) rather than risk losing it.
            self.record_accepted()
            reason = (
                f"outcome unknown: {error}; the server may have accepted the message. "
                "It is sent again, with the same Message-ID, after the usual delay."
            )
            log.warning("notification %s: no reply to the end of its message", item.notification_id)
            _record_failure(ledger, item.notification_id, reason, worker, clock, False, report)
            report.unknown += 1
            raise _Broken(error, index=index, charged=True) from error
        except (smtplib.SMTPException, OSError) as error:
            # The connection broke with this message in flight: it alone gets a failed attempt.
            self.record_accepted()
            reason = str(delivery.classify(error))
            _record_failure(ledger, item.notification_id, reason, worker, clock, False, report)
            raise _Broken(error, index=index, charged=True) from error
        except Exception as error:
            # A bug: this message gets a failed attempt, the caller gives back the rest.
            self.record_accepted()
            reason = str(delivery.classify(error))
            _record_failure(ledger, item.notification_id, reason, worker, clock, False, report)
            raise
        self.accepted = item.notification_id
        # At once: the commit overlaps everything the next message does before its end.
        self.record_accepted_soon()


def _record_failure(
    ledger: _Ledger,
    notification_id: int,
    error: str,
    worker: str,
    clock: Clock,
    permanent: bool,
    report: DeliveryReport,
) -> None:
    status = ledger.write(
        delivery.mark_failed, notification_id, error, worker=worker, now=clock(), permanent=permanent
    )
    if status is NotificationStatus.DEAD:
        report.dead += 1
        # The reply often quotes the address: the log keeps its code only (the admin page has it all).
        log.error("notification %s is dead (%s)", notification_id, error.split(" ", 1)[0])
    elif status is NotificationStatus.RETRYING:
        report.retrying += 1
