"""How the outbox reacts to the domains' events: every message owed is written in the session
of what caused it, so a notice and its notifications commit or roll back together.

``connect`` is called by the app factory; connecting twice is harmless (blinker keeps one
connection per receiver).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from registry.documents.models import DocumentRevision
from registry.lists.models import Notice, NoticeKind
from registry.notifications import outbox
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.objections import events as objection_events
from registry.objections.models import Objection
from registry.publishing import events as publication_events
from registry.subscriptions import events as subscription_events
from registry.subscriptions.models import Subscriber


def connect() -> None:
    """Subscribe the outbox to every event that owes or cancels a message."""
    publication_events.announced.connect(announced)
    publication_events.withdrawn.connect(withdrawn)
    publication_events.applied.connect(applied)
    publication_events.corrected.connect(corrected)
    objection_events.objection_received.connect(objection_received)
    subscription_events.message_owed.connect(message_owed)
    subscription_events.link_requested.connect(link_requested)
    subscription_events.subscriber_left.connect(subscriber_left)
    subscription_events.subscription_ended.connect(subscription_ended)
    subscription_events.subscribers_merging.connect(subscribers_merging)


# --- publications -----------------------------------------------------------------------------


def announced(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """Subscribers are owed the notice from the moment it is public."""
    if isinstance(sender, Notice):
        outbox.fan_out(session, sender, now=now)
    else:
        outbox.fan_out_revision(session, sender, now=now)


def withdrawn(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """Subscribers hear of a withdrawal, and so does everyone who objected to what was withdrawn."""
    if isinstance(sender, DocumentRevision):
        outbox.fan_out_revision(session, sender, now=now, kind=NotificationKind.REVISION_WITHDRAWAL)
        return
    outbox.fan_out(session, sender, now=now)
    assert sender.withdraws_id is not None
    objections = session.scalars(
        select(Objection).where(Objection.notice_id == sender.withdraws_id).order_by(Objection.id)
    )
    for objection in objections:
        outbox.queue(
            session,
            NotificationKind.OBJECTION_CLOSED,
            now=now,
            objection=objection,
            context={"withdrawal": sender.id},
        )


def applied(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """A list that asks for it reminds its subscribers on the day a change takes effect."""
    if isinstance(sender, Notice) and sender.register_list.remind_on_effective:
        outbox.fan_out(session, sender, now=now, kind=NotificationKind.REMINDER)


def corrected(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """A correction is told to subscribers too: the text they read changed, if only in wording."""
    if isinstance(sender, Notice):
        assert sender.kind is NoticeKind.CORRECTION
        outbox.fan_out(session, sender, now=now)
    else:
        outbox.fan_out_revision(session, sender, now=now)


def objection_received(sender: Objection, *, session: Session, now: datetime, **_: Any) -> None:
    outbox.queue(session, NotificationKind.OBJECTION_RECEIPT, now=now, objection=sender)


# --- subscribers ------------------------------------------------------------------------------

_PURPOSES = {"confirmation": NotificationKind.CONFIRMATION, "manage_link": NotificationKind.MANAGE_LINK}


def message_owed(
    sender: Subscriber,
    *,
    session: Session,
    now: datetime,
    purpose: str,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    outbox.queue(session, _PURPOSES[purpose], now=now, subscriber=sender, context=context)


def link_requested(sender: str, *, session: Session, now: datetime, **_: Any) -> None:
    """A fresh manage link for the address ``sender``, known or not (see ``queue_manage_link``)."""
    outbox.queue_manage_link(session, sender, now=now)


def subscriber_left(sender: Subscriber, *, session: Session, reason: str, **_: Any) -> None:
    outbox.cancel_pending(session, sender, reason=reason)


def subscription_ended(
    sender: Subscriber, *, session: Session, lists: set[int], documents: set[int], **_: Any
) -> None:
    """Cancel what is still owed about lists and documents the subscriber just left: notices
    and reminders queued or retrying, and those held for its weekly digest."""
    about_left = []
    if lists:
        about_left.append(Notification.notice_id.in_(select(Notice.id).where(Notice.list_id.in_(lists))))
    if documents:
        about_left.append(
            Notification.revision_id.in_(
                select(DocumentRevision.id).where(DocumentRevision.document_id.in_(documents))
            )
        )
    if not about_left:
        return
    session.execute(
        update(Notification)
        .where(
            Notification.subscriber_id == sender.id,
            Notification.status.in_(outbox.PENDING),
            or_(*about_left),
        )
        .values(
            status=NotificationStatus.CANCELLED,
            last_error="unsubscribed from its list or document",
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def subscribers_merging(sender: Subscriber, *, session: Session, other: Subscriber, **_: Any) -> None:
    """Move ``other``'s notifications to ``sender`` before ``other`` goes.

    A notice (or revision) both were owed exists once per subscriber (unique per subscriber,
    notice or revision, and kind): the other one's copy is cancelled if still owed, and stays
    unlinked either way.
    """
    into = sender
    mine_pairs = set()
    for notice_id, revision_id, kind in session.execute(
        select(Notification.notice_id, Notification.revision_id, Notification.kind).where(
            Notification.subscriber_id == into.id,
            or_(Notification.notice_id.is_not(None), Notification.revision_id.is_not(None)),
        )
    ).all():
        if notice_id is not None:
            mine_pairs.add(("notice", notice_id, kind))
        if revision_id is not None:
            mine_pairs.add(("revision", revision_id, kind))
    for notification_id, notice_id, revision_id, kind, status in session.execute(
        select(
            Notification.id,
            Notification.notice_id,
            Notification.revision_id,
            Notification.kind,
            Notification.status,
        ).where(Notification.subscriber_id == other.id)
    ).all():
        values: dict[str, object] = {"subscriber_id": into.id}
        if ("notice", notice_id, kind) in mine_pairs or ("revision", revision_id, kind) in mine_pairs:
            values = {"subscriber_id": None}
            if status in outbox.PENDING:
                values |= {"status": NotificationStatus.CANCELLED, "last_error": "address merged"}
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
