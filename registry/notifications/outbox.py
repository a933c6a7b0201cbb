"""Writing to the outbox. Callers commit: a notification exists exactly when what it tells of does.

Fan-out is one INSERT ... SELECT per notice, so announcing to 100,000 subscribers does not load
them into memory, and the unique constraint on (subscriber, notice, kind) makes a second fan-out
of the same notice insert nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.objections.models import Objection
from registry.subscriptions.models import Subscriber


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


PENDING = (NotificationStatus.QUEUED, NotificationStatus.RETRYING, NotificationStatus.HELD)


def cancel_pending(session: Session, subscriber: Subscriber, *, reason: str) -> int:
    """Cancel what is still owed to a subscriber who left (or bounces); returns how many."""
    result = session.execute(
        update(Notification)
        .where(Notification.subscriber_id == subscriber.id, Notification.status.in_(PENDING))
        .values(status=NotificationStatus.CANCELLED, last_error=reason, lease_until=None)
    )
    return result.rowcount  # type: ignore[attr-defined]
