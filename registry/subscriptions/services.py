"""Subscribing: double opt-in, a subscriber's own changes (lists, frequency, a corrected address),
unsubscribing, and the purge of sign-ups never confirmed.

Functions take the session and the moment and never commit. Audit events name the subscriber by
id only, never by address, so that an address can be erased later without touching the trail.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit.services import Actor, record
from registry.lists.models import RegisterList
from registry.lists.services import all_lists
from registry.notifications import outbox
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.privacy.scrub import forget_deliveries, scrub_everywhere
from registry.subscriptions.models import (
    Frequency,
    Subscriber,
    SubscriberStatus,
    Subscription,
    new_token_key,
)
from registry.subscriptions.tokens import LinkClaim, TokenError
from registry.validation import ValidationError

# The person holding the link acts; the trail names them by the subscriber id in ``target``.
SUBSCRIBER = Actor(None, "subscriber")
# RFC 5321 allows 254 characters in a forward path; longer cannot be delivered anyway.
MAX_EMAIL_LENGTH = 254
# More choices than any company has lists: refused before any lookup.
MAX_LISTS = 100

LINK_USED = "This link has already been used or replaced by a newer one."
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


def normalise_email(raw: str) -> str:
    """The address as we store and compare it, or a ``ValidationError`` a person can act on.

    Line breaks and control characters are refused before anything else: an address ends up
    in a mail header, where a CR or LF would let the sender add headers of their own.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError({"email": "Enter your email address."})
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        raise ValidationError(
            {"email": "An email address cannot contain line breaks or other control characters."}
        )
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            {"email": f"This email address is too long: at most {MAX_EMAIL_LENGTH} characters."}
        )
    try:
        address = validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValidationError({"email": str(error)}) from None
    if len(address) > MAX_EMAIL_LENGTH:  # normalising (IDNA) can lengthen a domain
        raise ValidationError(
            {"email": f"This email address is too long: at most {MAX_EMAIL_LENGTH} characters."}
        )
    return address


def choose_lists(session: Session, slugs: Iterable[str]) -> list[RegisterList]:
    """The lists named by ``slugs``, in the order the site shows them; every slug must exist."""
    wanted = list(dict.fromkeys(slug.strip() for slug in slugs if slug and slug.strip()))
    if not wanted:
        raise ValidationError({"lists": "Choose at least one list."})
    if len(wanted) > MAX_LISTS:
        raise ValidationError({"lists": "Too many lists chosen."})
    lists = all_lists(session)
    known = {register_list.slug for register_list in lists}
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        names = ", ".join(f"“{slug[:64]}”" for slug in unknown[:5])
        raise ValidationError({"lists": f"There is no list called {names}. Choose from the lists shown."})
    return [register_list for register_list in lists if register_list.slug in wanted]


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


def _clean(
    session: Session, list_slugs: Iterable[str], frequency: str | None, email: str | None = None
) -> tuple[str | None, list[RegisterList], Frequency]:
    """Every field checked (``email`` only when given), and every problem reported at once."""
    errors: dict[str, str] = {}
    address: str | None = None
    lists: list[RegisterList] = []
    choice = Frequency.EACH
    if email is not None:
        try:
            address = normalise_email(email)
        except ValidationError as error:
            errors.update(error.errors)
    try:
        lists = choose_lists(session, list_slugs)
    except ValidationError as error:
        errors.update(error.errors)
    try:
        choice = parse_frequency(frequency)
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return address, lists, choice


# --- subscribing ------------------------------------------------------------------------------


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (normalised) address."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def preferences(subscriber: Subscriber) -> dict[str, str]:
    """What a subscriber receives: list slug to frequency (for pages and the audit trail)."""
    return {s.register_list.slug: s.frequency.value for s in subscriber.subscriptions}


def request_confirmation(
    session: Session,
    subscriber: Subscriber,
    lists: list[RegisterList],
    frequency: Frequency,
    *,
    now: datetime,
) -> Notification:
    """Owe the subscriber one email with a confirmation link for these lists and this frequency.

    The link itself is signed when the email is sent, from this context.
    """
    subscriber.requested_at = now
    return outbox.queue(
        session,
        NotificationKind.CONFIRMATION,
        now=now,
        subscriber=subscriber,
        context={"lists": [register_list.slug for register_list in lists], "frequency": frequency.value},
    )


def subscribe(
    session: Session, email: str, list_slugs: Iterable[str], frequency: str | None, *, now: datetime
) -> Subscriber:
    """Ask for a confirmation email, whatever the state of the address.

    New, pending, confirmed, unsubscribed or bouncing: the same work (at most one more insert
    for a new address) and the same answer, so that the page tells nobody whether an address is
    subscribed. Nothing changes for the subscriber until the link in that email is followed.
    """
    address, lists, choice = _clean(session, list_slugs, frequency, email)
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
    request_confirmation(session, subscriber, lists, choice, now=now)
    return subscriber


# --- links ------------------------------------------------------------------------------------


