"""Subscribers of a document: they subscribe and confirm through the pages, hear of each revision
made public (once, over a real SMTP server, with one-click unsubscribe), of a withdrawal, and of
nothing when the revision takes effect; list and document subscribers hear only of their own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.audit.services import Actor
from registry.documents import jobs as document_jobs
from registry.documents import services as documents_services
from registry.documents import workflow
from registry.documents.models import DocumentRevision, RevisionStatus
from registry.extensions import db
from registry.notifications.jobs import bundle_digests
from registry.notifications.models import Notification, NotificationKind
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from tests.conftest import NOW, Registry, Users
from tests.documents.conftest import EFFECTIVE, SLUG, Documents
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.notifications.test_delivery import deliver, statuses
from tests.smtp import SmtpServer
from tests.subscriptions.conftest import confirm_form, post_subscribe

ADA = "ada@example.org"
SUBJECT = "Privacy policy: new revision 2, effective 2027-02-19"
DIFF = f"https://registry.example/documents/{SLUG}/diff?from=1&to=2"


@pytest.fixture
def policy(app: Flask) -> Documents:
    """The privacy policy at revision 1 (published before anyone could subscribe)."""
    documents = Documents(app)
    documents.create()
    documents.publish()
    return documents


def add_document_subscriber(
    app: Flask, address: str, slug: str = SLUG, *, frequency: Frequency = Frequency.EACH
) -> int:
    """A confirmed subscriber of one document (the double opt-in is tested below, once)."""
    with app.app_context():
        document = documents_services.get_document(db.session, slug)
        assert document is not None
        subscriber = Subscriber(
            email=address, status=SubscriberStatus.CONFIRMED, confirmed_at=NOW, requested_at=NOW
        )
        subscriber.subscriptions.append(Subscription(document_id=document.id, frequency=frequency))
        db.session.add(subscriber)
        db.session.commit()
        return subscriber.id


def _editor(users: Users) -> Actor:
    return Actor(users.create("editor@example.com", "editor"), "editor@example.com")


def _bodies(message: object) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    html = message.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    return text, html


def test_subscribe_confirm_announce_apply_one_email(
    app: Flask, client: FlaskClient, policy: Documents, users: Users, smtp: SmtpServer
) -> None:
    # The document's page offers the form; posting it from this site asks for a confirmation.
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert f'name="documents" value="{SLUG}"' in page
    assert "csrf_token" not in page  # the page is cached and shared
    assert post_subscribe(client, ADA, lists=(), documents=[SLUG]).status_code == 200
    deliver(app)
    [confirmation] = smtp.mailbox.to(ADA)
    assert confirmation["Subject"] == "Confirm your subscription to Example Cloud Ltd's policy changes"
    text, _ = _bodies(confirmation)
    assert '"Privacy policy"' in text
    link = re.search(r"https://registry\.example(/subscribe/confirm/\S+)", text)
    assert link is not None
    path = link.group(1)
    assert "Privacy policy" in client.get(path).get_data(as_text=True)
    confirmed = client.post(path, data=confirm_form(client, path))
    assert confirmed.status_code == 200 and "Privacy policy" in confirmed.get_data(as_text=True)

    # An editor announces revision 2 with a date: one email, with what changes and the diff.
    revision_id = policy.announce(actor=_editor(users))
    clock = Clock(NOW)
    deliver(app, clock)
    confirmation_and_notice = smtp.mailbox.to(ADA)
    assert len(confirmation_and_notice) == 2
    message = confirmation_and_notice[1]
    assert message["Subject"] == SUBJECT
    assert message["List-Id"] == f"<{SLUG}.documents.registry.example>"
    assert message["List-Unsubscribe"].startswith("<https://registry.example/unsubscribe/")
    assert "<mailto:privacy@example.com?subject=unsubscribe>" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with app.app_context():
        notification = db.session.scalars(
            select(Notification).where(Notification.kind == NotificationKind.REVISION)
        ).one()
        assert notification.revision_id == revision_id
        assert message["Message-ID"] == f"<notification.{notification.id}.revision@registry.example>"
    text, html = _bodies(message)
    for body in (text, html):
        assert "Names, and correction." in body  # the summary
        assert "19 February 2027" in body  # the effective date
        assert f"https://registry.example/documents/{SLUG}/revisions/2" in body
        assert "https://registry.example/subscription/" in body
        assert "https://registry.example/unsubscribe/" in body
        assert "registry-manage-url-" not in body and "registry-unsubscribe-url-" not in body
    assert DIFF in text
    assert DIFF.replace("&", "&amp;") in html
    assert "<img" not in html

    # Running delivery again sends nothing.
    deliver(app, clock)
    assert len(smtp.mailbox.messages) == 2

    # The job applies it on its effective date (not a second before), and sends nothing more.
    with app.app_context():
        assert document_jobs.apply_due_revisions(clock=lambda: EFFECTIVE - timedelta(seconds=1)) == 0
        assert document_jobs.apply_due_revisions(clock=lambda: EFFECTIVE) == 1
        assert document_jobs.apply_due_revisions(clock=lambda: EFFECTIVE) == 0
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None and revision.status is RevisionStatus.PUBLISHED
        assert revision.document.current_number == 2
    deliver(app, Clock(EFFECTIVE + timedelta(days=1)))
    assert len(smtp.mailbox.messages) == 2
    assert statuses(app) == {"sent": 2}

    # The diff the email links to says what changed, word by word.
    diff = client.get(f"/documents/{SLUG}/diff?from=1&to=2").get_data(as_text=True)
    assert 'address<ins><span class="visually-hidden">inserted: </span> and your name</ins>.' in diff
    assert (
        '<del><span class="visually-hidden">deleted: </span>delete</del><ins><span class="visually-hidden">inserted: </span>correct</ins>'
        in diff
    )


def test_list_and_document_subscribers_hear_only_of_their_own(
    app: Flask, published: Registry, policy: Documents, smtp: SmtpServer
) -> None:
    add_subscriber(app, "lists@example.org")
    add_document_subscriber(app, "policies@example.org")
    add_document_subscriber(app, "pending@example.org")
    with app.app_context():
        pending = db.session.scalar(select(Subscriber).where(Subscriber.email == "pending@example.org"))
        assert pending is not None
        pending.status = SubscriberStatus.PENDING
        db.session.commit()
    announce_acme(published)
    policy.announce()
    deliver(app)
    [notice] = smtp.mailbox.to("lists@example.org")
    assert notice["Subject"].startswith("New sub-processor: Acme Analytics")
    [revision] = smtp.mailbox.to("policies@example.org")
    assert revision["Subject"] == SUBJECT
    assert smtp.mailbox.to("pending@example.org") == []


def test_a_withdrawal_is_notified(app: Flask, policy: Documents, smtp: SmtpServer) -> None:
    add_document_subscriber(app, ADA)
    revision_id = policy.announce()
    deliver(app)
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.withdraw(
            db.session, revision, reason="We <b>found</b> a mistake.", now=NOW + timedelta(days=1)
        )
        db.session.commit()
    clock = Clock(NOW + timedelta(days=1))
    deliver(app, clock)
    deliver(app, clock)
    announcement, withdrawal = smtp.mailbox.to(ADA)
    assert announcement["Subject"] == SUBJECT
    assert withdrawal["Subject"] == "Withdrawn: Privacy policy revision 2 (was to take effect 2027-02-19)"
    assert withdrawal["Message-ID"] != announcement["Message-ID"]
    assert withdrawal["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = _bodies(withdrawal)
    assert "We <b>found</b> a mistake." in text
    assert "We &lt;b&gt;found&lt;/b&gt; a mistake." in html
    # Withdrawn: the job puts nothing in force, and nothing more is sent.
    with app.app_context():
        assert document_jobs.apply_due_revisions(clock=lambda: EFFECTIVE) == 0
    deliver(app, Clock(EFFECTIVE))
    assert len(smtp.mailbox.to(ADA)) == 2


def test_a_correction_is_notified_at_once(app: Flask, policy: Documents, smtp: SmtpServer) -> None:
    add_document_subscriber(app, ADA)
    policy.correct(
        "# Privacy policy\n\nWe keep your email address.\n\nYou may ask us to erase it.\n",
        summary="A clearer word.",
    )
    deliver(app)
    [message] = smtp.mailbox.to(ADA)
    assert message["Subject"] == "Correction: Privacy policy revision 2, in effect since 2027-01-10"
    text, _ = _bodies(message)
    assert "A clearer word." in text and DIFF in text


def test_approval_makes_it_public_and_notified(app: Flask, users: Users, smtp: SmtpServer) -> None:
    documents = Documents(app)
    documents.create(requires_approval=True)
    documents.publish()
    add_document_subscriber(app, ADA)
    alice = Actor(users.create("alice@example.com", "editor"), "alice@example.com")
    bob = Actor(users.create("bob@example.com", "editor"), "bob@example.com")
    revision_id = documents.announce(actor=alice)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0  # not public yet
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.approve(db.session, revision, actor=bob, now=NOW)
        db.session.commit()
    deliver(app)
    [message] = smtp.mailbox.to(ADA)
    assert message["Subject"] == SUBJECT


def test_weekly_subscribers_get_revisions_in_their_digest(
    app: Flask, published: Registry, policy: Documents, smtp: SmtpServer
) -> None:
    with app.app_context():
        document = documents_services.get_document(db.session, SLUG)
        assert document is not None
        document_id = document.id
    weekly = add_subscriber(app, ADA, frequency=Frequency.WEEKLY)
    with app.app_context():
        subscriber = db.session.get(Subscriber, weekly)
        assert subscriber is not None
        subscriber.subscriptions.append(Subscription(document_id=document_id, frequency=Frequency.WEEKLY))
        db.session.commit()
    announce_acme(published)
    policy.announce()
    deliver(app)
    assert smtp.mailbox.messages == []
    assert statuses(app) == {"held": 2}

    digest_day = Clock(NOW + timedelta(days=7))  # NOW is a Sunday; digests go out on Monday
    with app.app_context():
        assert bundle_digests(clock=digest_day) == 1
    deliver(app, digest_day)
    [digest] = smtp.mailbox.to(ADA)
    assert digest["Subject"] == "This week: 2 notices about Example Cloud Ltd's sub-processors and policies"
    text, html = _bodies(digest)
    for body in (text, html):
        assert "Acme Analytics" in body
        assert SUBJECT in body
        assert "Names, and correction." in body
    assert DIFF in text
    assert "sub-processor lists and policies" in text
