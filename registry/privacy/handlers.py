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
from registry.privacy.scrub import forget_deliveries, scrub_everywhere, scrub_everywhere_many
from registry.subscriptions import events
from registry.subscriptions.models import Subscriber
from registry.subscriptions.services import SUBSCRIBER


def connect() -> None:
    events.address_replaced.connect(address_replaced)
    events.subscribers_purged.connect(subscribers_purged)
    events.data_requested.connect(data_requested)
    events.erasure_requested.connect(erasure_requested)
    traces.connect()


def address_replaced(_sender: Subscriber, *, session: Session, old: str, **_: Any) -> None:
    """Error texts that quote the old address forget it."""
    scrub_everywhere(session, old)


def subscribers_purged(sender: list[Subscriber], *, session: Session, **_: Any) -> None:
    """Sign-ups never confirmed go with what they left: owed messages, what servers said of them.
    One statement per kind of record for the whole batch."""
    ids = [subscriber.id for subscriber in sender]
    addresses = [subscriber.email for subscriber in sender]
    outbox.cancel_pending(session, ids, reason="never confirmed")
    forget_deliveries(session, Notification.subscriber_id.in_(ids))
    scrub_everywhere_many(session, addresses)
    traces.forget_on_commit(session, addresses)


def data_requested(sender: Subscriber, *, session: Session, now: datetime, **_: Any) -> dict[str, Any]:
    return services.subject_data(session, sender.email, now=now)


def erasure_requested(sender: Subscriber, *, session: Session, now: datetime, reason: str, **_: Any) -> None:
    services.erase_subscriber(session, sender, actor=SUBSCRIBER, now=now, reason=reason)
