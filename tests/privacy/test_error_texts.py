"""No stored error text keeps an email address: a mail server's reply quoting one is redacted
where it is recorded (and where it is logged), so erasure never searches other rows' texts."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import select

from registry.extensions import db
from registry.notifications.models import DeliveryAttempt, Notification, NotificationStatus
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import Registry
from tests.notifications.conftest import add_subscriber, announce_acme
from tests.privacy.conftest import cells_containing, deliver
from tests.smtp import SmtpServer


def test_a_refusal_quoting_the_address_is_stored_and_logged_without_it(
    app: Flask, published: Registry, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    gone = add_subscriber(app, "nobody@example.org")
    busy = add_subscriber(app, "busy@example.org")
    smtp.mailbox.quote_refused = True
    smtp.mailbox.refuse_permanently.add("nobody@example.org")
    smtp.mailbox.refuse_temporarily.add("busy@example.org")
    announce_acme(published)
    with caplog.at_level(logging.DEBUG):
        report = deliver(app)
    assert "bounced 1" in report and "retrying 1" in report
    with app.app_context():
        bounced = db.session.get(Subscriber, gone)
        assert bounced is not None and bounced.status is SubscriberStatus.BOUNCING
        refused = "550 5.1.1 <[address]>: No such user here"
        assert bounced.bounce_reason == refused
        dead = db.session.scalars(select(Notification).where(Notification.subscriber_id == gone)).one()
        assert (dead.status, dead.last_error) == (NotificationStatus.DEAD, refused)
        retrying = db.session.scalars(select(Notification).where(Notification.subscriber_id == busy)).one()
        later = "451 4.3.0 <[address]>: Mailbox busy, try again later"
        assert (retrying.status, retrying.last_error) == (NotificationStatus.RETRYING, later)
        errors = db.session.scalars(select(DeliveryAttempt.error).where(DeliveryAttempt.error.is_not(None)))
        assert sorted(errors) == [later, refused]
    # Each address is only where it belongs: its subscriber's row.
    for address in ("nobody@example.org", "busy@example.org"):
        assert [table for table, _, _ in cells_containing(app, address)] == ["subscribers"]
        # Our own log lines (the test server's own log shows the envelope, as a server's would).
        ours = [record for record in caplog.records if record.name.startswith("registry")]
        assert not [record for record in ours if address in record.getMessage()]
