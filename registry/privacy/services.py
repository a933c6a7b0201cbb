"""A person's rights over the data we hold about their address, and the retention periods.

- ``subject_data``: everything held about an address (the subscriber, subscriptions to lists and
  documents, what it asked for and has not confirmed yet, confirmations, notifications and their
  attempts, objections), as one JSON-ready mapping that the manage page, the admin page and the
  download all show.
- ``erase_address`` / ``erase_subscriber``: the address removed wherever it can be and
  anonymised where a record must stay as evidence; audited with a keyed hash, never in clear.
- ``retention_batches``: what the retention job does, batch by batch, with the clock and the
  periods as arguments.

Functions take the session and the moment and never commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from registry.audit.models import AuditEvent
from registry.audit.services import SYSTEM, Actor, record
from registry.database import unindexed
from registry.documents.models import DocumentRevision
from registry.documents.services import revision_notice_title
from registry.lists.models import Notice
from registry.lists.wording import notice_title
from registry.notifications import delivery, outbox
from registry.notifications.models import (
    DeliveryAttempt,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from registry.objections.models import Objection
from registry.privacy import scrub, traces
from registry.privacy.scrub import ERASED, forget_deliveries, holds_address
from registry.security import fingerprint
from registry.subscriptions import services as subscriptions
from registry.subscriptions.models import PendingSubscription, Subscriber, SubscriberStatus, Subscription
from registry.timeutil import rfc3339

ERASE_ACTION = "subscriber.erase"
# Notifications whose fate is settled: only these are anonymised by age (a pending one is owed).
SETTLED = (
    NotificationStatus.SENT,
    NotificationStatus.DEAD,
    NotificationStatus.CANCELLED,
    NotificationStatus.BUNDLED,
)


def _moment(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


# --- access -----------------------------------------------------------------------------------


def _objections_of(session: Session, address: str) -> list[Objection]:
    """Objections sent with this address, however its letters were cased when typed.

    Objection addresses are stored lower case (``registry.validation.normalise_email``), but
    rows written before that keep the local part as it was typed ("Ada@example.com"); no
    migration rewrote them. SQL cannot compare those: SQLite's lower() folds ASCII letters
    only. So SQL narrows to the address's domain (always stored normalised, lower case) and
    the comparison, both sides lower-cased, is made here: a handful of rows per domain.
    """
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    candidates = session.scalars(
        select(Objection)
        .where(func.lower(Objection.email).endswith("@" + domain, autoescape=True))
        .options(selectinload(Objection.notice))
        .order_by(Objection.created_at, Objection.id)
    )
    return [objection for objection in candidates if objection.email.lower() == address]


def _confirmations_to(session: Session, address: str) -> list[Notification]:
    """Confirmations sent to ``address`` as someone's new address (a subscriber asked to move to
    it): the row is the other subscriber's, the address in its context is this one."""
    address = address.strip().lower()
    return _confirmations_to_any(session, [address]).get(address, [])


def _confirmations_to_any(session: Session, addresses: Iterable[str]) -> dict[str, list[Notification]]:
    """``_confirmations_to`` for each of ``addresses`` (lower case), in one read.

    JSON paths compare differently in SQLite and PostgreSQL, so SQL only finds the confirmations
    that name an address at all, and the addresses are compared here.
    """
    wanted = set(addresses)
    found: dict[str, list[Notification]] = {}
    candidates = session.scalars(
        select(Notification)
        .where(Notification.kind == NotificationKind.CONFIRMATION, holds_address())
        .order_by(Notification.created_at, Notification.id)
        .execution_options(populate_existing=True)
    )
    for notification in candidates:
        address = str((notification.context or {}).get("address") or "").lower()
        if address in wanted:
            found.setdefault(address, []).append(notification)
    return found


def _notice(notice: Notice | None) -> dict[str, Any] | None:
    if notice is None:
        return None
    return {
        "reference": notice.uuid,
        "list": notice.register_list.title,
        "title": notice_title(notice),
        "effective_at": _moment(notice.effective_at),
    }


