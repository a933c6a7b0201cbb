"""The migrations build exactly the schema the models describe, on every database we support."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from registry.database import bind_migrations
from registry.extensions import db
from registry.lists.models import Notice, NoticeKind, Processor
from registry.lists.services import create_list
from registry.notifications.models import AttemptOutcome, DeliveryAttempt, Notification, NotificationKind
from registry.objections.models import Objection
from registry.subscriptions.models import PendingSubscription, Subscriber, SubscriberStatus
from registry.timeutil import UTCDateTime, utcnow
from registry.webhooks.models import WebhookDelivery, WebhookEndpoint


@pytest.fixture(autouse=True)
def _migrations(app: Flask) -> None:
    """These tests call Flask-Migrate themselves; the app binds it only when first used."""
    bind_migrations(app)


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_upgrade_keeps_confirmations_in_flight(app: Flask) -> None:
    """Confirmation emails of the last days, not followed yet, become pending requests when
    0009 adds them, so that their links (which no longer name what they asked for) still work."""
    now = utcnow()
    with app.app_context():
        downgrade(revision="0008_publication_core")
        for slug in ("sub-processors", "subcontractors"):
            create_list(db.session, slug=slug, title=slug.title(), now=now)
        asked = {
            # Two sign-ups, neither confirmed: both count, the later frequency for a list in both.
            "ada@example.com": (
                None,
                [
                    ({"lists": ["sub-processors", "subcontractors"], "frequency": "each"}, 2),
                    ({"lists": ["subcontractors"], "frequency": "weekly"}, 1),
                ],
            ),
            # Confirmed since it asked: nothing is pending.
            "bob@example.com": (now, [({"lists": ["sub-processors"], "frequency": "each"}, 1)]),
            # Asked too long ago: it would be purged anyway.
            "carol@example.com": (None, [({"lists": ["sub-processors"], "frequency": "each"}, 24 * 4)]),
            # A new address to confirm is not a request for lists.
            "dan@example.com": (
                now - timedelta(days=30),
                [({"purpose": "address_change", "address": "d@example.org"}, 1)],
            ),
        }
        for email, (confirmed_at, requests) in asked.items():
            subscriber = Subscriber(
                email=email,
                status=SubscriberStatus.CONFIRMED if confirmed_at else SubscriberStatus.PENDING,
                confirmed_at=confirmed_at,
                created_at=now - timedelta(days=5),
                requested_at=now,
            )
            db.session.add(subscriber)
            for context, hours_ago in requests:
                at = now - timedelta(hours=hours_ago)
                db.session.add(
                    Notification(
                        kind=NotificationKind.CONFIRMATION,
                        subscriber=subscriber,
                        context=context,
                        created_at=at,
                        next_attempt_at=at,
                    )
                )
        db.session.commit()
        db.session.remove()

        upgrade()
        rows = db.session.scalars(select(PendingSubscription).order_by(PendingSubscription.id)).all()
        found = {(row.subscriber.email, row.slug, row.frequency.value) for row in rows}
    assert found == {
        ("ada@example.com", "sub-processors", "each"),
        ("ada@example.com", "subcontractors", "weekly"),
    }


def test_the_upgrade_gives_every_objection_a_readable_reference(app: Flask) -> None:
    """Objections received before 0012 get a short reference each, unique among them."""
    now = utcnow()
    with app.app_context():
        register_list = create_list(db.session, slug="sub-processors", title="Sub-processors", now=now)
        notice = Notice(
            register_list=register_list, kind=NoticeKind.ANNOUNCEMENT, reason="r", effective_at=now
        )
        db.session.add(notice)
        db.session.commit()
        notice_id = notice.id
        db.session.remove()
        downgrade(revision="0011_pending_subscriptions")
        objections = sa.table(
            "objections",
            *(
                sa.column(name)
                for name in ("uuid", "notice_id", "organisation", "contact_name", "email", "reason")
            ),
            sa.column("created_at", UTCDateTime),
            sa.column("status"),
        )
        with db.engine.begin() as connection:
            connection.execute(
                objections.insert(),
                [
                    {
                        "uuid": str(uuid.uuid4()),
                        "notice_id": notice_id,
                        "organisation": f"Customer {n}",
                        "contact_name": "Jane",
                        "email": f"jane{n}@example.com",
                        "reason": "No.",
                        "created_at": now,
                        "status": "open",
                    }
                    for n in range(25)
                ],
            )
        upgrade()
        references = db.session.scalars(select(Objection.reference)).all()
    assert len(references) == 25 == len(set(references))
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", r) for r in references)


def test_the_upgrade_turns_each_mechanism_into_a_list_and_keeps_versions_as_published(
    app: Flask,
) -> None:
    """0014: a processor's one mechanism becomes a one-element list, an empty one an empty list;
    the stored snapshots of published versions keep their bytes both ways; a downgrade keeps
    each entry's first mechanism."""
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    snapshots = sa.text("SELECT id, CAST(snapshot AS TEXT) FROM versions ORDER BY id")
    mechanisms = sa.text("SELECT slug, transfer_mechanism FROM processors ORDER BY slug")
    with app.app_context():
        with db.engine.connect() as connection:
            published = connection.execute(snapshots).all()
        downgrade(revision="0013_webhooks")
        revisions = sa.text("SELECT slug, revision FROM lists ORDER BY slug")
        with db.engine.begin() as connection:
            held = dict(connection.execute(mechanisms).all())
            revised = dict(connection.execute(revisions).all())
            connection.execute(
                sa.text("UPDATE processors SET transfer_mechanism = '' WHERE slug = 'datadog'")
            )
            unchanged = connection.execute(snapshots).all()
        upgrade()
        with db.engine.connect() as connection:
            after = connection.execute(snapshots).all()
            # What readers see changed shape: each list's cached copies are no longer current.
            assert dict(connection.execute(revisions).all()) == {k: v + 1 for k, v in revised.items()}
        found = {p.slug: p.transfer_mechanisms for p in db.session.scalars(select(Processor))}
    assert published and unchanged == published and after == published
    # The demo's entries with two mechanisms kept the first on the way down.
    assert (held["twilio-sendgrid"], held["stripe"], held["zendesk"]) == ("dpf", "dpf", "bcr")
    assert found["datadog"] == []
    assert found["zendesk"] == ["bcr"]
    assert found["twilio-sendgrid"] == ["dpf"]
    assert all(found[slug] == ([held[slug]] if slug != "datadog" else []) for slug in found)


