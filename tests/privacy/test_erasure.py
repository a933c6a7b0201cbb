"""Erasure: the address leaves no trace in any cell of any table, while the counts still add up;
what was still owed is cancelled; the audit trail says it happened without the address in clear.
By the subscriber from the manage page, and by an admin on request."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.notifications import delivery
from registry.notifications.delivery import mark_bouncing
from registry.notifications.models import AttemptOutcome, DeliveryAttempt, Notification, NotificationStatus
from registry.objections.models import Objection
from registry.privacy import services
from registry.subscriptions import services as subscriptions
from registry.subscriptions.models import Frequency, Subscriber
from tests.admin.conftest import audit_actions, post
from tests.conftest import NOW, Registry, csrf_token, entry
from tests.notifications.conftest import announce_acme
from tests.privacy.conftest import ADA, BOB, History, cells_containing, counts
from tests.subscriptions.conftest import add_subscriber, lists

__all__ = ["lists"]  # the fixture: two lists


def _erase_from_the_manage_page(client: FlaskClient, history: History) -> str:
    path = f"/subscription/{history.fresh_token}/delete"
    page = client.get(path)
    assert page.status_code == 200 and "Delete my data" in page.get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_deletion_leaves_no_trace_of_the_address(app: Flask, client: FlaskClient, history: History) -> None:
    assert {table for table, _, _ in cells_containing(app, ADA)} >= {
        "subscribers",
        "objections",
    }
    before = counts(app)

    assert "Your data is deleted" in _erase_from_the_manage_page(client, history)

    assert cells_containing(app, ADA) == []
    # Nor her name, which she gave with her objection.
    assert cells_containing(app, "Ada Lovelace") == []
    after = counts(app)
    assert after.notifications == before.notifications  # every email still counted, per notice
    assert after.sent == before.sent
    assert after.objections == before.objections
    assert after.subscribers == before.subscribers - 1
    with app.app_context():
        objection = db.session.scalar(select(Objection))
        assert objection is not None
        assert (objection.organisation, objection.email, objection.contact_name) == (
            "Lovelace Analytics GmbH",
            "[erased]",
            "[erased]",
        )
        assert objection.reason == "We do not agree to US transfers. Write to [erased] or call [erased]."
        # Bob's record never quoted her address (it was redacted where recorded), and stays.
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None and bob.bounce_reason == "550 5.7.1 <[address]>: forwarding loop"
        # Her notifications stay, unlinked.
        unlinked = db.session.scalars(select(Notification).where(Notification.subscriber_id.is_(None))).all()
        assert len(unlinked) == 4  # the confirmation, two notices, the objection receipt


def test_the_old_links_stop_working(client: FlaskClient, history: History) -> None:
    _erase_from_the_manage_page(client, history)
    for path in (
        f"/subscription/{history.fresh_token}",
        f"/subscription/{history.fresh_token}/data.json",
        f"/unsubscribe/{history.unsubscribe_token}",
    ):
        assert client.get(path).status_code == 400, path


def test_deleting_needs_the_confirmation_step(app: Flask, client: FlaskClient, history: History) -> None:
    path = f"/subscription/{history.fresh_token}/delete"
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 400  # no form token: the button was not pressed here
    assert cells_containing(app, ADA) != []


def test_pending_deliveries_are_cancelled(app: Flask, history: History, published: Registry) -> None:
    third = announce_acme(published, name="Gamma Storage")
    with app.app_context():
        owed = db.session.scalar(
            select(Notification).where(
                Notification.notice_id == third, Notification.subscriber_id == history.subscriber_id
            )
        )
        assert owed is not None and owed.status is NotificationStatus.QUEUED
        owed_id = owed.id
        subscriber = db.session.get(Subscriber, history.subscriber_id)
        assert subscriber is not None
        erasure = services.erase_subscriber(db.session, subscriber, actor=SYSTEM, now=NOW, reason="test")
        db.session.commit()
        assert erasure.cancelled == 1 and erasure.subscriptions == 1 and erasure.objections == 1
        cancelled = db.session.get(Notification, owed_id)
        assert cancelled is not None
        assert (cancelled.status, cancelled.subscriber_id) == (NotificationStatus.CANCELLED, None)
    assert cells_containing(app, ADA) == []


def test_the_trail_records_the_erasure_without_the_address(
    app: Flask, client: FlaskClient, history: History
) -> None:
    _erase_from_the_manage_page(client, history)
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.erase")).all()
        assert (event.actor, event.target_type, event.target_id) == (
            "subscriber",
            "subscriber",
            str(history.subscriber_id),
        )
        assert event.after["address_hmac"] == services.fingerprint(ADA)
        assert event.after["objections"] == 1 and event.after["subscriber"] is True
        # "Was this address erased?" has an answer for whoever knows the address, in any case.
        assert [e.id for e in services.erasures(db.session, ADA.upper())] == [event.id]
        assert services.erasures(db.session, BOB) == []


# --- by an admin -------------------------------------------------------------------------------


def test_an_admin_looks_up_downloads_and_erases(app: Flask, admin: FlaskClient, history: History) -> None:
    page = post(admin, "/admin/subscribers", {"email": " ADA@example.com "})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Lovelace Analytics GmbH" in text and "Erase this address" in text

    download = post(admin, "/admin/subscribers/data.json", {"email": ADA})
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.get_json()["subscriber"]["email"] == ADA

    refused = post(admin, "/admin/subscribers/erase", {"email": ADA, "reason": "Email of 3 March"})
    assert refused.status_code == 422  # the box was not ticked
    assert cells_containing(app, ADA) != []

    done = post(
        admin,
        "/admin/subscribers/erase",
        {"email": ADA, "reason": "Email from ada@example.com of 3 March", "confirm": "y"},
    )
    assert done.status_code == 303
    assert cells_containing(app, ADA) == []
    assert audit_actions(app, "admin@example.com")[-3:] == [
        "subscriber.look_up",
        "subscriber.export",
        "subscriber.erase",
    ]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.erase")).one()
        assert event.summary == "on request: Email from [erased] of 3 March"

    # Looked up again: nothing held, and when it was erased.
    text = post(admin, "/admin/subscribers", {"email": ADA}).get_data(as_text=True)
    assert "We hold nothing about this address any more" in text
    assert "This address was erased on" in text


def test_an_admin_erases_an_objectors_address(app: Flask, admin: FlaskClient, history: History) -> None:
    """Someone who only objected (never subscribed) is found and erased too."""
    from tests.privacy.conftest import object_to

    object_to(app, history.notice_ids[1], "carol@example.net", contact_name="Carol Shaw")
    assert "Carol Shaw" in post(admin, "/admin/subscribers", {"email": "carol@example.net"}).get_data(
        as_text=True
    )
    post(
        admin, "/admin/subscribers/erase", {"email": "carol@example.net", "reason": "Letter", "confirm": "y"}
    )
    assert cells_containing(app, "carol@example.net") == []
    assert cells_containing(app, "Carol Shaw") == []
    assert cells_containing(app, ADA) != []  # nobody else's data went with it


def test_editors_may_not(editor: FlaskClient, history: History) -> None:
    assert editor.get("/admin/subscribers").status_code == 403
    assert editor.get("/admin/retention").status_code == 403
    assert post(editor, "/admin/subscribers/erase", {"email": ADA, "confirm": "y"}).status_code == 403


def test_an_unknown_address_erases_nothing(app: Flask, admin: FlaskClient, history: History) -> None:
    post(admin, "/admin/subscribers/erase", {"email": "nobody@example.com", "reason": "Call", "confirm": "y"})
    assert "subscriber.erase" not in audit_actions(app)


# --- an address held elsewhere than in its own records ----------------------------------------


def test_another_subscribers_move_to_the_address_is_shown_and_erased(
    app: Flask, admin: FlaskClient, lists: list[str]
) -> None:
    """Bob asked to move his subscription to Carol's address (a typo, or not): the confirmation
    went to her, and her address is in its context. It is hers to see and to have erased."""
    carol = "carol@example.net"
    add_subscriber(app, BOB, subscriptions={"sub-processors": Frequency.EACH})
    with app.app_context():
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None
        bob_id = bob.id
        subscriptions.request_address_change(db.session, bob, "Carol@Example.net", now=NOW)
        db.session.flush()
        sent = db.session.scalars(select(Notification)).one()
        sent.status, sent.sent_at = NotificationStatus.SENT, NOW
        subscriptions.request_address_change(db.session, bob, carol, now=NOW + timedelta(hours=1))
        db.session.commit()

        data = services.subject_data(db.session, carol, now=NOW)
        assert data["subscriber"] is None and services.holds_anything(data)
        assert [(c["status"], c["context"]) for c in data["confirmations"]] == [
            ("sent", {"purpose": "address_change", "address": carol}),
            ("queued", {"purpose": "address_change", "address": carol}),
        ]
    page = post(admin, "/admin/subscribers", {"email": carol}).get_data(as_text=True)
    assert "Erase this address" in page and f"a new address: {carol}" in page

    post(admin, "/admin/subscribers/erase", {"email": carol, "reason": "Letter", "confirm": "y"})
    assert cells_containing(app, carol) == []
    with app.app_context():
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        # The one still owed is cancelled: its link would hand Bob's lists to an erased address.
        assert [(n.status, n.context, n.subscriber_id) for n in rows] == [
            (NotificationStatus.SENT, {"purpose": "address_change"}, bob_id),
            (NotificationStatus.CANCELLED, {"purpose": "address_change"}, bob_id),
        ]
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.erase")).one()
        assert event.after["address_changes"] == 2 and event.after["subscriber"] is False
        assert db.session.get(Subscriber, bob_id) is not None  # Bob keeps his own record
        assert services.subject_data(db.session, carol, now=NOW)["confirmations"] == []


def test_objections_from_before_addresses_were_lower_cased_are_found(
    app: Flask, registry: Registry, lists: list[str]
) -> None:
    """Rows written before objection addresses were normalised keep the letters typed; SQLite's
    lower() leaves letters beyond ASCII as they are, so they are compared in Python."""
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    legacy = "jörg@example.com"  # refused at input now, but held from before
    add_subscriber(app, legacy, subscriptions={"sub-processors": Frequency.EACH})
    with app.app_context():
        for typed in ("JÖRG@example.com", "Jörg@example.com", "joerg@example.com"):
            db.session.add(
                Objection(
                    notice_id=notice_id, organisation="Müller AG", contact_name="Jörg Müller",
                    email=typed, reason=f"Write to {typed}.", created_at=NOW,
                )
            )  # fmt: skip
        db.session.commit()
        data = services.subject_data(db.session, legacy, now=NOW)
        assert sorted(o["email"] for o in data["objections"]) == ["JÖRG@example.com", "Jörg@example.com"]
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == legacy))
        assert subscriber is not None
        erasure = services.erase_subscriber(db.session, subscriber, actor=SYSTEM, now=NOW, reason="test")
        db.session.commit()
        assert erasure.objections == 2
        assert sorted(db.session.scalars(select(Objection.email))) == [
            "[erased]",
            "[erased]",
            "joerg@example.com",
        ]
    assert cells_containing(app, legacy) == []


def test_error_texts_quoting_an_internationalised_domain_never_hold_it(app: Flask, lists: list[str]) -> None:
    """A mail server may quote the address in capitals (SQLite's lower() does not fold "Ü"): the
    text is stored without it, so the erasure has no other row's text to search."""
    ada = "ada@bücher.example"
    add_subscriber(app, ada, subscriptions={"sub-processors": Frequency.EACH})
    add_subscriber(app, BOB, subscriptions={"sub-processors": Frequency.EACH})
    with app.app_context():
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None
        mark_bouncing(db.session, bob.id, "550 5.7.1 <ADA@BÜCHER.EXAMPLE>: forwarding loop", now=NOW)
        db.session.commit()
        assert cells_containing(app, ada) == [("subscribers", "email", ada)]
        services.erase_address(db.session, ada, actor=SYSTEM, now=NOW, reason="test")
        db.session.commit()
        assert db.session.get(Subscriber, bob.id).bounce_reason == "550 5.7.1 <[address]>: forwarding loop"  # type: ignore[union-attr]
    assert cells_containing(app, ada) == []


def test_an_accepted_confirmation_to_an_erased_address_stays_sent_not_cancelled(
    app: Flask, lists: list[str]
) -> None:
    """A message's record is its sent attempt; its row is marked sent when its batch ends. An
    erasure in between (or after its sender stopped) must not cancel what was accepted: the
    row is marked sent all the same, as it would have been before the erasure."""
    carol = "carol@example.net"
    add_subscriber(app, BOB, subscriptions={"sub-processors": Frequency.EACH})
    with app.app_context():
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None
        subscriptions.request_address_change(db.session, bob, carol, now=NOW)
        db.session.commit()
        [claimed] = delivery.claim(db.session, now=NOW, worker="w", limit=10, lease_seconds=60)
        db.session.add(DeliveryAttempt(notification_id=claimed, at=NOW, outcome=AttemptOutcome.SENT))
        db.session.commit()
        services.erase_address(db.session, carol, actor=SYSTEM, now=NOW, reason="test")
        db.session.commit()
        with db.engine.connect() as connection, connection.begin():
            delivery.settle_sent(connection, [claimed], worker="w")  # the batch ends
        db.session.expire_all()
        row = db.session.get(Notification, claimed)
        assert row is not None
        assert (row.status, row.sent_at, row.context) == (
            NotificationStatus.SENT,
            NOW,
            {"purpose": "address_change"},
        )
