"""Writing to the outbox. Callers commit: a notification exists exactly when what it tells of does.

Fan-out is one INSERT ... SELECT per notice (or document revision), so announcing to 100,000
subscribers does not load them into memory, and the unique constraints on (subscriber, notice,
kind) and (subscriber, revision, kind) make a second fan-out of the same one insert nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Insert, case, false, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from registry.documents.models import DocumentRevision
from registry.documents.services import published_at_once
from registry.lists.models import Notice, NoticeKind
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.objections.models import Objection
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from registry.timeutil import UTCDateTime


def queue(
    session: Session,
    kind: NotificationKind,
    *,
    now: datetime,
    subscriber: Subscriber | None = None,
    objection: Objection | None = None,
    context: dict[str, Any] | None = None,
) -> Notification:
    """Owe one message (a confirmation, a manage link, an objection receipt); sent by the job."""
    notification = Notification(
        kind=kind,
        subscriber=subscriber,
        objection=objection,
        context=context,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(notification)
    session.flush()
    return notification


def queue_manage_link(session: Session, address: str, *, now: datetime) -> None:
    """Owe ``address`` a fresh manage link, whether or not a subscriber has it.

    One INSERT whose subscriber is a subquery on the address: the same statement, the same
    work, for a known and an unknown address. The row of an unknown one links nobody and holds
    no address; the sender finds no recipient for it and cancels it.
    """
    session.execute(
        insert(Notification).values(
            kind=NotificationKind.MANAGE_LINK,
            status=NotificationStatus.QUEUED,
            subscriber_id=select(Subscriber.id).where(Subscriber.email == address).scalar_subquery(),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


PENDING = (NotificationStatus.QUEUED, NotificationStatus.RETRYING, NotificationStatus.HELD)


def cancel_pending(db: Session | Connection, subscriber: Subscriber | int, *, reason: str) -> int:
    """Cancel what is still owed to a subscriber who left (or bounces); returns how many."""
    subscriber_id = subscriber if isinstance(subscriber, int) else subscriber.id
    result = db.execute(
        update(Notification)
        .where(Notification.subscriber_id == subscriber_id, Notification.status.in_(PENDING))
        .values(status=NotificationStatus.CANCELLED, last_error=reason, lease_until=None)
    )
    return result.rowcount  # type: ignore[attr-defined]


def next_digest_at(now: datetime, weekday: int, hour: int) -> datetime:
    """The first digest time (``weekday`` at ``hour`` UTC) at or after ``now``."""
    start = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    days = (weekday - now.weekday()) % 7
    moment = start + timedelta(days=days)
    return moment if moment >= now else moment + timedelta(days=7)


def _insert(session: Session) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def fan_out(
    session: Session, notice: Notice, *, now: datetime, kind: NotificationKind = NotificationKind.NOTICE
) -> int:
    """Owe ``notice`` to every confirmed subscriber of its list, in the caller's transaction.

    Weekly subscribers' notifications are held for their digest. Returns how many were written;
    a notice already fanned out writes none (the unique constraint, ON CONFLICT DO NOTHING).
    """
    return _fan_out(
        session,
        Subscription.list_id == notice.list_id,
        "notice_id",
        notice.id,
        kind=kind,
        now=now,
        acts_by=_acts_by(notice) if kind is NotificationKind.NOTICE else None,
    )


def _acts_by(notice: Notice) -> datetime | None:
    """When news of ``notice`` stops being of use to a reader who would act on it: the objection
    deadline or the effective date of an announcement, whichever comes first, and the date a
    withdrawn change would have taken effect. None for a correction: nothing to act on."""
    if notice.kind is NoticeKind.ANNOUNCEMENT:
        moments = [notice.effective_at, notice.objection_deadline]
        return min(moment for moment in moments if moment is not None)
    if notice.kind is NoticeKind.WITHDRAWAL and notice.withdraws is not None:
        return notice.withdraws.effective_at
    return None


def fan_out_revision(
    session: Session,
    revision: DocumentRevision,
    *,
    now: datetime,
    kind: NotificationKind = NotificationKind.REVISION,
) -> int:
    """Owe news of a document ``revision`` to every confirmed subscriber of its document, in the
    caller's transaction: ``REVISION`` when it becomes public (announced, or published at once),
    ``REVISION_WITHDRAWAL`` when an announced one is withdrawn.

    As for notices: weekly subscribers' notifications are held for their digest, and a second
    fan-out of the same revision and kind writes none. Returns how many were written.
    """
    return _fan_out(
        session,
        Subscription.document_id == revision.document_id,
        "revision_id",
        revision.id,
        kind=kind,
        now=now,
        # An announced revision (or the withdrawal of one) matters until its effective date; a
        # correction is already in effect.
        acts_by=None if published_at_once(revision) else revision.effective_at,
    )


def _fan_out(
    session: Session,
    subscribed: ColumnElement[bool],
    about: str,
    about_id: int,
    *,
    kind: NotificationKind,
    now: datetime,
    acts_by: datetime | None,
) -> int:
    """One INSERT ... SELECT of a notification per confirmed subscriber matching ``subscribed``,
    pointing at ``about`` (``notice_id`` or ``revision_id``) = ``about_id``.

    Weekly subscribers' notifications wait for the next digest, unless what they tell of must be
    acted on before it goes out (``acts_by``, e.g. a short-notice change's objection deadline):
    then they go at once, since a digest would bring them too late to object.
    """
    config = current_app.config
    digest_at = next_digest_at(now, config["DIGEST_WEEKDAY"], config["DIGEST_HOUR"])
    held = acts_by is None or acts_by > digest_at
    weekly = Subscription.frequency == Frequency.WEEKLY if held else false()
    recipients = (
        select(
            literal(kind.value).label("kind"),
            case((weekly, NotificationStatus.HELD.value), else_=NotificationStatus.QUEUED.value).label(
                "status"
            ),
            Subscription.subscriber_id,
            literal(about_id).label(about),
            literal(now, UTCDateTime).label("created_at"),
            case((weekly, literal(digest_at, UTCDateTime)), else_=literal(now, UTCDateTime)).label(
                "next_attempt_at"
            ),
            literal(0).label("attempts"),
        )
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(subscribed, Subscriber.status == SubscriberStatus.CONFIRMED)
    )
    columns = ["kind", "status", "subscriber_id", about, "created_at", "next_attempt_at", "attempts"]
    statement: Insert = (
        _insert(session)(Notification).from_select(columns, recipients).on_conflict_do_nothing()
    )
    result = session.execute(statement)
    return result.rowcount  # type: ignore[attr-defined]


def subscribers_with_digest_due(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Subscribers whose held notifications are due to go out as a digest, oldest first."""
    return list(
        session.scalars(
            select(Notification.subscriber_id)
            .where(Notification.status == NotificationStatus.HELD, Notification.next_attempt_at <= now)
            .group_by(Notification.subscriber_id)
            .order_by(func.min(Notification.id))
            .limit(limit)
        )
    )


def bundle_digest(session: Session, subscriber_id: int, *, now: datetime) -> Notification | None:
    """Gather one subscriber's due held notifications into one digest notification.

    The held rows move in one UPDATE guarded by their status, so two runs at once cannot bundle
    a row twice: the loser's UPDATE matches nothing and it must roll back (None is returned).
    """
    digest = Notification(
        kind=NotificationKind.DIGEST, subscriber_id=subscriber_id, created_at=now, next_attempt_at=now
    )
    session.add(digest)
    session.flush()
    moved = session.execute(
        update(Notification)
        .where(
            Notification.subscriber_id == subscriber_id,
            Notification.status == NotificationStatus.HELD,
            Notification.next_attempt_at <= now,
        )
        .values(status=NotificationStatus.BUNDLED, digest_id=digest.id)
    ).rowcount  # type: ignore[attr-defined]
    return digest if moved else None