def test_the_upgrade_redacts_addresses_in_every_stored_error_text(app: Flask) -> None:
    """0017: error texts written before redaction lose the addresses they quote (their codes and
    words stay), in every table that keeps one; texts without an address are untouched; the
    downgrade keeps them as they are and a second upgrade changes nothing."""
    quoting = "550 5.1.1 <Ada@Example.com>: user unknown; cc <bob@example.org>"
    redacted = "550 5.1.1 <[address]>: user unknown; cc <[address]>"
    plain = "421 4.3.2 Service shutting down"
    texts = (
        ("notifications", "last_error"),
        ("delivery_attempts", "error"),
        ("subscribers", "bounce_reason"),
        ("webhook_deliveries", "last_error"),
    )
    with app.app_context():
        downgrade(revision="0015_rendered_answers")
        subscribers = [
            Subscriber(email=f"s{i}@example.com", status=SubscriberStatus.BOUNCING, bounce_reason=text)
            for i, text in enumerate((quoting, plain, None))
        ]
        notifications = [
            Notification(
                kind=NotificationKind.NOTICE, subscriber=subscriber, last_error=subscriber.bounce_reason
            )
            for subscriber in subscribers
        ]
        endpoint = WebhookEndpoint(url="https://hooks.example/in", secret="s")
        db.session.add_all([*subscribers, *notifications, endpoint])
        db.session.flush()
        for notification in notifications:
            db.session.add(
                DeliveryAttempt(
                    notification_id=notification.id,
                    at=utcnow(),
                    outcome=AttemptOutcome.PERMANENT,
                    error=notification.last_error,
                )
            )
            db.session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_type="notice.announced",
                    event_key=f"k{notification.id}",
                    body="{}",
                    last_error=notification.last_error,
                )
            )
        db.session.commit()
        db.session.remove()

        def stored() -> dict[str, list[str | None]]:
            with db.engine.connect() as connection:
                return {
                    table: list(
                        connection.execute(sa.text(f"SELECT {column} FROM {table} ORDER BY id")).scalars()
                    )
                    for table, column in texts
                }

        assert stored() == {table: [quoting, plain, None] for table, _ in texts}
        upgrade()
        assert stored() == {table: [redacted, plain, None] for table, _ in texts}
        downgrade(revision="0015_rendered_answers")
        assert stored() == {table: [redacted, plain, None] for table, _ in texts}
        upgrade()
        assert stored() == {table: [redacted, plain, None] for table, _ in texts}


