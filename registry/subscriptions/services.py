"""Subscribing: double opt-in, a subscriber's own changes (lists, documents, frequency, a corrected
address), unsubscribing, and the purge of sign-ups never confirmed.

A subscription is to one list or to one document, handled alike: the same form, confirmation,
manage page and unsubscribe. Lists and documents are named by their slugs, kept apart (a list and
a document may share a slug).

Functions take the session and the moment and never commit. Audit events name the subscriber by
id only, never by address, so that an address can be erased later without touching the trail.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit.services import Actor, record
from registry.documents.models import Document
from registry.documents.services import public_documents
from registry.lists.models import RegisterList
from registry.lists.services import all_lists
from registry.subscriptions import events
from registry.subscriptions.models import (
    Frequency,
    PendingSubscription,
    Subscriber,
    SubscriberStatus,
    Subscription,
    new_token_key,
)
from registry.subscriptions.tokens import KeyClaim, LinkClaim, TokenError
from registry.validation import ValidationError, normalise_email

# The person holding the link acts; the trail names them by the subscriber id in ``target``.
SUBSCRIBER = Actor(None, "subscriber")
# More choices than any company has lists (or documents): refused before any lookup.
MAX_LISTS = 100

LINK_USED = "This link has already been used or replaced by a newer one."
NOTHING_PENDING = (
    "Nothing is waiting to be confirmed with this link any more: the request expired or was "
    "withdrawn. Subscribe again to get a new link."
)
NONE_CHOSEN = "Tick at least one list or document to confirm it."
LINK_REPLACED = "This link has been replaced by a newer one. Use the link in the most recent email."
# The purpose a confirmation's context names when it confirms a new address, not lists.
ADDRESS_CHANGE = "address_change"


class Outcome(enum.StrEnum):
    """What a change of preferences from the manage page did."""

    UPDATED = "updated"
    # The address is not confirmed (unsubscribed, bouncing, pending): a confirmation is owed first.
    CONFIRMATION_SENT = "confirmation_sent"
    UNSUBSCRIBED = "unsubscribed"


# --- input ------------------------------------------------------------------------------------


def _slugs(slugs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(slug.strip() for slug in slugs if slug and slug.strip()))


def choose_lists(session: Session, slugs: Iterable[str], *, required: bool = True) -> list[RegisterList]:
    """The lists named by ``slugs``, in the order the site shows them; every slug must exist."""
    wanted = _slugs(slugs)
    if not wanted:
        if required:
            raise ValidationError({"lists": "Choose at least one list."})
        return []
    if len(wanted) > MAX_LISTS:
        raise ValidationError({"lists": "Too many lists chosen."})
    lists = all_lists(session)
    known = {register_list.slug for register_list in lists}
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        names = ", ".join(f"“{slug[:64]}”" for slug in unknown[:5])
        raise ValidationError({"lists": f"There is no list called {names}. Choose from the lists shown."})
    return [register_list for register_list in lists if register_list.slug in wanted]


def choose_documents(session: Session, slugs: Iterable[str]) -> list[Document]:
    """The public documents named by ``slugs`` (none is fine), in the order the site shows them."""
    wanted = _slugs(slugs)
    if not wanted:
        return []
    if len(wanted) > MAX_LISTS:
        raise ValidationError({"documents": "Too many documents chosen."})
    documents = public_documents(session)
    known = {document.slug for document in documents}
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        names = ", ".join(f"“{slug[:64]}”" for slug in unknown[:5])
        raise ValidationError(
            {"documents": f"There is no document called {names}. Choose from the documents shown."}
        )
    return [document for document in documents if document.slug in wanted]


def parse_frequency(value: str | None) -> Frequency:
    """Each notice (the default when nothing is sent) or a weekly digest."""
    if not value:
        return Frequency.EACH
    try:
        return Frequency(value)
    except ValueError:
        raise ValidationError(
            {"frequency": "Choose how often to hear from us: each notice, or a weekly digest."}
        ) from None


@dataclass(frozen=True)
class Choice:
    """What a person chose: lists and documents (at least one of either), and how often."""

    lists: list[RegisterList]
    documents: list[Document]
    frequency: Frequency


def _clean(
    session: Session,
    list_slugs: Iterable[str],
    frequency: str | None,
    email: str | None = None,
    document_slugs: Iterable[str] = (),
) -> tuple[str | None, Choice]:
    """Every field checked (``email`` only when given), and every problem reported at once."""
    errors: dict[str, str] = {}
    address: str | None = None
    lists: list[RegisterList] = []
    documents: list[Document] = []
    choice = Frequency.EACH
    list_slugs, document_slugs = list(list_slugs), list(document_slugs)
    if email is not None:
        try:
            address = normalise_email(email)
        except ValidationError as error:
            errors.update(error.errors)
    if not _slugs(list_slugs) and not _slugs(document_slugs):
        offered = bool(public_documents(session))
        errors["lists"] = "Choose at least one list or document." if offered else "Choose at least one list."
    else:
        try:
            lists = choose_lists(session, list_slugs, required=False)
        except ValidationError as error:
            errors.update(error.errors)
        try:
            documents = choose_documents(session, document_slugs)
        except ValidationError as error:
            errors.update(error.errors)
    try:
        choice = parse_frequency(frequency)
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return address, Choice(lists, documents, choice)


# --- subscribing ------------------------------------------------------------------------------


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (normalised) address."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def preferences(subscriber: Subscriber) -> dict[str, str]:
    """The lists a subscriber receives: list slug to frequency (for pages and the audit trail)."""
    return {s.slug: s.frequency.value for s in subscriber.list_subscriptions}


def document_preferences(subscriber: Subscriber) -> dict[str, str]:
    """The documents a subscriber receives: document slug to frequency."""
    return {s.slug: s.frequency.value for s in subscriber.document_subscriptions}


def _snapshot(subscriber: Subscriber) -> dict[str, dict[str, str]]:
    """Lists and documents, for the audit trail ("documents" only when there are some, so that
    the trail of list-only subscribers reads as it always did)."""
    documents = document_preferences(subscriber)
    return {"lists": preferences(subscriber), **({"documents": documents} if documents else {})}


def request_confirmation(session: Session, subscriber: Subscriber, choice: Choice, *, now: datetime) -> None:
    """Owe the subscriber one email with a confirmation link, and add this choice to what it has
    asked for and not yet confirmed.

    Sign-ups add up: a list or document asked for again takes the frequency asked for now, and
    the others asked for before stay. The row of one asked for again is replaced (a new id), so
    a confirmation page shown before cannot confirm the new frequency unseen. The email names
    this request only; its link, signed when the email is sent, confirms all that is pending.
    """
    subscriber.requested_at = now
    lists = {register_list.id: register_list for register_list in choice.lists}
    documents = {document.id: document for document in choice.documents}
    replaced = [
        row
        for row in subscriber.pending
        if (row.list_id is not None and row.list_id in lists)
        or (row.document_id is not None and row.document_id in documents)
    ]
    for row in replaced:
        subscriber.pending.remove(row)  # delete-orphan: the row goes
    if replaced:
        session.flush()  # deleted before the new rows go in: one row per list or document
    for register_list in lists.values():
        subscriber.pending.append(
            PendingSubscription(register_list=register_list, frequency=choice.frequency, requested_at=now)
        )
    for document in documents.values():
        subscriber.pending.append(
            PendingSubscription(document=document, frequency=choice.frequency, requested_at=now)
        )
    session.flush()
    context: dict[str, object] = {
        "lists": [register_list.slug for register_list in choice.lists],
        "frequency": choice.frequency.value,
    }
    if choice.documents:
        context["documents"] = [document.slug for document in choice.documents]
    events.emit(
        events.message_owed, subscriber, session=session, now=now, purpose="confirmation", context=context
    )


def subscribe(
    session: Session,
    email: str,
    list_slugs: Iterable[str],
    frequency: str | None,
    *,
    now: datetime,
    document_slugs: Iterable[str] = (),
) -> Subscriber:
    """Ask for a confirmation email, whatever the state of the address.

    New, pending, confirmed, unsubscribed or bouncing: the same work (at most one more insert
    for a new address) and the same answer, so that the page tells nobody whether an address is
    subscribed. Nothing changes for the subscriber until the link in that email is followed.
    """
    address, choice = _clean(session, list_slugs, frequency, email, document_slugs)
    assert address is not None
    subscriber = find_subscriber(session, address)
    if subscriber is None:
        try:
            with session.begin_nested():
                subscriber = Subscriber(
                    email=address, status=SubscriberStatus.PENDING, created_at=now, requested_at=now
                )
                session.add(subscriber)
        except IntegrityError:
            # Someone subscribed the same address at the same moment: use that row.
            subscriber = find_subscriber(session, address)
            if subscriber is None:
                raise
    # Two sign-ups of one address at once add up one after the other, whatever its state.
    session.refresh(subscriber, with_for_update=True)
    request_confirmation(session, subscriber, choice, now=now)
    return subscriber


# --- links ------------------------------------------------------------------------------------


def subscriber_by_key(session: Session, claim: KeyClaim, *, lock: bool = False) -> Subscriber:
    """The subscriber whose key an unsubscribe, manage, fresh or address link carries; else
    ``TokenError`` (the key was replaced: the address was corrected or erased since).

    ``lock`` reads the row afresh and holds it until commit, so that two clicks on one link at
    the same moment cannot both act on it.
    """
    return _with_key(session, claim.key, lock=lock, missing=LINK_REPLACED)


def _with_key(session: Session, key: str, *, lock: bool, missing: str) -> Subscriber:
    """The subscriber a link's key finds (``lock``: read afresh and held until commit); else
    ``TokenError(missing)``."""
    query = select(Subscriber).where(Subscriber.token_key == key)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    subscriber = session.scalar(query)
    if subscriber is None:
        raise TokenError(missing)
    return subscriber


@dataclass(frozen=True)
class Confirmation:
    """Where a confirmation link stands: what it would confirm now, or that its request is
    already confirmed (by this link, or by the link of another sign-up confirmed with it)."""

    subscriber: Subscriber
    pending: list[PendingSubscription]
    already_confirmed: bool = False


def confirmation_for(
    session: Session, claim: LinkClaim, *, now: datetime, max_age: timedelta, lock: bool = False
) -> Confirmation:
    """What following this confirmation link does at ``now``; ``TokenError`` when it can do
    nothing.

    A link signed at the subscriber's current confirmation count confirms every list and
    document asked for within ``max_age`` (a request older than a link's lifetime is not
    confirmed by a newer link). A link signed before the last confirmation asked for what was
    confirmed then: while the address is confirmed, it says so; once it has left, the link is
    used.
    """
    subscriber = subscriber_for_confirmation(session, claim, lock=lock)
    if claim.confirmations < subscriber.confirmations:
        if subscriber.status is SubscriberStatus.CONFIRMED:
            return Confirmation(subscriber, [], already_confirmed=True)
        raise TokenError(LINK_USED)
    # A document taken off the site since it was asked for is not subscribed to.
    public = {document.id for document in public_documents(session)}
    pending = [
        row
        for row in subscriber.pending
        if row.requested_at >= now - max_age and (row.document_id is None or row.document_id in public)
    ]
    if not pending:
        raise TokenError(NOTHING_PENDING)
    return Confirmation(subscriber, pending)


def subscriber_for_confirmation(session: Session, claim: LinkClaim, *, lock: bool = False) -> Subscriber:
    """The subscriber of a confirmation link with its key still current (any count)."""
    subscriber = _with_key(session, claim.key, lock=lock, missing=LINK_USED)
    if lock:
        # Read again under the lock: what another confirmation just did counts.
        session.expire(subscriber, ["pending", "subscriptions"])
    if claim.confirmations > subscriber.confirmations:
        raise TokenError("This link is not valid. Check that it was copied completely.")
    return subscriber


def confirm(
    session: Session,
    claim: LinkClaim,
    now: datetime,
    *,
    max_age: timedelta,
    shown: Iterable[int],
    chosen: Iterable[int],
) -> Confirmation:
    """Follow a confirmation link: the address is confirmed and gets what was ``chosen`` of the
    requests ``shown`` on the confirmation page (pending row ids).

    Only what the page showed is confirmed: a request made after it was shown waits for its own
    link. What was shown and unticked is dropped. Subscriptions to other lists and documents are
    kept; one asked for again takes the frequency asked for. The confirmation count moves on, so
    every link signed before now says "already confirmed". A link whose request is already
    confirmed changes nothing.
    """
    found = confirmation_for(session, claim, now=now, max_age=max_age, lock=True)
    if found.already_confirmed:
        return found
    subscriber = found.subscriber
    seen = set(shown)
    wanted = set(chosen) & seen
    confirmed = [row for row in found.pending if row.id in wanted]
    if not confirmed:
        raise ValidationError({"pending": NONE_CHOSEN})
    declined = [row for row in found.pending if row.id in seen and row.id not in wanted]
    before = {"status": subscriber.status.value, **_snapshot(subscriber)}

    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = now
    subscriber.confirmations += 1
    subscriber.unsubscribed_at = None
    subscriber.bounced_at = None
    subscriber.bounce_reason = None
    _subscribe_to(subscriber, confirmed, now=now)
    for row in (*confirmed, *declined):
        subscriber.pending.remove(row)  # delete-orphan: the row goes
    session.flush()

    after = {"status": subscriber.status.value, **_snapshot(subscriber)}
    record(
        session,
        "subscriber.confirm",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        summary=f"confirmed {_describe_rows(confirmed)}"
        + (f"; declined {_describe_rows(declined)}" if declined else ""),
        before=before,
        after=after,
    )
    return Confirmation(subscriber, confirmed)


def _subscribe_to(subscriber: Subscriber, rows: Iterable[PendingSubscription], *, now: datetime) -> None:
    """Subscriptions for these requests, each at the frequency it asked for."""
    by_target = {(s.list_id, s.document_id): s for s in subscriber.subscriptions}
    for row in rows:
        existing = by_target.get((row.list_id, row.document_id))
        if existing is not None:
            existing.frequency = row.frequency
        else:
            subscriber.subscriptions.append(
                Subscription(
                    list_id=row.list_id, document_id=row.document_id, frequency=row.frequency, created_at=now
                )
            )


def _describe_rows(rows: Iterable[PendingSubscription]) -> str:
    """Slugs by kind and frequency, for the audit trail: "sub-processors (each notice); documents
    privacy-policy (weekly digest)"."""
    parts = []
    for frequency, label in ((Frequency.EACH, "each notice"), (Frequency.WEEKLY, "weekly digest")):
        mine = [row for row in rows if row.frequency is frequency]
        if not mine:
            continue
        slugs = ", ".join(row.slug for row in mine if not row.is_document)
        documents = ", ".join(row.slug for row in mine if row.is_document)
        text = slugs + (("; " if slugs else "") + "documents " + documents if documents else "")
        parts.append(f"{text} ({label})")
    return "; ".join(parts)


