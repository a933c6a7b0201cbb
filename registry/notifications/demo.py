"""A demo subscriber, so a person trying the service sees a notice arrive in instance/mail/."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.lists import services
from registry.lists.models import Notice, NoticeKind, NoticeStatus
from registry.notifications import outbox
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription

ADDRESS = "subscriber@example.com"


def load(session: Session, now: datetime) -> str | None:
    """Subscribe ``ADDRESS`` to the default list and owe it the notices still to take effect."""
    register_list = services.get_list(session, current_app.config["DEFAULT_LIST"])
    if register_list is None:
        return None
    subscriber = Subscriber(
        email=ADDRESS,
        status=SubscriberStatus.CONFIRMED,
        confirmations=1,
        created_at=now,
        requested_at=now,
        confirmed_at=now,
    )
    subscriber.subscriptions.append(
        Subscription(list_id=register_list.id, frequency=Frequency.EACH, created_at=now)
    )
    session.add(subscriber)
    session.flush()
    upcoming = session.scalars(
        select(Notice).where(
            Notice.list_id == register_list.id,
            Notice.kind == NoticeKind.ANNOUNCEMENT,
            Notice.status == NoticeStatus.PUBLISHED,
            Notice.effective_at > now,
        )
    )
    for notice in upcoming:
        outbox.fan_out(session, notice, now=now)
    return ADDRESS
