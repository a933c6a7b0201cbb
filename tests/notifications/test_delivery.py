"""Announce, deliver, and check what a real SMTP server received: once, with the right headers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from registry.extensions import db
from registry.lists import workflow
from registry.lists.models import Notice
from registry.notifications.jobs import deliver_outbox
from registry.notifications.models import DeliveryAttempt, Notification, NotificationStatus
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import NOW, Registry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer, silent_server


def deliver(app: Flask, clock: Clock | None = None) -> object:
    with app.app_context():
        return deliver_outbox(clock=clock or Clock())


def statuses(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Notification.status, func.count()).group_by(Notification.status))
        return {str(status): count for status, count in rows}


def test_each_subscriber_gets_one_email_and_a_second_run_sends_nothing(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    addresses = [f"customer{i}@example.org" for i in range(5)]
    for address in addresses:
        add_subscriber(app, address)
    announce_acme(published)

    report = deliver(app)
    assert str(report).startswith("sent 5,")
    assert sorted(smtp.mailbox.recipients()) == sorted(addresses)

    deliver(app)
    assert len(smtp.mailbox.messages) == 5
    assert statuses(app) == {"sent": 5}


def test_the_email_says_what_changed_with_list_headers(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, "dpo@example.org")
    notice_id = announce_acme(published)
    deliver(app)

    [message] = smtp.mailbox.to("dpo@example.org")
    assert message["Subject"] == "New sub-processor: Acme Analytics (United States), effective 2027-02-19"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://registry.example/unsubscribe/")
    assert "<mailto:privacy@example.com?subject=unsubscribe>" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with app.app_context():
        notification = db.session.scalars(select(Notification)).one()
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        assert message["Message-ID"] == f"<notification.{notification.id}.notice@registry.example>"
        uuid = notice.uuid
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Acme Analytics" in body
        assert "Product analytics." in body
        assert "United States" in body
        assert "Standard Contractual Clauses" in body
        assert "19 February 2027" in body  # effective date
        assert "18 February 2027" in body  # objection deadline
        assert f"https://registry.example/notices/{uuid}/object" in body
        assert "https://registry.example/processors/changes" in body
        assert "https://registry.example/subscription/" in body
    assert "<img" not in html  # no tracking pixels


def test_names_are_escaped_in_the_html_email(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "dpo@example.org")
    announce_acme(published, name='<b>Evil</b> & "Co"')
    deliver(app)
    [message] = smtp.mailbox.messages
    html = message.get_body(("html",)).get_content()
    assert "<b>Evil</b>" not in html
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; &#34;Co&#34;" in html
    assert message["Subject"].startswith('New sub-processor: <b>Evil</b> & "Co"')


def test_only_confirmed_subscribers_of_that_list_are_notified(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    published.create_list("subcontractors", "Subcontractors")
    add_subscriber(app, "yes@example.org")
    add_subscriber(app, "pending@example.org", status=SubscriberStatus.PENDING)
    add_subscriber(app, "gone@example.org", status=SubscriberStatus.UNSUBSCRIBED)
    add_subscriber(app, "other@example.org", "subcontractors")
    announce_acme(published)
    deliver(app)
    assert smtp.mailbox.recipients() == ["yes@example.org"]


def test_a_withdrawal_is_its_own_notice(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "dpo@example.org")
    notice_id = announce_acme(published)
    deliver(app)
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        workflow.withdraw(db.session, notice, reason="We chose another vendor.", now=NOW + timedelta(days=1))
        db.session.commit()
    deliver(app, Clock(NOW + timedelta(days=1)))
    first, second = smtp.mailbox.to("dpo@example.org")
    assert second["Subject"].startswith("Withdrawn: New sub-processor: Acme Analytics")
    assert "We chose another vendor." in second.get_body(("plain",)).get_content()
    assert first["Message-ID"] != second["Message-ID"]


def test_a_reminder_when_the_change_takes_effect_if_the_list_asks_for_it(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    with app.app_context():
        from registry.lists import services

        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        register_list.remind_on_effective = True
        db.session.commit()
    add_subscriber(app, "dpo@example.org")
    announce_acme(published)
    effective = NOW + timedelta(days=40)
    assert published.apply_due(effective) == 1
    deliver(app, Clock(effective))
    announcement, reminder = smtp.mailbox.to("dpo@example.org")
    assert announcement["Subject"].startswith("New sub-processor: Acme Analytics")
    assert reminder["Subject"].startswith("In effect today: New sub-processor: Acme Analytics")


def test_an_unsubscribed_address_gets_nothing_still_queued(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    subscriber_id = add_subscriber(app, "leaving@example.org")
    announce_acme(published)
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        subscriber.status = SubscriberStatus.UNSUBSCRIBED  # left without the outbox being told
        db.session.commit()
    deliver(app)
    assert smtp.mailbox.messages == []
    assert statuses(app) == {"cancelled": 1}


def test_smtp_down_then_up_delivers_everything(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    for i in range(3):
        add_subscriber(app, f"c{i}@example.org")
    announce_acme(published)
    smtp.stop()
    clock = Clock()
    report = deliver(app, clock)
    assert "retrying 3" in str(report)
    assert statuses(app) == {"retrying": 3}

    smtp.start()
    deliver(app, clock)  # not yet: each waits for its backoff
    assert smtp.mailbox.messages == []
    clock.advance(minutes=2)
    deliver(app, clock)
    assert sorted(smtp.mailbox.recipients()) == ["c0@example.org", "c1@example.org", "c2@example.org"]
    assert statuses(app) == {"sent": 3}
    with app.app_context():
        outcomes = db.session.scalars(select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
    assert [str(o) for o in outcomes] == ["temporary"] * 3 + ["sent"] * 3


def test_a_server_that_never_answers_times_out_and_later_runs_still_happen(
    app_factory, published: Registry
) -> None:
    with silent_server() as port:
        app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=0.5)
        published.app = app
        add_subscriber(app, "dpo@example.org")
        announce_acme(published)
        clock = Clock()
        report = deliver(app, clock)
        assert "retrying 1" in str(report)
        assert "timed out" in report.errors[0]
        clock.advance(minutes=2)
        report = deliver(app, clock)  # the next run is not stuck behind the first
        assert "retrying 1" in str(report)
    with app.app_context():
        notification = db.session.scalars(select(Notification)).one()
        assert notification.attempts == 2
        assert "timed out" in (notification.last_error or "")


def test_a_permanent_refusal_marks_the_address_bouncing_and_the_batch_goes_on(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, "a@example.org")
    bad = add_subscriber(app, "nobody@example.org")
    add_subscriber(app, "z@example.org")
    smtp.mailbox.refuse_permanently.add("nobody@example.org")
    announce_acme(published)
    report = deliver(app)
    assert "bounced 1" in str(report)
    assert sorted(smtp.mailbox.recipients()) == ["a@example.org", "z@example.org"]
    with app.app_context():
        subscriber = db.session.get(Subscriber, bad)
        assert subscriber is not None
        assert subscriber.status is SubscriberStatus.BOUNCING
        assert "550" in (subscriber.bounce_reason or "")
        dead = db.session.scalars(select(Notification).where(Notification.subscriber_id == bad)).one()
        assert dead.status is NotificationStatus.DEAD
    # A bouncing address is not notified of the next notice.
    announce_acme(published, name="Beta Mail")
    deliver(app)
    assert "nobody@example.org" not in smtp.mailbox.recipients()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "command-by-command"])
def test_each_envelope_goes_in_one_write_to_a_server_that_offers_pipelining(
    app: Flask, published: Registry, smtp: SmtpServer, pipelining: bool
) -> None:
    # The same outcomes either way: accepted, refused for good, refused for now.
    smtp.mailbox.pipelining = pipelining
    for address in ("a@example.org", "nobody@example.org", "busy@example.org", "z@example.org"):
        add_subscriber(app, address)
    smtp.mailbox.refuse_permanently.add("nobody@example.org")
    smtp.mailbox.refuse_temporarily.add("busy@example.org")
    announce_acme(published)
    report = deliver(app)
    assert "sent 2" in str(report) and "bounced 1" in str(report)
    assert sorted(smtp.mailbox.recipients()) == ["a@example.org", "z@example.org"]
    assert statuses(app) == {"sent": 2, "dead": 1, "retrying": 1}
    # MAIL FROM, RCPT TO and DATA in one write, one round trip instead of three.
    assert smtp.mailbox.pipelined == (4 if pipelining else 0)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "command-by-command"])
def test_each_envelope_goes_with_the_end_of_the_message_before_it(
    app: Flask, published: Registry, smtp: SmtpServer, pipelining: bool
) -> None:
    """To a server that offers PIPELINING, a message's envelope goes in the write that ends the
    message before it (RFC 2920 lets a content begin a group): one round trip per message."""
    smtp.mailbox.pipelining = pipelining
    addresses = [f"reader{i}@example.org" for i in range(5)]
    for address in addresses:
        add_subscriber(app, address)
    announce_acme(published)
    deliver(app)
    assert sorted(smtp.mailbox.recipients()) == addresses
    assert statuses(app) == {"sent": 5}
    assert smtp.mailbox.ahead == (4 if pipelining else 0)  # all but the last


def test_a_temporary_refusal_is_retried(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, "busy@example.org")
    smtp.mailbox.refuse_temporarily.add("busy@example.org")
    announce_acme(published)
    clock = Clock()
    deliver(app, clock)
    assert statuses(app) == {"retrying": 1}
    smtp.mailbox.refuse_temporarily.clear()
    clock.advance(hours=1)
    deliver(app, clock)
    assert smtp.mailbox.recipients() == ["busy@example.org"]


def test_after_two_days_of_failures_the_notification_is_dead(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, "dpo@example.org")
    announce_acme(published)
    smtp.stop()
    clock = Clock()
    tries = 0
    while statuses(app) != {"dead": 1}:
        deliver(app, clock)
        tries += 1
        clock.advance(hours=4)
        assert tries < 40
    assert clock.now - NOW <= timedelta(days=2, hours=4)
    assert tries > 10  # backed off, but kept trying


def test_an_error_at_quit_after_acceptance_does_not_resend(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    smtp.mailbox.break_at_quit = True
    add_subscriber(app, "dpo@example.org")
    announce_acme(published)
    clock = Clock()
    deliver(app, clock)
    clock.advance(days=1)
    deliver(app, clock)
    assert smtp.mailbox.recipients() == ["dpo@example.org"]
    assert statuses(app) == {"sent": 1}


def test_a_requeued_dead_notification_gets_a_new_retry_period(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    from registry.audit.services import SYSTEM
    from registry.notifications.services import retry_dead

    add_subscriber(app, "dpo@example.org")
    announce_acme(published)
    smtp.stop()
    clock = Clock()
    while statuses(app) != {"dead": 1}:
        deliver(app, clock)
        clock.advance(hours=4)
    with app.app_context():
        assert retry_dead(db.session, now=clock.now, actor=SYSTEM) == 1
        db.session.commit()
    deliver(app, clock)  # the server is still down: a failure, but not the end
    assert statuses(app) == {"retrying": 1}
    smtp.start()
    clock.advance(hours=4)
    deliver(app, clock)
    assert smtp.mailbox.recipients() == ["dpo@example.org"]


def test_an_address_smtp_cannot_carry_is_dead_and_the_batch_goes_on(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, "a@example.org")
    odd = add_subscriber(app, "jörg@example.org")  # stored before input refused such addresses
    add_subscriber(app, "z@example.org")
    announce_acme(published)
    report = deliver(app)
    assert "dead 1" in str(report)
    assert sorted(smtp.mailbox.recipients()) == ["a@example.org", "z@example.org"]
    with app.app_context():
        notification = db.session.scalars(select(Notification).where(Notification.subscriber_id == odd)).one()
        assert notification.status is NotificationStatus.DEAD
        assert "cannot be sent" in (notification.last_error or "")
        subscriber = db.session.get(Subscriber, odd)
        assert subscriber is not None and subscriber.status is SubscriberStatus.CONFIRMED


class SlowClock(Clock):
    """Every look at the clock costs a minute: a batch that outlasts its lease."""

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def test_a_batch_gives_back_what_it_cannot_send_before_its_lease_ends(
    app_factory, published: Registry, smtp: SmtpServer
) -> None:
    app = app_factory(**smtp.settings(DELIVERY_LEASE_SECONDS=600, MAIL_TIMEOUT=5))
    published.app = app
    addresses = [f"c{i:02}@example.org" for i in range(12)]
    for address in addresses:
        add_subscriber(app, address)
    announce_acme(published)
    clock = SlowClock()
    deliver(app, clock)
    first = statuses(app)
    assert 0 < first["sent"] < len(addresses)
    assert first["queued"] == len(addresses) - first["sent"]  # given back, not left claimed
    while statuses(app) != {"sent": len(addresses)}:
        deliver(app, clock)
    assert sorted(smtp.mailbox.recipients()) == addresses  # each once


def test_a_refused_new_address_does_not_mark_the_subscriber_bouncing(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    from registry.notifications import outbox
    from registry.notifications.models import NotificationKind

    subscriber_id = add_subscriber(app, "ada@example.org")
    smtp.mailbox.refuse_permanently.add("typo@exmaple.org")
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        outbox.queue(
            db.session,
            NotificationKind.CONFIRMATION,
            now=NOW,
            subscriber=subscriber,
            context={"purpose": "address_change", "address": "typo@exmaple.org"},
        )
        db.session.commit()
    report = deliver(app)
    assert "dead 1" in str(report) and "bounced 0" in str(report)
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber is not None and subscriber.status is SubscriberStatus.CONFIRMED


def test_a_receipt_for_an_erased_objection_is_not_sent(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    from registry.notifications import outbox
    from registry.notifications.models import NotificationKind
    from registry.objections.models import Objection

    notice_id = announce_acme(published)
    with app.app_context():
        objection = Objection(
            notice_id=notice_id,
            organisation="Acme",
            contact_name="[erased]",
            email="[erased]",
            reason="[erased]",
            created_at=NOW,
        )
        db.session.add(objection)
        db.session.flush()
        outbox.queue(db.session, NotificationKind.OBJECTION_RECEIPT, now=NOW, objection=objection)
        db.session.commit()
    assert "cancelled 1" in str(deliver(app))
    assert smtp.mailbox.messages == []