def _describe(choice: Choice) -> str:
    slugs = ", ".join(register_list.slug for register_list in choice.lists) or "no lists"
    if choice.documents:
        slugs += "; documents " + ", ".join(document.slug for document in choice.documents)
    return f"{slugs} ({'each notice' if choice.frequency is Frequency.EACH else 'weekly digest'})"


def _set_subscriptions(subscriber: Subscriber, choice: Choice, *, now: datetime, keep_others: bool) -> None:
    frequency = choice.frequency
    lists = {register_list.id: register_list for register_list in choice.lists}
    documents = {document.id: document for document in choice.documents}
    for subscription in list(subscriber.subscriptions):
        if subscription.list_id is not None and subscription.list_id in lists:
            subscription.frequency = frequency
            del lists[subscription.list_id]
        elif subscription.document_id is not None and subscription.document_id in documents:
            subscription.frequency = frequency
            del documents[subscription.document_id]
        elif not keep_others:
            subscriber.subscriptions.remove(subscription)  # delete-orphan: the row goes
    for register_list in lists.values():
        subscriber.subscriptions.append(
            Subscription(register_list=register_list, frequency=frequency, created_at=now)
        )
    for document in documents.values():
        subscriber.subscriptions.append(Subscription(document=document, frequency=frequency, created_at=now))


