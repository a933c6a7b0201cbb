"""How the privacy area reacts to subscribers' events: it sees every table that may hold an
address, so it answers the subscriber's own data requests and forgets what an address left
behind. ``connect`` is called by the app factory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.notifications import outbox
from registry.notifications.models import Notification
from registry.privacy import services, traces
from registry.privacy.scrub import forget_deliveries
from registry.subscriptions import events
from registry.subscriptions.models import Subscriber
from registry.subscriptions.services import SUBSCRIBER


def connect() -> None:
    events.subscribers_purged.connect(subscribers_purged)
    events.data_requested.connect(data_requested)
    events.erasure_requested.connect(erasure_requested)
    traces.connect()


def subscribers_purged(sender: list[Subscriber], *, session: Session, **_: Any) -> None:
    """Sign-ups never confirmed go with what they left: owed messages, what servers said of them
    (their own rows' texts, found by key: no other row's text ever holds an address). One
    statement per kind of record for the whole batch."""
    ids = [subscriber.id for subscriber in sender]
    addresses = [subscriber.email for subscriber in sender]
    outbox.cancel_pending(session, ids, reason="never confirmed")
    forget_deliveries(session, Notification.subscriber_id.in_(ids))
    traces.forget_on_commit(session, addresses)


def data_requested(sender: Subscriber, *, session: Session, now: datetime, **_: Any) -> dict[str, Any]:
    return services.subject_data(session, sender.email, now=now)


def erasure_requested(sender: Subscriber, *, session: Session, now: datetime, reason: str, **_: Any) -> None:
    services.erase_subscriber(session, sender, actor=SUBSCRIBER, now=now, reason=reason)
