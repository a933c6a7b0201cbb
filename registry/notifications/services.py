"""What the outbox holds, for the delivery pages, and requeueing what could not be sent.

Counts are computed by the database (GROUP BY), never by loading rows: a notice to 100,000
subscribers is 100,000 notifications. Lists of rows are always paged. Functions take the session
(and the moment, where it matters) and never commit.

The audit trail is append-only and cannot forget, so a requeue is recorded with ids and counts
only, never a recipient's address or the server's reply (which often quotes the address).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, selectinload

from registry.audit.services import Actor, record
from registry.lists.models import Notice
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.objections.models import Objection
from registry.subscriptions.models import Subscriber

MAX_ID = 2**31 - 1
# What an admin must look at: given up on, or failing and tried again later.
PROBLEMS = (NotificationStatus.DEAD, NotificationStatus.RETRYING)


@dataclass
class Counts:
    """How many notifications are in each status."""

    by_status: dict[NotificationStatus, int] = field(default_factory=dict)

    def __getitem__(self, status: NotificationStatus | str) -> int:
        return self.by_status.get(NotificationStatus(status), 0)

    def add(self, status: NotificationStatus | str, count: int) -> None:
        status = NotificationStatus(status)
        self.by_status[status] = self.by_status.get(status, 0) + count

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def problems(self) -> int:
        return sum(self[status] for status in PROBLEMS)


def status_counts(session: Session) -> Counts:
    """Every notification in the outbox, per status."""
    counts = Counts()
    for status, count in session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    ):
        counts.add(status, count)
    return counts


# --- per notice ---------------------------------------------------------------------------------


@dataclass
class NoticeDeliveries:
    """One notice and what became of the notifications it owes (announcement and reminder alike)."""

    notice: Notice
    counts: Counts


def notice_deliveries(session: Session, *, limit: int, offset: int = 0) -> list[NoticeDeliveries]:
    """Announced notices, newest first, each with its notifications counted per status.

    A notice with nobody subscribed shows with no notifications, which is worth seeing too.
    """
    notices = list(
        session.scalars(
            select(Notice)
            .where(Notice.announced_at.is_not(None))
            .order_by(Notice.announced_at.desc(), Notice.id.desc())
            .options(
                selectinload(Notice.register_list),
                selectinload(Notice.changes),
                selectinload(Notice.withdraws).selectinload(Notice.changes),
            )
            .limit(limit)
            .offset(offset)
        )
    )
    counts = counts_per_notice(session, [notice.id for notice in notices])
    return [NoticeDeliveries(notice, counts.get(notice.id, Counts())) for notice in notices]


def counts_per_notice(session: Session, notice_ids: Iterable[int]) -> dict[int, Counts]:
    """Notice id -> its notifications per status, for the notices given."""
    ids = list(dict.fromkeys(notice_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Notification.notice_id, Notification.status, func.count())
        .where(Notification.notice_id.in_(ids))
        .group_by(Notification.notice_id, Notification.status)
    )
    counts: dict[int, Counts] = {}
    for notice_id, status, count in rows:
        assert notice_id is not None  # the filter above leaves no NULL
        counts.setdefault(notice_id, Counts()).add(status, count)
    return counts


def counts_by_kind(session: Session, *, notice_id: int | None) -> dict[NotificationKind, Counts]:
    """Kind -> notifications per status: of one notice, or (None) of those tied to no notice
    (confirmations, manage links, objection receipts, digests)."""
    condition = Notification.notice_id.is_(None) if notice_id is None else Notification.notice_id == notice_id
    rows = session.execute(
        select(Notification.kind, Notification.status, func.count())
        .where(condition)
        .group_by(Notification.kind, Notification.status)
    )
    counts: dict[NotificationKind, Counts] = {}
    for kind, status, count in rows:
        counts.setdefault(NotificationKind(kind), Counts()).add(status, count)
    return {kind: counts[kind] for kind in NotificationKind if kind in counts}


# --- the notifications that failed ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A dead or retrying notification as the pages show it; ``recipient`` None means erased."""

    id: int
    kind: NotificationKind
    status: NotificationStatus
    notice_id: int | None
    recipient: str | None
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


def problems(
    session: Session,
    *,
    statuses: Iterable[NotificationStatus] = PROBLEMS,
    notice_id: int | None = None,
    limit: int,
    offset: int = 0,
) -> list[Problem]:
    """Failed notifications, dead before retrying, oldest first, a page at a time.

    The recipient is the subscriber's address (an objection receipt's: the objector's); None
    once the subscriber or objection was erased.
    """
    dead_first = case((Notification.status == NotificationStatus.DEAD, 0), else_=1)
    query = (
        select(
            Notification.id,
            Notification.kind,
            Notification.status,
            Notification.notice_id,
            func.coalesce(Subscriber.email, Objection.email).label("recipient"),
            Notification.attempts,
            Notification.created_at,
            Notification.next_attempt_at,
            Notification.last_error,
        )
        .outerjoin(Subscriber, Subscriber.id == Notification.subscriber_id)
        .outerjoin(Objection, Objection.id == Notification.objection_id)
        .where(Notification.status.in_(list(statuses)))
        .order_by(dead_first, Notification.id)
        .limit(limit)
        .offset(offset)
    )
    if notice_id is not None:
        query = query.where(Notification.notice_id == notice_id)
    return [
        Problem(
            id=row.id,
            kind=NotificationKind(row.kind),
            status=NotificationStatus(row.status),
            notice_id=row.notice_id,
            recipient=row.recipient,
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
        )
        for row in session.execute(query)
    ]


def notices_by_id(session: Session, notice_ids: Iterable[int | None]) -> dict[int, Notice]:
    """The notices a page of notifications points to, loaded at once with what their titles need."""
    ids = {notice_id for notice_id in notice_ids if notice_id is not None}
    if not ids:
        return {}
    notices = session.scalars(
        select(Notice)
        .where(Notice.id.in_(ids))
        .options(
            selectinload(Notice.register_list),
            selectinload(Notice.changes),
            selectinload(Notice.withdraws).selectinload(Notice.changes),
        )
    )
    return {notice.id: notice for notice in notices}


def get_notification(session: Session, notification_id: int) -> Notification | None:
    return session.get(Notification, notification_id) if 0 < notification_id <= MAX_ID else None


# --- requeueing ----------------------------------------------------------------------------------


def retry_dead(session: Session, *, now: datetime, actor: Actor, notification_id: int | None = None) -> int:
    """Give dead notifications (one, or every one) another try now; returns how many.

    They become ``retrying``, due at ``now``, with their attempts kept: the delivery job sends
    them on its next run. Only rows still dead change, so two admins pressing at once requeue
    each row once. The requeue is audited with ids and counts, no addresses.
    """
    statement = update(Notification).where(Notification.status == NotificationStatus.DEAD)
    if notification_id is not None:
        statement = statement.where(Notification.id == notification_id)
    result = session.execute(
        statement.values(
            status=NotificationStatus.RETRYING, next_attempt_at=now, retry_since=now, lease_until=None
        ).execution_options(synchronize_session=False)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        one = notification_id is not None
        record(
            session,
            "notification.retry",
            actor,
            now=now,
            target=("notification", notification_id) if one else None,
            summary=f"Requeued dead notification {notification_id}"
            if one
            else f"Requeued {count} dead notification{'' if count == 1 else 's'}",
            before={"status": NotificationStatus.DEAD.value},
            after={"status": NotificationStatus.RETRYING.value, "count": count},
        )
    return count