def _revision(revision: DocumentRevision | None, kind: NotificationKind) -> dict[str, Any] | None:
    if revision is None:
        return None
    return {
        "reference": revision.uuid,
        "document": revision.document.title,
        "number": revision.number,
        "title": revision_notice_title(revision, withdrawal=kind is NotificationKind.REVISION_WITHDRAWAL),
        "effective_at": _moment(revision.effective_at),
    }


def _target(row: Subscription | PendingSubscription) -> dict[str, Any]:
    """What a subscription or a request is to: a list ("list") or a document ("document")."""
    what = "document" if row.is_document else "list"
    return {what: row.title, "slug": row.slug, "frequency": row.frequency.value}


def _subscription(subscription: Subscription) -> dict[str, Any]:
    return {**_target(subscription), "since": _moment(subscription.created_at)}


def _pending(pending: PendingSubscription) -> dict[str, Any]:
    """One list or document asked for and not confirmed yet."""
    return {**_target(pending), "requested_at": _moment(pending.requested_at)}


def _notification(notification: Notification, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    context = notification.context or {}
    return {
        "id": notification.id,
        "kind": notification.kind.value,
        "notice": _notice(notification.notice),
        "revision": _revision(notification.revision, notification.kind),
        "status": notification.status.value,
        "created_at": _moment(notification.created_at),
        "sent_at": _moment(notification.sent_at),
        "attempts": [{"at": _moment(a.at), "outcome": a.outcome.value, "error": a.error} for a in attempts],
        "last_error": notification.last_error,
        # A confirmation says what it asked to confirm: lists, documents and frequency, or a new
        # address.
        "context": dict(context) if context else None,
    }


def subject_data(session: Session, address: str, *, now: datetime) -> dict[str, Any]:
    """Everything held about ``address`` (normalised), for the person it belongs to (GDPR Art. 15).

    Complete by construction: every table that refers to a subscriber or holds an objector's
    address is read here (the audit trail holds neither, only ids).
    """
    subscriber = subscriptions.find_subscriber(session, address)
    data: dict[str, Any] = {
        "address": address,
        "generated_at": rfc3339(now),
        "subscriber": None,
        "subscriptions": [],
        "pending": [],
        "confirmations": [],
        "notifications": [],
        "objections": [],
    }
    if subscriber is not None:
        data["subscriber"] = {
            "email": subscriber.email,
            "status": subscriber.status.value,
            "created_at": _moment(subscriber.created_at),
            "confirmation_requested_at": _moment(subscriber.requested_at),
            "confirmed_at": _moment(subscriber.confirmed_at),
            "confirmations": subscriber.confirmations,
            "unsubscribed_at": _moment(subscriber.unsubscribed_at),
            "bounced_at": _moment(subscriber.bounced_at),
            "bounce_reason": subscriber.bounce_reason,
        }
        data["subscriptions"] = [_subscription(s) for s in subscriber.subscriptions]
        data["pending"] = [_pending(p) for p in subscriber.pending]
        notifications = session.scalars(
            select(Notification)
            .where(Notification.subscriber_id == subscriber.id)
            .options(selectinload(Notification.notice), selectinload(Notification.revision))
            .order_by(Notification.created_at, Notification.id)
        ).all()
        attempts = _attempts(session, [n.id for n in notifications])
        for notification in notifications:
            shown = _notification(notification, attempts.get(notification.id, []))
            confirmation = notification.kind is NotificationKind.CONFIRMATION
            key = "confirmations" if confirmation else "notifications"
            data[key].append(shown)
    # Confirmations sent to this address for another subscriber who asked to move to it.
    shown_ids = {shown["id"] for shown in data["confirmations"]}
    to_address = [n for n in _confirmations_to(session, address) if n.id not in shown_ids]
    attempts = _attempts(session, [n.id for n in to_address])
    for notification in to_address:
        data["confirmations"].append(_notification(notification, attempts.get(notification.id, [])))
    for objection in _objections_of(session, address):
        data["objections"].append(
            {
                "reference": objection.reference,
                "notice": _notice(objection.notice),
                "organisation": objection.organisation,
                "contact_name": objection.contact_name,
                "email": objection.email,
                "reason": objection.reason,
                "received_at": _moment(objection.created_at),
                "status": objection.status.value,
                "handled_at": _moment(objection.handled_at),
                "handled_note": objection.handled_note,
            }
        )
    return data


def _attempts(session: Session, notification_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {}
    for start in range(0, len(notification_ids), 500):
        chunk = notification_ids[start : start + 500]
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.notification_id.in_(chunk))
            .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
        ):
            found.setdefault(attempt.notification_id, []).append(attempt)
    return found