def _notification_indexes(connection: sa.Connection) -> dict[str, str]:
    """Each index of the outbox, with its definition as the database keeps it."""
    if connection.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notifications'"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notifications'"
    return {name: sql or "" for name, sql in connection.exec_driver_sql(query)}


def test_the_outbox_indexes_keep_their_conditions_and_rows_both_ways(app: Flask) -> None:
    """0018 rebuilds the outbox on SQLite: its rows, the digest that bundles them and their
    attempts (which cascade from it) survive, every partial index stays partial and the ones
    it makes are partial, on the way up, down and up again."""
    partial = {
        "ix_notifications_revision_id_status",
        "ix_notifications_address_created_at",
        "uq_notifications_subscriber_revision_kind",
        "ix_notifications_objection_id",
        "ix_notifications_digest_id",
    }

    def stored() -> tuple[list[tuple[object, ...]], int, dict[str, str]]:
        with db.engine.connect() as connection:
            rows = [
                tuple(row)
                for row in connection.execute(
                    sa.text("SELECT id, subscriber_id, digest_id FROM notifications ORDER BY id")
                )
            ]
            attempts = connection.execute(sa.text("SELECT count(*) FROM delivery_attempts")).scalar_one()
            return rows, attempts, _notification_indexes(connection)

    with app.app_context():
        downgrade(revision="0017_redacted_error_texts")
        subscriber = Subscriber(email="s@example.com", status=SubscriberStatus.CONFIRMED)
        digest = Notification(kind=NotificationKind.DIGEST, subscriber=subscriber)
        db.session.add_all([subscriber, digest])
        db.session.flush()
        bundled = Notification(kind=NotificationKind.NOTICE, subscriber=subscriber, digest_id=digest.id)
        db.session.add(bundled)
        db.session.flush()
        db.session.add(DeliveryAttempt(notification_id=digest.id, at=utcnow(), outcome=AttemptOutcome.SENT))
        db.session.commit()
        db.session.remove()
        rows, attempts, before = stored()
        assert (len(rows), attempts) == (2, 1)
        upgrade()
        first = stored()
        downgrade(revision="0017_redacted_error_texts")
        down = stored()
        upgrade()
        again = stored()
    assert first[:2] == down[:2] == again[:2] == (rows, attempts)
    assert "ix_notifications_subscriber_id" in before and "ix_notifications_subscriber_id" in down[2]
    assert "ix_notifications_subscriber_id" not in again[2]
    for found in (first[2], again[2]):
        for name in partial:
            assert "WHERE" in found[name].upper(), (name, found[name])
    for name in ("ix_notifications_address_created_at", "ix_notifications_revision_id_status"):
        assert "WHERE" in down[2][name].upper()
