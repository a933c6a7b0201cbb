"""Fixtures for the privacy tests: a subscriber with a real history (subscribed through the pages,
sent notices over a real SMTP server, objected), and a scan of every cell of every table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.lists.services import get_notice
from registry.notifications.delivery import mark_bouncing
from registry.notifications.jobs import deliver_outbox
from registry.notifications.models import Notification
from registry.objections import services as objections
from registry.objections.models import Objection
from registry.subscriptions.models import Subscriber
from tests.conftest import NOW, Registry
from tests.notifications import conftest as delivery
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer
from tests.subscriptions.conftest import (
    confirm_form,
    confirm_path,
    fresh_token,
    post_subscribe,
    unsubscribe_token,
)

# A real SMTP server on loopback, and an app that sends to it (tests/notifications/conftest.py).
smtp = delivery.smtp
app = delivery.app
published = delivery.published

ADA = "ada@example.com"
# How Ada typed her address on the objection form: the same address, other letters (stored
# lower case, as subscribers' addresses are).
ADA_TYPED = "Ada@Example.COM"
BOB = "bob@example.org"


def deliver(app: Flask, clock: Clock | None = None) -> str:
    with app.app_context():
        return str(deliver_outbox(clock=clock or Clock()))


@dataclass
class History:
    """Ada's history: ids of what the export must show."""

    subscriber_id: int
    notice_ids: list[int]
    objection_reference: str
    # A fresh link's token (it opens the data), and the unsubscribe link's.
    fresh_token: str
    unsubscribe_token: str


def object_to(app: Flask, notice_id: int, email: str, **fields: Any) -> str:
    """An objection as the public form would record it; returns its reference."""
    with app.app_context():
        notice = get_notice(db.session, notice_id)
        assert notice is not None
        objection = objections.receive(
            db.session,
            notice,
            organisation=fields.get("organisation", "Lovelace Analytics GmbH"),
            contact_name=fields.get("contact_name", "Ada Lovelace"),
            email=email,
            reason=fields.get(
                "reason", "We do not agree to US transfers. Write to ada@example.com or call Ada Lovelace."
            ),
            actor=SYSTEM,
            now=fields.get("now", NOW + timedelta(days=1)),
        )
        db.session.commit()
        return objection.reference


@pytest.fixture
def history(app: Flask, client: FlaskClient, published: Registry, smtp: SmtpServer) -> History:
    """Ada subscribes through the pages and confirms, receives two notices (over SMTP), objects to
    one with her address typed in other letters, and gets the receipt. Bob receives the same
    notices; a mail server once quoted Ada's address refusing Bob's mail (kept without it)."""
    assert post_subscribe(client, ADA).status_code == 200
    path = confirm_path(app, ADA)
    assert client.post(path, data=confirm_form(client, path)).status_code == 200
    add_subscriber(app, BOB)
    notice_ids = [announce_acme(published), announce_acme(published, name="Beta Mail")]
    assert deliver(app).startswith("sent 5")  # the confirmation, and two notices to each
    reference = object_to(app, notice_ids[0], ADA_TYPED)
    assert deliver(app, Clock(NOW + timedelta(days=1))).startswith("sent 1")
    assert sorted(smtp.mailbox.recipients()) == [ADA, ADA, ADA, ADA, BOB, BOB]
    with app.app_context():
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None
        # Recorded as every refusal is (redacted: no stored error text keeps an address).
        mark_bouncing(db.session, bob.id, "550 5.7.1 <ADA@example.com>: forwarding loop", now=NOW)
        ada = db.session.scalar(select(Subscriber).where(Subscriber.email == ADA))
        assert ada is not None
        db.session.commit()
        return History(ada.id, notice_ids, reference, fresh_token(app, ADA), unsubscribe_token(app, ADA))


def cells_containing(app: Flask, needle: str) -> list[tuple[str, str, str]]:
    """(table, column, value) of every cell of every table whose text holds ``needle``, in any
    case: JSON cells included (as their text)."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None and needle.lower() in str(value).lower():
                        found.append((table.name, column, str(value)[:120]))
        db.session.rollback()
    return found


@dataclass(frozen=True)
class Counts:
    """What must still add up after an erasure."""

    notifications: Counter[tuple[int | None, str]]  # per notice and kind
    sent: Counter[int | None]  # sent notifications per notice
    objections: Counter[int]  # per notice
    subscribers: int


def counts(app: Flask) -> Counts:
    with app.app_context():
        rows = db.session.execute(
            select(Notification.notice_id, Notification.kind, Notification.status)
        ).all()
        notices = Counter((notice_id, str(kind)) for notice_id, kind, _ in rows)
        sent = Counter(notice_id for notice_id, _, status in rows if str(status) == "sent")
        per_notice = Counter(
            dict(
                db.session.execute(
                    select(Objection.notice_id, func.count()).group_by(Objection.notice_id)
                ).all()
            )
        )
        subscribers = db.session.scalar(select(func.count()).select_from(Subscriber)) or 0
        return Counts(notices, sent, per_notice, subscribers)