# --- the manage page --------------------------------------------------------------------------


def update(
    session: Session,
    subscriber: Subscriber,
    list_slugs: Iterable[str],
    frequency: str | None,
    *,
    now: datetime,
    document_slugs: Iterable[str] = (),
) -> Outcome:
    """A subscriber's own change of lists, documents and frequency, from the manage page.

    Neither lists nor documents means unsubscribing. A confirmed address gets exactly what was
    chosen, and what was still owed to it about a list or document it left is cancelled; any other (unsubscribed, bouncing, never confirmed) must first prove again that it
    reads its mail, so a confirmation email is owed instead and nothing else changes.
    """
    slugs = _slugs(list_slugs)
    document_slugs = _slugs(document_slugs)
    if not slugs and not document_slugs:
        unsubscribe(session, subscriber, now=now)
        return Outcome.UNSUBSCRIBED
    _, choice = _clean(session, slugs, frequency, document_slugs=document_slugs)
    session.refresh(subscriber, with_for_update=True)
    if subscriber.status is not SubscriberStatus.CONFIRMED:
        request_confirmation(session, subscriber, choice, now=now)
        return Outcome.CONFIRMATION_SENT
    before = _snapshot(subscriber)
    kept_lists = {register_list.id for register_list in choice.lists}
    kept_documents = {document.id for document in choice.documents}
    left_lists = {s.list_id for s in subscriber.subscriptions if s.list_id is not None} - kept_lists
    left_documents = {s.document_id for s in subscriber.subscriptions if s.document_id is not None}
    left_documents -= kept_documents
    _set_subscriptions(subscriber, choice, now=now, keep_others=False)
    _cancel_left(session, subscriber, lists=left_lists, documents=left_documents, now=now)
    after = _snapshot(subscriber)
    if before != after:
        record(
            session,
            "subscriber.update",
            SUBSCRIBER,
            now=now,
            target=("subscriber", subscriber.id),
            summary=f"now receives {_describe(choice)}",
            before=before,
            after=after,
        )
    return Outcome.UPDATED