def subscriber_for(session: Session, claim: LinkClaim, *, lock: bool = False) -> Subscriber:
    """The subscriber a valid link is for, if the link is still current; else ``TokenError``.

    ``lock`` reads the row afresh and holds it until commit, so that two clicks on one link at
    the same moment cannot both act on it.
    """
    if lock:
        subscriber = session.get(
            Subscriber, claim.subscriber_id, with_for_update=True, populate_existing=True
        )
    else:
        subscriber = session.get(Subscriber, claim.subscriber_id)
    if subscriber is None or not claim.matches(subscriber):
        raise TokenError(LINK_REPLACED if claim.confirmations is None else LINK_USED)
    return subscriber


def confirm(session: Session, claim: LinkClaim, now: datetime) -> Subscriber:
    """Follow a confirmation link: the address is confirmed and gets the lists it asked for.

    The link works once (the subscriber's confirmation count moves on). Subscriptions to other
    lists are kept; a list asked for again takes the frequency asked for now.
    """
    subscriber = subscriber_for(session, claim, lock=True)
    try:
        choice = Frequency(claim.frequency or Frequency.EACH.value)
    except ValueError:
        raise TokenError("This link is not valid. Check that it was copied completely.") from None
    known = {register_list.slug: register_list for register_list in all_lists(session)}
    lists = [known[slug] for slug in dict.fromkeys(claim.lists) if slug in known]
    before = {"status": subscriber.status.value, "lists": preferences(subscriber)}

    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = now
    subscriber.confirmations += 1
    subscriber.unsubscribed_at = None
    subscriber.bounced_at = None
    subscriber.bounce_reason = None
    _set_subscriptions(subscriber, lists, choice, now=now, keep_others=True)

    after = {"status": subscriber.status.value, "lists": preferences(subscriber)}
    record(
        session,
        "subscriber.confirm",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        summary=f"confirmed {_describe(lists, choice)}",
        before=before,
        after=after,
    )
    return subscriber


def _describe(lists: list[RegisterList], frequency: Frequency) -> str:
    slugs = ", ".join(register_list.slug for register_list in lists) or "no lists"
    return f"{slugs} ({'each notice' if frequency is Frequency.EACH else 'weekly digest'})"


def _set_subscriptions(
    subscriber: Subscriber,
    lists: list[RegisterList],
    frequency: Frequency,
    *,
    now: datetime,
    keep_others: bool,
) -> None:
    wanted = {register_list.id: register_list for register_list in lists}
    for subscription in list(subscriber.subscriptions):
        if subscription.list_id in wanted:
            subscription.frequency = frequency
            del wanted[subscription.list_id]
        elif not keep_others:
            subscriber.subscriptions.remove(subscription)  # delete-orphan: the row goes
    for register_list in wanted.values():
        subscriber.subscriptions.append(
            Subscription(register_list=register_list, frequency=frequency, created_at=now)
        )


# --- the manage page --------------------------------------------------------------------------


def update(
    session: Session,
    subscriber: Subscriber,
    list_slugs: Iterable[str],
    frequency: str | None,
    *,
    now: datetime,
) -> Outcome:
    """A subscriber's own change of lists and frequency, from the manage page.

    No lists means unsubscribing. A confirmed address gets exactly the lists chosen; any other
    (unsubscribed, bouncing, never confirmed) must first prove again that it reads its mail, so
    a confirmation email is owed instead and nothing else changes.
    """
    slugs = [slug for slug in list_slugs if slug and slug.strip()]
    if not slugs:
        unsubscribe(session, subscriber, now=now)
        return Outcome.UNSUBSCRIBED
    _, lists, choice = _clean(session, slugs, frequency)
    session.refresh(subscriber, with_for_update=True)
    if subscriber.status is not SubscriberStatus.CONFIRMED:
        request_confirmation(session, subscriber, lists, choice, now=now)
        return Outcome.CONFIRMATION_SENT
    before = preferences(subscriber)
    _set_subscriptions(subscriber, lists, choice, now=now, keep_others=False)
    after = preferences(subscriber)
    if before != after:
        record(
            session,
            "subscriber.update",
            SUBSCRIBER,
            now=now,
            target=("subscriber", subscriber.id),
            summary=f"now receives {_describe(lists, choice)}",
            before={"lists": before},
            after={"lists": after},
        )
    return Outcome.UPDATED


def unsubscribe(session: Session, subscriber: Subscriber, *, now: datetime) -> bool:
    """Stop everything for this address; returns False when there was nothing left to stop.

    Safe to repeat (a mail client may send the one-click request twice): subscriptions are
    deleted, notifications still owed are cancelled, and the address stays known as unsubscribed
    so that its old links still lead to a page saying so.
    """
    session.refresh(subscriber, with_for_update=True)
    before = {"status": subscriber.status.value, "lists": preferences(subscriber)}
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED and not before["lists"]:
        outbox.cancel_pending(session, subscriber, reason="unsubscribed")
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    session.execute(delete(Subscription).where(Subscription.subscriber_id == subscriber.id))
    session.expire(subscriber, ["subscriptions"])
    outbox.cancel_pending(session, subscriber, reason="unsubscribed")
    record(
        session,
        "subscriber.unsubscribe",
        SUBSCRIBER,
        now=now,
        target=("subscriber", subscriber.id),
        summary="unsubscribed from every list",
        before=before,
        after={"status": SubscriberStatus.UNSUBSCRIBED.value, "lists": {}},
    )
    return True


