"""Writing to the outbox. Callers commit: a notification exists exactly when what it tells of does.

Fan-out is one INSERT ... SELECT per notice (or document revision), so announcing to 100,000
subscribers does not load them into memory, and the unique constraints on (subscriber, notice,
kind) and (subscriber, revision, kind) make a second fan-out of the same one insert nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Insert, and_, case, delete, false, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from registry.database import unindexed
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


def cancel_pending(db: Session | Connection, subscriber: Subscriber | int | list[int], *, reason: str) -> int:
    """Cancel what is still owed to a subscriber who left (or bounces), or to each of a list of
    subscriber ids (in one statement); returns how many.

    The rows are found by subscriber, whatever is pending in the outbox: the status is only
    checked (``unindexed``), since right after a fan-out nearly every row is queued."""
    whose: ColumnElement[bool]
    if isinstance(subscriber, list):
        whose = Notification.subscriber_id.in_(subscriber)
    else:
        whose = Notification.subscriber_id == (subscriber if isinstance(subscriber, int) else subscriber.id)
    result = db.execute(
        update(Notification)
        .where(whose, unindexed(Notification.status).in_(PENDING))
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


def bundle_due_digests(session: Session, *, now: datetime, limit: int) -> int:
    """Gather the due held notifications of up to ``limit`` subscribers into one digest
    notification each; returns how many digests were written (0: none was due).

    A few statements per batch, whatever its size and however many notifications there are: the
    subscribers are read from the front of the (status, next_attempt_at) index, the digests
    written in one INSERT, the held rows moved in one UPDATE guarded by their status; the rows
    moved are no longer held, so the next call starts at the front again. Two runs at once
    cannot bundle a row twice: the second one's UPDATE skips the rows the first one moved
    (PostgreSQL waits for the first to commit and checks again; SQLite runs one writer at a
    time), and the digests left with nothing in them are deleted before the batch ends.
    """
    held_due = and_(Notification.status == NotificationStatus.HELD, Notification.next_attempt_at <= now)
    # In the index's own order, so the database reads only the rows it returns (a few per
    # subscriber: the week's notices), not every notification of every subscriber.
    front = session.scalars(
        select(Notification.subscriber_id)
        .where(held_due, Notification.subscriber_id.is_not(None))
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit * 8)
    )
    subscriber_ids = [subscriber_id for subscriber_id in dict.fromkeys(front) if subscriber_id is not None]
    subscriber_ids = subscriber_ids[:limit]
    if not subscriber_ids:
        return 0
    rows = [
        {
            "kind": NotificationKind.DIGEST,
            "status": NotificationStatus.QUEUED,
            "subscriber_id": subscriber_id,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for subscriber_id in subscriber_ids
    ]
    digests = session.execute(
        insert(Notification).returning(Notification.id, Notification.subscriber_id), rows
    ).all()
    digest_of = {subscriber_id: digest_id for digest_id, subscriber_id in digests}
    session.execute(
        update(Notification)
        .where(held_due, Notification.subscriber_id.in_(subscriber_ids))
        .values(
            status=NotificationStatus.BUNDLED,
            digest_id=case(digest_of, value=Notification.subscriber_id),
        )
        .execution_options(synchronize_session=False)
    )
    bundled = aliased(Notification)
    empty = session.execute(
        delete(Notification)
        .where(
            Notification.id.in_(list(digest_of.values())),
            ~select(bundled.id).where(bundled.digest_id == Notification.id).exists(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return len(digests) - empty