def _cancel_left(
    session: Session, subscriber: Subscriber, *, lists: set[int], documents: set[int], now: datetime
) -> None:
    """Nothing more is owed to ``subscriber`` about the lists and documents it just left."""
    if lists or documents:
        events.emit(
            events.subscription_ended, subscriber, session=session, now=now, lists=lists, documents=documents
        )


def unsubscribe(session: Session, subscriber: Subscriber, *, now: datetime) -> bool:
    """Stop everything for this address; returns False when there was nothing left to stop.

    Safe to repeat (a mail client may send the one-click request twice): subscriptions are
    deleted, notifications still owed are cancelled, and the address stays known as unsubscribed
    so that its old links still lead to a page saying so.
    """
    session.refresh(subscriber, with_for_update=True)
    before = {"status": subscriber.status.value, **_snapshot(subscriber)}
    # What was asked for and not confirmed goes too: a confirmation link sent before brings
    # nothing back.
    session.execute(delete(PendingSubscription).where(PendingSubscription.subscriber_id == subscriber.id))
    session.expire(subscriber, ["pending"])
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED and not subscriber.subscriptions:
        events.emit(events.subscriber_left, subscriber, session=session, now=now, reason="unsubscribed")
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    session.execute(delete(Subscription).where(Subscription.subscriber_id == subscriber.id))
    session.expire(subscriber, ["subscriptions"])
    events.emit(events.subscriber_left, subscriber, session=session, now=now, reason="unsubscribed")
    record(
        session,
        "subscriber.unsubscribe",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        summary="unsubscribed from every list and document",
        before=before,
        after={"status": SubscriberStatus.UNSUBSCRIBED.value, "lists": {}},
    )
    return True