def request_manage_link(session: Session, email: str, *, now: datetime) -> Subscriber | None:
    """Owe the address an email with its manage link, if it belongs to a subscriber (in any
    state: an unsubscribed one may still want to see or delete its data).

    The caller answers the same whatever this returns, so nobody learns who subscribes.
    """
    subscriber = find_subscriber(session, normalise_email(email))
    if subscriber is not None:
        outbox.queue(session, NotificationKind.MANAGE_LINK, now=now, subscriber=subscriber)
    return subscriber


# --- a corrected address ---------------------------------------------------------------------


def request_address_change(session: Session, subscriber: Subscriber, email: str, *, now: datetime) -> str:
    """Owe the NEW address an email with a link that makes it this subscriber's address.

    Nothing changes before that link is followed from the new inbox (double opt-in). The answer
    is the same whether or not another subscriber has that address. Returns the new address.
    """
    address = normalise_email(email)
    if address == subscriber.email:
        raise ValidationError({"email": "This is already your address. Enter the new one."})
    outbox.queue(
        session,
        NotificationKind.CONFIRMATION,
        now=now,
        subscriber=subscriber,
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


def change_address(session: Session, claim: LinkClaim, now: datetime) -> Subscriber:
    """Follow an address link: the subscriber's address becomes the new one, confirmed.

    The key is replaced, so every link sent before (this one included) stops working. When
    another subscriber already has the new address, the two become one: this subscriber keeps
    the union of both one's lists (its own frequency where both had a list), the other one's
    notifications move over (a notice both got stays with the other, unlinked) and the other row
    goes. The old address is taken out of error texts that quote it.
    """
    subscriber = subscriber_for(session, claim, lock=True)
    if claim.email is None:
        raise TokenError(LINK_USED)
    new = normalise_email(claim.email)
    old = subscriber.email
    before = {"status": subscriber.status.value, "lists": preferences(subscriber)}
    other = session.scalar(
        select(Subscriber).where(Subscriber.email == new, Subscriber.id != subscriber.id).with_for_update()
    )
    merged_from = None
    if other is not None:
        merged_from = other.id
        _merge(session, into=subscriber, other=other)
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
    if old != new:
        scrub_everywhere(session, old)
    after = {"status": subscriber.status.value, "lists": preferences(subscriber)}
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


def _merge(session: Session, *, into: Subscriber, other: Subscriber) -> None:
    """Move ``other``'s lists and notifications to ``into`` and delete ``other``."""
    mine = {subscription.list_id for subscription in into.subscriptions}
    for subscription in other.subscriptions:
        if subscription.list_id not in mine:
            into.subscriptions.append(
                Subscription(
                    list_id=subscription.list_id,
                    frequency=subscription.frequency,
                    created_at=subscription.created_at,
                )
            )
    # A notice both were owed exists once per subscriber (unique per subscriber, notice and
    # kind): the other one's copy is cancelled if still owed, and stays unlinked either way.
    theirs = Notification.subscriber_id == other.id
    mine_pairs = set(
        session.execute(
            select(Notification.notice_id, Notification.kind).where(
                Notification.subscriber_id == into.id, Notification.notice_id.is_not(None)
            )
        ).all()
    )
    for notification_id, notice_id, kind, status in session.execute(
        select(Notification.id, Notification.notice_id, Notification.kind, Notification.status).where(theirs)
    ).all():
        values: dict[str, object] = {"subscriber_id": into.id}
        if (notice_id, kind) in mine_pairs:
            values = {"subscriber_id": None}
            if status in outbox.PENDING:
                values |= {"status": NotificationStatus.CANCELLED, "last_error": "address merged"}
        session.execute(
            sql_update(Notification)
            .where(Notification.id == notification_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
    session.delete(other)
    session.flush()


# --- housekeeping -----------------------------------------------------------------------------


def purge_unconfirmed(session: Session, *, now: datetime, older_than: timedelta) -> int:
    """Delete sign-ups never confirmed whose last confirmation request is older than ``older_than``.

    An address nobody confirmed is not kept: whoever typed it may not have been its owner.
    What was still owed to it is cancelled first; sent notifications keep their rows, unlinked.
    Returns how many were deleted.
    """
    stale = session.scalars(
        select(Subscriber)
        .where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.confirmed_at.is_(None),
            Subscriber.requested_at < now - older_than,
        )
        .order_by(Subscriber.id)
        .with_for_update(skip_locked=True)
    ).all()
    for subscriber in stale:
        outbox.cancel_pending(session, subscriber, reason="never confirmed")
        # What the mail server said about the address (it may quote it) goes with it.
        forget_deliveries(session, Notification.subscriber_id == subscriber.id)
        scrub_everywhere(session, subscriber.email)
        session.delete(subscriber)
    session.flush()
    return len(stale)
