"""What the publication core's events owe, delivered over real SMTP: objectors hear of a
withdrawal, subscribers of a correction, and the announce preview's subject is the email's."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from registry.audit.services import Actor
from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.models import Notice
from registry.lists.wording import notice_title
from registry.notifications.jobs import deliver_outbox
from registry.objections import services as objections
from tests.conftest import NOW, Registry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme, correct_a_link
from tests.smtp import SmtpServer

ADA = "ada@example.com"
OBJECTOR = Actor(None, "objector", "10.0.0.9")


def _deliver(app: Flask) -> None:
    with app.app_context():
        deliver_outbox(clock=Clock(NOW + timedelta(days=2)))


def test_objectors_of_a_withdrawn_notice_are_told(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, ADA)
    notice_id = announce_acme(published)
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        for email in ("legal@customer.example", "dpo@other.example"):
            objections.receive(
                db.session,
                notice,
                organisation="Customer",
                contact_name="Legal",
                email=email,
                reason="Not in the US, please.",
                actor=OBJECTOR,
                now=NOW + timedelta(hours=1),
            )
        db.session.commit()
        workflow.withdraw(
            db.session, notice, reason="We chose another provider.", now=NOW + timedelta(days=1)
        )
        db.session.commit()
    _deliver(app)

    [closed] = [m for m in smtp.mailbox.to("legal@customer.example") if m["Subject"].startswith("Withdrawn")]
    assert closed["Auto-Submitted"] == "auto-generated"
    body = closed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "New sub-processor: Acme Analytics (United States)" in body
    assert "Reason for the withdrawal: We chose another provider." in body
    assert "Not in the US" not in body  # nothing the objector typed is quoted back
    assert any(m["Subject"].startswith("Withdrawn:") for m in smtp.mailbox.to("dpo@other.example"))
    assert [m["Subject"] for m in smtp.mailbox.to(ADA)][-1].startswith("Withdrawn: New sub-processor: Acme")


def test_subscribers_get_a_short_correction_email(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    add_subscriber(app, ADA)
    correct_a_link(app)
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    assert message["Subject"] == "Corrected sub-processor: Azure (website), in effect since 2027-01-10"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "nothing new to object to" in body and "Link to the privacy page." in body
    assert "object" not in message.get_body(("html",)).get_content().split("nothing new to object to")[1]  # type: ignore[union-attr]


def test_the_announce_preview_shows_the_subject_the_email_has(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    add_subscriber(app, ADA)
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        change = workflow.draft_change(db.session, register_list, "retire", processor="mailer", now=NOW)
        db.session.commit()
        # The preview is the real announcement rolled back (as the announce page does it).
        notice = workflow.announce(
            db.session,
            register_list,
            [change],
            reason="Gone.",
            effective_at=NOW + timedelta(days=31),
            now=NOW,
        )
        previewed = notice_title(notice)
        db.session.rollback()
        change = db.session.scalar(select(type(change)).where(type(change).id == change.id))
        assert change is not None
        workflow.announce(
            db.session,
            register_list,
            [change],
            reason="Gone.",
            effective_at=NOW + timedelta(days=31),
            now=NOW,
        )
        db.session.commit()
    _deliver(app)
    [message] = smtp.mailbox.to(ADA)
    assert previewed == "Removed sub-processor: Mailer, effective 2027-02-10"
    assert message["Subject"] == previewed


def test_a_reminder_follows_the_applied_event(app: Flask, published: Registry, smtp: SmtpServer) -> None:
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        register_list.remind_on_effective = True
        db.session.commit()
    add_subscriber(app, ADA)
    announce_acme(published)
    assert published.apply_due(NOW + timedelta(days=41)) == 1
    with app.app_context():
        deliver_outbox(clock=Clock(NOW + timedelta(days=41)))
    subjects = [m["Subject"] for m in smtp.mailbox.to(ADA)]
    assert len(subjects) == 2 and subjects[0].startswith("New sub-processor: Acme Analytics")