def request_manage_link(session: Session, email: str, *, now: datetime) -> None:
    """Owe the address an email with a fresh link to its manage page, if it belongs to a
    subscriber (in any state: an unsubscribed one may still want to see or delete its data).

    The same work for every address, known or not: the outbox is owed one row for the address,
    whose subscriber (if any) the database finds in the same statement; the sender drops a row
    that found nobody. Nothing here reads the subscriber, so neither the answer nor its time
    tells who subscribes, and an unknown address is not stored.
    """
    events.emit(events.link_requested, normalise_email(email), session=session, now=now)


# --- a corrected address ---------------------------------------------------------------------


def request_address_change(session: Session, subscriber: Subscriber, email: str, *, now: datetime) -> str:
    """Owe the NEW address an email with a link that makes it this subscriber's address.

    Nothing changes before that link is followed from the new inbox (double opt-in). The answer
    is the same whether or not another subscriber has that address. Returns the new address.
    """
    address = normalise_email(email)
    if address == subscriber.email:
        raise ValidationError({"email": "This is already your address. Enter the new one."})
    events.emit(
        events.message_owed,
        subscriber,
        session=session,
        now=now,
        purpose="confirmation",
        context={"purpose": ADDRESS_CHANGE, "address": address},
    )
    record(
        session,
        "subscriber.request_address_change",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        summary="asked to change the address; a confirmation link went to the new one",
    )
    return address


