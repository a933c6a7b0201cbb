"""The workflow owes subscribers of a document a notification exactly when a revision becomes
public or is withdrawn, in the same transaction, once; nothing for drafts, rejections or the
application at the effective date. The document page offers the subscribe form."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.services import Actor
from registry.documents import jobs, services, workflow
from registry.documents.models import DocumentRevision
from registry.extensions import db
from registry.notifications import outbox
from registry.notifications.models import Notification, NotificationKind
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
from tests.conftest import NOW, Users
from tests.documents.conftest import EFFECTIVE, SLUG, Documents


def _subscribe(app: Flask, address: str, status: SubscriberStatus = SubscriberStatus.CONFIRMED) -> None:
    with app.app_context():
        document = services.get_document(db.session, SLUG)
        assert document is not None
        subscriber = Subscriber(email=address, status=status, requested_at=NOW)
        subscriber.subscriptions.append(Subscription(document_id=document.id, frequency=Frequency.EACH))
        db.session.add(subscriber)
        db.session.commit()


def _owed(app: Flask) -> list[tuple[str, str, int | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(Subscriber.email, Notification.kind, Notification.revision_id)
            .join(Subscriber, Subscriber.id == Notification.subscriber_id)
            .order_by(Notification.id)
        ).all()
        return [(email, str(kind), revision_id) for email, kind, revision_id in rows]


def test_the_document_page_offers_the_subscribe_form(published: Documents, client: FlaskClient) -> None:
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert 'action="/subscribe"' in page
    assert f'<input type="hidden" name="documents" value="{SLUG}">' in page
    assert f'href="/subscribe?document={SLUG}"' in page
    assert "csrf_token" not in page


def test_announce_withdraw_and_apply(published: Documents, app: Flask) -> None:
    _subscribe(app, "ada@example.org")
    _subscribe(app, "pending@example.org", SubscriberStatus.PENDING)
    draft_id = published.draft()
    assert _owed(app) == []  # a draft is private
    with app.app_context():
        revision = db.session.get(DocumentRevision, draft_id)
        assert revision is not None
        workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW)
        # Owed in the announcement's own transaction: rolled back together.
        assert db.session.scalar(select(Notification.revision_id)) == draft_id
        db.session.rollback()
    assert _owed(app) == []
    with app.app_context():
        revision = db.session.get(DocumentRevision, draft_id)
        assert revision is not None
        workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW)
        db.session.commit()
    revision_id = draft_id
    assert _owed(app) == [("ada@example.org", "revision", revision_id)]
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        outbox.fan_out_revision(db.session, revision, now=NOW)  # once only: writes nothing
        db.session.commit()
    assert _owed(app) == [("ada@example.org", "revision", revision_id)]
    # Applying it at its date sends nothing more.
    with app.app_context():
        assert jobs.apply_due_revisions(clock=lambda: EFFECTIVE) == 1
    assert _owed(app) == [("ada@example.org", "revision", revision_id)]


def test_a_withdrawal_is_owed_too(published: Documents, app: Flask) -> None:
    _subscribe(app, "ada@example.org")
    revision_id = published.announce()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.withdraw(db.session, revision, reason="A mistake.", now=NOW + timedelta(days=1))
        db.session.commit()
    assert _owed(app) == [
        ("ada@example.org", "revision", revision_id),
        ("ada@example.org", "revision_withdrawal", revision_id),
    ]


def test_nothing_is_owed_before_approval(documents: Documents, app: Flask, users: Users) -> None:
    documents.create(requires_approval=True)
    documents.publish()
    _subscribe(app, "ada@example.org")
    alice = Actor(users.create("alice@example.com", "editor"), "alice@example.com")
    bob = Actor(users.create("bob@example.com", "editor"), "bob@example.com")
    revision_id = documents.announce(actor=alice)
    assert _owed(app) == []
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.reject(db.session, revision, reason="Not yet.", actor=bob, now=NOW)
        db.session.commit()
    assert _owed(app) == []
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.announce(db.session, revision, effective_at=EFFECTIVE, now=NOW, actor=alice)
        workflow.approve(db.session, revision, actor=bob, now=NOW)
        db.session.commit()
    assert _owed(app) == [("ada@example.org", NotificationKind.REVISION.value, revision_id)]
