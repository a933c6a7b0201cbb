"""The purge of sign-ups never confirmed, run by the scheduler with an injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from registry import scheduler
from registry.notifications import outbox
from registry.notifications.models import Notification, NotificationKind, NotificationStatus
from registry.subscriptions import jobs
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import NOW


def _subscriber(session: Any, email: str, status: SubscriberStatus, requested_at: Any) -> Subscriber:
    subscriber = Subscriber(email=email, status=status, created_at=requested_at, requested_at=requested_at)
    if status is not SubscriberStatus.PENDING:
        subscriber.confirmed_at = requested_at
    session.add(subscriber)
    session.flush()
    return subscriber


def test_unconfirmed_sign_ups_are_purged_after_the_configured_time(app: Flask, session: Any) -> None:
    limit = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    old = _subscriber(
        session, "old@example.com", SubscriberStatus.PENDING, NOW - limit - timedelta(seconds=1)
    )
    _subscriber(session, "edge@example.com", SubscriberStatus.PENDING, NOW - limit)
    _subscriber(session, "recent@example.com", SubscriberStatus.PENDING, NOW - timedelta(hours=1))
    _subscriber(session, "confirmed@example.com", SubscriberStatus.CONFIRMED, NOW - 10 * limit)
    owed = outbox.queue(session, NotificationKind.CONFIRMATION, now=NOW - limit * 2, subscriber=old)
    sent = outbox.queue(session, NotificationKind.CONFIRMATION, now=NOW - limit * 2, subscriber=old)
    sent.status = NotificationStatus.SENT
    session.commit()
    owed_id, sent_id = owed.id, sent.id

    assert jobs.purge_unconfirmed(clock=lambda: NOW) == 1
    left = set(session.scalars(select(Subscriber.email)))
    assert left == {"edge@example.com", "recent@example.com", "confirmed@example.com"}
    # What was still owed is cancelled, what was sent stays; both lose their link to the address.
    cancelled, kept = session.get(Notification, owed_id), session.get(Notification, sent_id)
    assert (cancelled.status, cancelled.subscriber_id) == (NotificationStatus.CANCELLED, None)
    assert (kept.status, kept.subscriber_id) == (NotificationStatus.SENT, None)

    # Safe to run twice; a later clock reaches the others that are still unconfirmed.
    assert jobs.purge_unconfirmed(clock=lambda: NOW) == 0
    assert jobs.purge_unconfirmed(clock=lambda: NOW + limit) == 2
    assert set(session.scalars(select(Subscriber.email))) == {"confirmed@example.com"}


def test_a_new_request_restarts_the_wait(app: Flask, session: Any) -> None:
    from registry.lists.services import create_list
    from registry.subscriptions import services

    create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    limit = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    _subscriber(session, "ada@example.com", SubscriberStatus.PENDING, NOW - 2 * limit)
    services.subscribe(session, "ada@example.com", ["sub-processors"], "each", now=NOW - timedelta(minutes=5))
    session.commit()
    assert jobs.purge_unconfirmed(clock=lambda: NOW) == 0


def test_the_purge_is_scheduled() -> None:
    [schedule] = [s for s in scheduler.schedules() if s.name == "purge-unconfirmed"]
    assert schedule.run is jobs.purge_unconfirmed and schedule.every_setting == "PURGE_EVERY_SECONDS"