def change_address(session: Session, claim: KeyClaim, now: datetime) -> Subscriber:
    """Follow an address link: the subscriber's address becomes the new one, confirmed.

    The key is replaced, so every link sent before (this one included) stops working. When
    another subscriber already has the new address, the two become one: this subscriber keeps
    the union of both one's lists (its own frequency where both had a list), the other one's
    notifications move over (a notice both got stays with the other, unlinked) and the other row
    goes. The old address is taken out of error texts that quote it.
    """
    try:
        subscriber = subscriber_by_key(session, claim, lock=True)
    except TokenError:
        raise TokenError(LINK_USED) from None
    if claim.email is None:
        raise TokenError(LINK_USED)
    new = normalise_email(claim.email)
    before = {"status": subscriber.status.value, **_snapshot(subscriber)}
    other = session.scalar(
        select(Subscriber).where(Subscriber.email == new, Subscriber.id != subscriber.id).with_for_update()
    )
    merged_from = None
    if other is not None:
        merged_from = other.id
        _merge(session, into=subscriber, other=other, now=now)
    subscriber.email = new
    subscriber.token_key = new_token_key()
    subscriber.confirmations += 1
    subscriber.bounced_at = None
    subscriber.bounce_reason = None
    if subscriber.subscriptions:
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
    elif subscriber.status is not SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    session.flush()
    # Nothing else holds the old address: error texts never keep one (``registry.redaction``).
    after = {"status": subscriber.status.value, **_snapshot(subscriber)}
    record(
        session,
        "subscriber.change_address",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        # Ids only: neither address goes into the trail, which cannot forget.
        summary="changed the address, confirmed from the new one"
        + (f"; merged with subscriber {merged_from}" if merged_from is not None else ""),
        before=before,
        after={**after, "merged_from": merged_from},
    )
    return subscriber


def _merge(session: Session, *, into: Subscriber, other: Subscriber, now: datetime) -> None:
    """Move ``other``'s lists, documents and notifications to ``into`` and delete ``other``."""
    mine = {(s.list_id, s.document_id) for s in into.subscriptions}
    for subscription in other.subscriptions:
        if (subscription.list_id, subscription.document_id) not in mine:
            into.subscriptions.append(
                Subscription(
                    list_id=subscription.list_id,
                    document_id=subscription.document_id,
                    frequency=subscription.frequency,
                    created_at=subscription.created_at,
                )
            )
    events.emit(events.subscribers_merging, into, session=session, now=now, other=other)
    session.delete(other)
    session.flush()


def confirmed_subscribers(session: Session, *, list_id: int) -> int:
    """How many confirmed subscribers a list has: who hears of its next notice."""
    return (
        session.scalar(
            select(func.count(Subscription.id))
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscription.list_id == list_id, Subscriber.status == SubscriberStatus.CONFIRMED)
        )
        or 0
    )


def confirmed_document_subscribers(session: Session, *, document_id: int) -> int:
    """How many confirmed subscribers a document has: who hears of its next revision."""
    return (
        session.scalar(
            select(func.count(Subscription.id))
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscription.document_id == document_id, Subscriber.status == SubscriberStatus.CONFIRMED)
        )
        or 0
    )


# --- housekeeping -----------------------------------------------------------------------------


def purge_unconfirmed(
    session: Session, *, now: datetime, older_than: timedelta, limit: int | None = None
) -> int:
    """Delete sign-ups never confirmed whose last confirmation request is older than ``older_than``
    (at most ``limit`` of them, oldest first, when given).

    An address nobody confirmed is not kept: whoever typed it may not have been its owner.
    Whatever its status: one never confirmed may be bouncing (its server refused the
    confirmation email) or unsubscribed (it unticked everything before confirming), and is no
    more its owner's for that. What was still owed to it is cancelled first; sent notifications
    keep their rows, unlinked. Requests for more lists or documents that a confirmed (or
    unsubscribed, or bouncing) address never confirmed go after the same time. Returns how many
    subscribers were deleted.
    """
    # Oldest first, in the order of the partial index of sign-ups never confirmed: the batch's
    # rows are all the database reads (by id, it would read every subscriber to find none).
    stale = session.scalars(
        select(Subscriber)
        .where(
            Subscriber.confirmed_at.is_(None),
            Subscriber.requested_at < now - older_than,
        )
        .order_by(Subscriber.requested_at, Subscriber.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if stale:
        # What is owed to them is cancelled, and what the mail server said about the addresses
        # (it may quote them) goes with them, in one pass for the batch; their pending requests
        # go with the rows (a cascade).
        events.emit(events.subscribers_purged, list(stale), session=session, now=now)
    for subscriber in stale:
        session.delete(subscriber)
    # A confirmed address's request for more, never confirmed, is forgotten after as long.
    session.execute(
        delete(PendingSubscription)
        .where(PendingSubscription.requested_at < now - older_than)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return len(stale)