def holds_anything(data: Mapping[str, Any]) -> bool:
    return data["subscriber"] is not None or bool(data["objections"]) or bool(data["confirmations"])


# --- erasure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    """What one erasure did, counted (the audit event keeps these numbers)."""

    subscriber: bool = False
    subscriptions: int = 0
    cancelled: int = 0
    notifications: int = 0
    objections: int = 0
    # Confirmations sent to the address for another subscriber who asked to move to it.
    address_changes: int = 0

    @property
    def found(self) -> bool:
        return self.subscriber or bool(self.objections) or bool(self.address_changes)


def _scrub_names(text: str | None, names: Iterable[str]) -> str | None:
    """``text`` without these names, matched as whole words (a name "Ann" leaves "Annual" be)."""
    if text is None:
        return None
    for name in names:
        if name and name != ERASED:
            text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", ERASED, text, flags=re.IGNORECASE)
    return text


def _anonymise_objections(session: Session, address: str) -> int:
    """Objections sent with ``address`` lose the objector's address and name.

    The organisation, the notice, the dates and the status stay, so objections per notice still
    add up. The reason stays too, with the address and the name taken out of it: it is the
    customer organisation's objection under Art. 28(2), which we must be able to show we received
    and answered (Art. 17(3)(e), legal claims); it is erased with the rest when its retention
    period (RETENTION_OBJECTION_YEARS) ends. The handling note is cleaned the same way.
    """
    objections = _objections_of(session, address)
    for objection in objections:
        needles = [address, objection.email]
        names = [objection.contact_name]
        objection.reason = _scrub_names(scrub.scrub_text(objection.reason, needles), names) or ERASED
        objection.handled_note = _scrub_names(scrub.scrub_text(objection.handled_note, needles), names)
        objection.email = ERASED
        objection.contact_name = ERASED
    if objections:
        ids = [objection.id for objection in objections]
        # A receipt still owed would go to an address we no longer have.
        session.execute(
            update(Notification)
            .where(Notification.objection_id.in_(ids), Notification.status.in_(outbox.PENDING))
            .values(status=NotificationStatus.CANCELLED, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        forget_deliveries(session, Notification.objection_id.in_(ids))
    session.flush()
    return len(objections)


def _forget_address_changes(session: Session, addresses: Iterable[str]) -> dict[str, int]:
    """Other subscribers' requests to move to one of ``addresses`` lose it: a confirmation not
    yet settled is cancelled (one being sent too: without the address, a retry would have
    nowhere to go), and every one keeps only what it was for, as when a new address is never
    confirmed. Returns how many there were for each address."""
    redirected = _confirmations_to_any(session, addresses)
    # Accepted by the server already, its row marked sent when its batch ends (the sent attempt
    # is the record, ``registry.notifications.sending``): sent, not to be cancelled.
    ids = [notification.id for notifications in redirected.values() for notification in notifications]
    accepted = set(
        session.scalars(select(Notification.id).where(Notification.id.in_(ids), delivery.accepted_before()))
        if ids
        else ()
    )
    for notifications in redirected.values():
        for notification in notifications:
            if notification.status not in SETTLED and notification.id not in accepted:
                notification.status = NotificationStatus.CANCELLED
                notification.last_error = "address erased"
                notification.lease_until = None
            notification.context = {"purpose": subscriptions.ADDRESS_CHANGE}
    session.flush()
    return {address: len(notifications) for address, notifications in redirected.items()}


def _per_subscriber(session: Session, ids: list[int], *conditions: ColumnElement[bool]) -> dict[int, int]:
    """How many notifications of each of the subscribers ``ids`` match ``conditions``."""
    rows = session.execute(
        select(Notification.subscriber_id, func.count())
        .where(Notification.subscriber_id.in_(ids), *conditions)
        .group_by(Notification.subscriber_id)
    ).all()
    return {int(subscriber_id or 0): int(count) for subscriber_id, count in rows}


def erase_address(
    session: Session,
    address: str,
    *,
    actor: Actor,
    now: datetime,
    reason: str,
    objections: bool = True,
) -> Erasure:
    """Erase ``address`` (normalised) everywhere we can, on its owner's request (GDPR Art. 17).

    The subscriber row goes (its subscriptions and pending requests with it); what was still owed
    to it is cancelled; its notifications stay, unlinked and without error texts or context, so
    that "a notice was sent to a subscriber on a date" stays countable; another subscriber's
    request to move to this address is cancelled and forgets it; objections sent with it are
    anonymised (unless ``objections`` is False: the retention of an unsubscribed address leaves
    the objections to their own period). No other row's error text needs reading: none holds an
    address (``registry.redaction``). The audit event holds a keyed hash of the address
    (``fingerprint``), never the address.
    """
    [erasure] = erase_addresses(
        session, [address], actor=actor, now=now, reason=reason, objections=objections
    )
    return erasure


def erase_addresses(
    session: Session,
    addresses: Iterable[str],
    *,
    actor: Actor,
    now: datetime,
    reason: str,
    objections: bool = True,
) -> list[Erasure]:
    """``erase_address`` for each of ``addresses``, in one statement per kind of record rather
    than one per address: what the retention job erases by the hundred costs per address what
    one erasure costs, however many subscribers there are. One Erasure (and one audit event, for
    an address found) per distinct address, in order."""
    wanted = list(dict.fromkeys(address.strip().lower() for address in addresses))
    subscribers = {
        subscriber.email: subscriber
        for subscriber in session.scalars(
            select(Subscriber)
            .where(Subscriber.email.in_(wanted))
            .options(selectinload(Subscriber.subscriptions), selectinload(Subscriber.pending))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    address_changes = _forget_address_changes(session, wanted)
    ids = [subscriber.id for subscriber in subscribers.values()]
    subscriptions_of = {subscriber.id: len(subscriber.subscriptions) for subscriber in subscribers.values()}
    cancelled = (
        _per_subscriber(session, ids, unindexed(Notification.status).in_(outbox.PENDING)) if ids else {}
    )
    if ids:
        outbox.cancel_pending(session, ids, reason="address erased")
    notifications = _per_subscriber(session, ids) if ids else {}
    if ids:
        forget_deliveries(session, Notification.subscriber_id.in_(ids))
        for subscriber in subscribers.values():
            session.delete(subscriber)
        session.flush()
    anonymised = (
        {address: _anonymise_objections(session, address) for address in wanted} if objections else {}
    )
    # Copies outside the rows (mail files, SQLite's log) go when the caller commits; even when
    # no row held the address, a file written before may.
    traces.forget_on_commit(session, wanted)
    erasures = []
    for address in wanted:
        found = subscribers.get(address)
        subscriber_id = found.id if found is not None else None
        erasure = Erasure(
            subscriber=found is not None,
            subscriptions=subscriptions_of.get(subscriber_id, 0) if subscriber_id is not None else 0,
            cancelled=cancelled.get(subscriber_id, 0) if subscriber_id is not None else 0,
            notifications=notifications.get(subscriber_id, 0) if subscriber_id is not None else 0,
            objections=anonymised.get(address, 0),
            address_changes=address_changes.get(address, 0),
        )
        if erasure.found:
            record(
                session,
                ERASE_ACTION,
                actor,
                now=now,
                target=("subscriber", subscriber_id) if subscriber_id is not None else None,
                # A reason typed by an admin might quote the address: it is taken out first.
                summary=scrub.scrub_text(reason, [address]) or "",
                after={"address_hmac": fingerprint(address), **asdict(erasure)},
            )
        erasures.append(erasure)
    return erasures


def erase_subscriber(
    session: Session,
    subscriber: Subscriber,
    *,
    actor: Actor,
    now: datetime,
    reason: str,
    objections: bool = True,
) -> Erasure:
    """Erase a subscriber's address everywhere (see ``erase_address``)."""
    return erase_address(
        session, subscriber.email, actor=actor, now=now, reason=reason, objections=objections
    )


def erasures(session: Session, address: str) -> list[AuditEvent]:
    """The audit events of erasures of ``address``, newest first (found by its keyed hash)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == ERASE_ACTION,
                AuditEvent.after["address_hmac"].as_string() == fingerprint(address),
            )
            .order_by(AuditEvent.id.desc())
        )
    )


# --- retention --------------------------------------------------------------------------------


def years_before(moment: datetime, years: int) -> datetime:
    """The same date and time ``years`` earlier (29 February becomes the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of record keeps personal data (from the RETENTION_* settings)."""

    unconfirmed: timedelta
    unsubscribed: timedelta
    bouncing: timedelta
    delivery_years: int
    objection_years: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionPolicy:
        return cls(
            unconfirmed=timedelta(seconds=config["UNCONFIRMED_PURGE_AFTER_SECONDS"]),
            unsubscribed=timedelta(days=config["RETENTION_UNSUBSCRIBED_DAYS"]),
            bouncing=timedelta(days=config["RETENTION_BOUNCING_DAYS"]),
            delivery_years=int(config["RETENTION_DELIVERY_YEARS"]),
            objection_years=int(config["RETENTION_OBJECTION_YEARS"]),
        )


# The kinds of record the job reports on, in the order it handles them.
RETENTION_KINDS = (
    "unconfirmed_subscribers",
    "unconfirmed_addresses",
    "unsubscribed_subscribers",
    "bouncing_subscribers",
    "delivery_records",
    "objections",
)


def _erase_stale(
    session: Session,
    *,
    status: SubscriberStatus,
    since: Any,
    cutoff: datetime,
    now: datetime,
    reason: str,
    limit: int,
) -> int:
    """Erase up to ``limit`` subscribers in ``status`` since before ``cutoff``, unless they asked
    to subscribe again since: an address that unsubscribed (or bounced) and then asked for a
    confirmation keeps its status until it confirms, and its period runs from the later of the
    two. Returns how many; fewer than ``limit`` means none is left.

    Oldest first, in the order of the (status, date) index: the database reads the batch's rows
    and stops. In any other order it would read every address past its period to sort them, for
    each batch (a run erasing n addresses read n * n / limit rows).
    """
    stale = session.scalars(
        select(Subscriber.email)
        .where(Subscriber.status == status, since < cutoff, Subscriber.requested_at < cutoff)
        .order_by(since, Subscriber.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if stale:
        erase_addresses(session, stale, actor=SYSTEM, now=now, reason=reason, objections=False)
    return len(stale)


def _forget_unconfirmed_addresses(session: Session, cutoff: datetime) -> int:
    """A new address asked for and never confirmed is forgotten like a sign-up never confirmed:
    its confirmation keeps only what it was for, and the file of that confirmation goes; unless
    the address is a subscriber's, whose mail stays its own (anyone with a fresh link may ask to
    move to any address: that must not make another subscriber's mail go).

    Read through the partial index of the few notifications that name an address, by age; their
    status is only checked (``unindexed``): nearly every notification is settled."""
    stale = and_(
        holds_address(), Notification.created_at < cutoff, unindexed(Notification.status).in_(SETTLED)
    )
    contexts = session.scalars(select(Notification.context).where(stale)).all()
    addresses = {str((context or {}).get("address") or "").strip().lower() for context in contexts} - {""}
    # Subscribers' addresses are stored normalised (lower case), as ``erase_addresses`` finds
    # them: compared as they are, through the unique index (lower() of each would read them all).
    kept = (
        session.scalars(select(Subscriber.email).where(Subscriber.email.in_(addresses))).all()
        if addresses
        else []
    )
    traces.forget_on_commit(session, addresses - {str(email).lower() for email in kept})
    result = session.execute(
        update(Notification)
        .where(stale)
        .values(context={"purpose": subscriptions.ADDRESS_CHANGE})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined]


_OBJECTION_MAIL = (NotificationKind.OBJECTION_RECEIPT.value, NotificationKind.OBJECTION_CLOSED.value)


def _anonymise_old_objections(session: Session, cutoff: datetime) -> int:
    """Objections past their period keep organisation, notice, dates and status; nothing of the
    person (name, address, reason, and the note about them), nor the files of their receipts."""
    past = and_(
        Objection.created_at < cutoff,
        or_(
            Objection.email != ERASED,
            Objection.contact_name != ERASED,
            Objection.reason != ERASED,
            Objection.handled_note.is_not(None),
        ),
    )
    emails = session.scalars(select(Objection.email).where(past, Objection.email != ERASED)).all()
    # The receipts only: the objector may still subscribe, and that mail is not past its period.
    traces.forget_on_commit(session, emails, kinds=_OBJECTION_MAIL)
    result = session.execute(
        update(Objection)
        .where(past)
        .values(email=ERASED, contact_name=ERASED, reason=ERASED, handled_note=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined]


def retention_batches(
    session: Session, *, now: datetime, policy: RetentionPolicy, batch_size: int
) -> Iterator[tuple[str, int]]:
    """Delete or anonymise everything past its period at ``now``, in bounded batches: yields
    (kind, how many) after each one, and the caller commits there, so that no transaction holds
    the write lock for longer than one batch (SQLite has one writer at a time).

    Each batch is a few statements whatever its size (``erase_addresses``), so a run costs time
    in proportion to what it erases, not to the number of subscribers. Safe to stop at any
    yield, to run twice, or in two processes at once: subscribers are taken with SKIP LOCKED and
    every UPDATE matches only rows not yet anonymised, so the next run does what is left.
    """
    while True:
        purged = subscriptions.purge_unconfirmed(
            session, now=now, older_than=policy.unconfirmed, limit=batch_size
        )
        yield "unconfirmed_subscribers", purged
        if purged < batch_size:
            break
    yield "unconfirmed_addresses", _forget_unconfirmed_addresses(session, now - policy.unconfirmed)
    stale = (
        (
            "unsubscribed_subscribers",
            SubscriberStatus.UNSUBSCRIBED,
            Subscriber.unsubscribed_at,
            policy.unsubscribed,
            f"retention: unsubscribed more than {policy.unsubscribed.days} days ago",
        ),
        (
            "bouncing_subscribers",
            SubscriberStatus.BOUNCING,
            Subscriber.bounced_at,
            policy.bouncing,
            f"retention: refused by its mail server more than {policy.bouncing.days} days ago",
        ),
    )
    for kind, status, since, period, reason in stale:
        while True:
            erased = _erase_stale(
                session,
                status=status,
                since=since,
                cutoff=now - period,
                now=now,
                reason=reason,
                limit=batch_size,
            )
            yield kind, erased
            if erased < batch_size:
                break
    delivery_cutoff = years_before(now, policy.delivery_years)
    # Through the index of notifications by age (migration 0019): the status is only checked.
    yield (
        "delivery_records",
        forget_deliveries(
            session,
            and_(Notification.created_at < delivery_cutoff, unindexed(Notification.status).in_(SETTLED)),
        ),
    )
    yield "objections", _anonymise_old_objections(session, years_before(now, policy.objection_years))
    session.flush()
