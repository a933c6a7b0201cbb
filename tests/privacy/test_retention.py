"""The retention job, with an injected clock: it deletes or anonymises exactly what is past its
period and nothing else (data on both sides of every boundary), reports what it did, keeps a
RetentionRun row per run, and is safe to run twice."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry import scheduler
from registry.extensions import db
from registry.notifications import outbox
from registry.notifications.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from registry.objections.models import Objection, ObjectionStatus
from registry.privacy import jobs
from registry.privacy.models import RetentionRun
from registry.privacy.services import RETENTION_KINDS, years_before
from registry.redaction import recorded_error
from registry.subscriptions import services as subscriptions
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import NOW, Registry, entry

SECOND = timedelta(seconds=1)


def _subscriber(
    email: str,
    status: SubscriberStatus,
    at: datetime,
    status_after: SubscriberStatus | None = None,
    **fields: Any,
) -> Subscriber:
    """A subscriber since ``at``; one that was never confirmed may have moved on to ``status_after``."""
    subscriber = Subscriber(email=email, status=status, created_at=at, requested_at=at, **fields)
    if status is not SubscriberStatus.PENDING:
        subscriber.confirmed_at = at
    if status_after is not None:
        subscriber.status = status_after
    db.session.add(subscriber)
    db.session.flush()
    return subscriber


def _notification(
    kind: NotificationKind, subscriber: Subscriber, at: datetime, **fields: Any
) -> Notification:
    notification = Notification(
        kind=kind, subscriber_id=subscriber.id, created_at=at, next_attempt_at=at, **fields
    )
    db.session.add(notification)
    db.session.flush()
    return notification


def _objection(notice_id: int, name: str, at: datetime) -> Objection:
    objection = Objection(
        notice_id=notice_id,
        organisation=f"{name} GmbH",
        contact_name=name,
        email=f"{name.lower()}@example.net",
        reason=f"{name} objects.",
        created_at=at,
        status=ObjectionStatus.HANDLED,
        handled_at=at,
        handled_note=f"Called {name}.",
    )
    db.session.add(objection)
    db.session.flush()
    return objection


def _boundaries(app: Flask) -> dict[str, datetime]:
    """Each period's cut-off at NOW: a record from before it is past its period."""
    config = app.config
    return {
        "unconfirmed": NOW - timedelta(seconds=config["UNCONFIRMED_PURGE_AFTER_SECONDS"]),
        "unsubscribed": NOW - timedelta(days=config["RETENTION_UNSUBSCRIBED_DAYS"]),
        "bouncing": NOW - timedelta(days=config["RETENTION_BOUNCING_DAYS"]),
        "delivery": years_before(NOW, config["RETENTION_DELIVERY_YEARS"]),
        "objection": years_before(NOW, config["RETENTION_OBJECTION_YEARS"]),
    }


def test_the_job_anonymises_exactly_what_is_past_its_period(app: Flask, registry: Registry) -> None:
    registry.create_list()
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    cut = _boundaries(app)
    with app.app_context():
        # Subscribers: one just past each period, one just at it.
        _subscriber("pending-old@example.com", SubscriberStatus.PENDING, cut["unconfirmed"] - SECOND)
        _subscriber("pending-edge@example.com", SubscriberStatus.PENDING, cut["unconfirmed"])
        for status, name, since in (
            (SubscriberStatus.UNSUBSCRIBED, "unsubscribed", "unsubscribed_at"),
            (SubscriberStatus.BOUNCING, "bouncing", "bounced_at"),
        ):
            old = cut[name] - SECOND
            _subscriber(f"{name}-old@example.com", status, old - timedelta(days=900), **{since: old})
            _subscriber(f"{name}-edge@example.com", status, old, **{since: cut[name]})
        reader = _subscriber("reader@example.com", SubscriberStatus.CONFIRMED, NOW - timedelta(days=5000))

        # Delivery records of a current subscriber: one past the period, one at it, one still owed.
        old_sent = _notification(
            NotificationKind.NOTICE, reader, cut["delivery"] - SECOND, notice_id=notice_id,
            status=NotificationStatus.SENT, sent_at=cut["delivery"], last_error="451 <reader@example.com> busy",
        )  # fmt: skip
        db.session.add(
            DeliveryAttempt(
                notification_id=old_sent.id, at=cut["delivery"], outcome=AttemptOutcome.TEMPORARY,
                error="451 <reader@example.com> busy",
            )
        )  # fmt: skip
        edge_sent = _notification(
            NotificationKind.REMINDER, reader, cut["delivery"], notice_id=notice_id,
            status=NotificationStatus.SENT, last_error="kept",
        )  # fmt: skip
        owed = _notification(
            NotificationKind.MANAGE_LINK, reader, cut["delivery"] - SECOND, status=NotificationStatus.QUEUED
        )
        # New addresses asked for and never confirmed.
        change = {"purpose": subscriptions.ADDRESS_CHANGE}
        old_change = _notification(
            NotificationKind.CONFIRMATION, reader, cut["unconfirmed"] - SECOND,
            status=NotificationStatus.SENT, context={**change, "address": "typo@example.org"},
        )  # fmt: skip
        edge_change = _notification(
            NotificationKind.CONFIRMATION, reader, cut["unconfirmed"],
            status=NotificationStatus.SENT, context={**change, "address": "recent@example.org"},
        )  # fmt: skip
        old_objection = _objection(notice_id, "Olga", cut["objection"] - SECOND)
        edge_objection = _objection(notice_id, "Edda", cut["objection"])
        db.session.commit()
        ids = {
            "reader": reader.id, "old_sent": old_sent.id, "edge_sent": edge_sent.id, "owed": owed.id, "old_change": old_change.id,
            "edge_change": edge_change.id, "old_objection": old_objection.id, "edge_objection": edge_objection.id,
        }  # fmt: skip

    with app.app_context():
        results = jobs.enforce_retention(clock=lambda: NOW)
    assert results == dict.fromkeys(RETENTION_KINDS, 1)

    with app.app_context():
        assert set(db.session.scalars(select(Subscriber.email))) == {
            "pending-edge@example.com",
            "unsubscribed-edge@example.com",
            "bouncing-edge@example.com",
            "reader@example.com",
        }
        get = db.session.get
        sent = get(Notification, ids["old_sent"])
        assert (sent.subscriber_id, sent.last_error, sent.status) == (None, None, NotificationStatus.SENT)
        assert sent.notice_id == notice_id  # still counted for its notice
        assert [a.error for a in db.session.scalars(select(DeliveryAttempt))] == [None]
        edge = get(Notification, ids["edge_sent"])
        assert (edge.subscriber_id, edge.last_error) == (ids["reader"], "kept")
        assert get(Notification, ids["owed"]).subscriber_id == ids["reader"]  # owed: not touched
        assert get(Notification, ids["old_change"]).context == change
        assert get(Notification, ids["old_change"]).subscriber_id == ids["reader"]
        assert get(Notification, ids["edge_change"]).context == {**change, "address": "recent@example.org"}
        olga, edda = get(Objection, ids["old_objection"]), get(Objection, ids["edge_objection"])
        assert (olga.organisation, olga.email, olga.contact_name, olga.reason, olga.handled_note) == (
            "Olga GmbH", "[erased]", "[erased]", "[erased]", None,
        )  # fmt: skip
        assert (olga.status, olga.created_at, olga.notice_id) == (
            ObjectionStatus.HANDLED,
            cut["objection"] - SECOND,
            notice_id,
        )
        assert (edda.email, edda.contact_name, edda.reason) == ("edda@example.net", "Edda", "Edda objects.")
        [run] = db.session.scalars(select(RetentionRun)).all()
        assert run.results == results and run.started_at == NOW and run.finished_at == NOW

    # Twice: nothing more to do, and the run is recorded all the same.
    with app.app_context():
        assert jobs.enforce_retention(clock=lambda: NOW) == dict.fromkeys(RETENTION_KINDS, 0)
        assert len(db.session.scalars(select(RetentionRun)).all()) == 2

    # A day later, each record that was at its boundary is past it.
    with app.app_context():
        assert jobs.enforce_retention(clock=lambda: NOW + timedelta(days=1)) == dict.fromkeys(
            RETENTION_KINDS, 1
        )


def test_erasures_by_retention_are_audited_and_leave_objections_to_their_own_period(
    app: Flask, registry: Registry
) -> None:
    from registry.audit.models import AuditEvent
    from registry.privacy.services import erasures
    from tests.privacy.conftest import cells_containing

    registry.create_list()
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    cut = _boundaries(app)
    with app.app_context():
        gone = _subscriber(
            "olga@example.net", SubscriberStatus.UNSUBSCRIBED, cut["unsubscribed"] - SECOND,
            unsubscribed_at=cut["unsubscribed"] - SECOND,
        )  # fmt: skip
        _notification(NotificationKind.NOTICE, gone, NOW - timedelta(days=60), notice_id=notice_id,
                      status=NotificationStatus.SENT, last_error="550 <olga@example.net> full")  # fmt: skip
        _objection(notice_id, "Olga", NOW - timedelta(days=60))
        db.session.commit()
        jobs.enforce_retention(clock=lambda: NOW)
        [event] = erasures(db.session, "olga@example.net")
        assert event.actor == "system" and event.summary.startswith(
            "retention: unsubscribed more than 30 days"
        )
        assert db.session.scalars(select(AuditEvent.action)).all()[-1] == "subscriber.erase"
    # The subscription is gone everywhere; the objection is evidence with its own period.
    assert [(table, column) for table, column, _ in cells_containing(app, "olga@example.net")] == [
        ("objections", "email")
    ]


def test_a_handling_note_leaves_no_copy_past_its_period(app: Flask, registry: Registry) -> None:
    # Notes name the objector ("phoned Olga on ..."): the retention that erases the note in the
    # objection must find no copy of it anywhere, the append-only audit trail included.
    from registry.audit.services import SYSTEM
    from registry.lists.services import get_notice
    from registry.objections import services as objections
    from tests.privacy.conftest import cells_containing

    registry.create_list()
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    with app.app_context():
        notice = get_notice(db.session, notice_id)
        assert notice is not None
        objection = objections.receive(
            db.session, notice, organisation="Olga GmbH", contact_name="Olga Petrova",
            email="olga@example.net", reason="No US transfers.", actor=SYSTEM, now=NOW,
        )  # fmt: skip
        note = "Phoned Olga Petrova on +49 30 901820; she accepts the SCCs."
        objections.handle(db.session, objection, note=note, actor=SYSTEM, now=NOW)
        db.session.commit()
    assert cells_containing(app, "901820") != []
    later = NOW + timedelta(days=366 * app.config["RETENTION_OBJECTION_YEARS"])
    with app.app_context():
        assert jobs.enforce_retention(clock=lambda: later)["objections"] == 1
    assert cells_containing(app, "901820") == []
    assert cells_containing(app, "Olga Petrova") == []


# --- sign-ups never confirmed (folded into the retention job) --------------------------------


def test_unconfirmed_sign_ups_are_purged_after_the_configured_time(app: Flask, session: Any) -> None:
    limit = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    old = _subscriber("old@example.com", SubscriberStatus.PENDING, NOW - limit - SECOND)
    _subscriber("edge@example.com", SubscriberStatus.PENDING, NOW - limit)
    _subscriber("recent@example.com", SubscriberStatus.PENDING, NOW - timedelta(hours=1))
    _subscriber("confirmed@example.com", SubscriberStatus.CONFIRMED, NOW - 10 * limit)
    owed = outbox.queue(session, NotificationKind.CONFIRMATION, now=NOW - limit * 2, subscriber=old)
    sent = outbox.queue(session, NotificationKind.CONFIRMATION, now=NOW - limit * 2, subscriber=old)
    sent.status = NotificationStatus.SENT
    sent.last_error = "421 <old@example.com> try later"
    session.commit()
    owed_id, sent_id = owed.id, sent.id

    assert jobs.enforce_retention(clock=lambda: NOW)["unconfirmed_subscribers"] == 1
    left = set(session.scalars(select(Subscriber.email)))
    assert left == {"edge@example.com", "recent@example.com", "confirmed@example.com"}
    # What was still owed is cancelled, what was sent stays; both lose their link to the address.
    cancelled, kept = session.get(Notification, owed_id), session.get(Notification, sent_id)
    assert (cancelled.status, cancelled.subscriber_id) == (NotificationStatus.CANCELLED, None)
    assert (kept.status, kept.subscriber_id, kept.last_error) == (NotificationStatus.SENT, None, None)

    # Safe to run twice; a later clock reaches the others that are still unconfirmed.
    assert jobs.enforce_retention(clock=lambda: NOW)["unconfirmed_subscribers"] == 0
    assert jobs.enforce_retention(clock=lambda: NOW + limit)["unconfirmed_subscribers"] == 2
    assert set(session.scalars(select(Subscriber.email))) == {"confirmed@example.com"}


def test_a_new_request_restarts_the_wait(app: Flask, session: Any) -> None:
    from registry.lists.services import create_list

    create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    limit = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    _subscriber("ada@example.com", SubscriberStatus.PENDING, NOW - 2 * limit)
    subscriptions.subscribe(
        session, "ada@example.com", ["sub-processors"], "each", now=NOW - timedelta(minutes=5)
    )
    session.commit()
    assert jobs.enforce_retention(clock=lambda: NOW)["unconfirmed_subscribers"] == 0


def test_a_sign_up_never_confirmed_is_purged_whatever_its_status(app: Flask, session: Any) -> None:
    # Refused for good by its server (the confirmation bounced), or every list unticked from the
    # confirmation's manage link: still never confirmed, so kept no longer than any other.
    limit = timedelta(seconds=app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    old = NOW - limit - SECOND
    _subscriber("bounced@example.com", SubscriberStatus.PENDING, old, status_after=SubscriberStatus.BOUNCING)
    _subscriber(
        "unticked@example.com", SubscriberStatus.PENDING, old, status_after=SubscriberStatus.UNSUBSCRIBED
    )
    _subscriber(
        "edge@example.com", SubscriberStatus.PENDING, NOW - limit, status_after=SubscriberStatus.BOUNCING
    )
    # Confirmed once: these keep their own periods (30 and 90 days).
    _subscriber("left@example.com", SubscriberStatus.UNSUBSCRIBED, old, unsubscribed_at=old)
    _subscriber("refused@example.com", SubscriberStatus.BOUNCING, old, bounced_at=old)
    bounced = session.scalar(select(Subscriber).where(Subscriber.email == "bounced@example.com"))
    owed = outbox.queue(session, NotificationKind.MANAGE_LINK, now=old, subscriber=bounced)
    session.commit()
    owed_id = owed.id

    assert jobs.enforce_retention(clock=lambda: NOW)["unconfirmed_subscribers"] == 2
    left = set(session.scalars(select(Subscriber.email)))
    assert left == {"edge@example.com", "left@example.com", "refused@example.com"}
    cancelled = session.get(Notification, owed_id)
    assert (cancelled.status, cancelled.subscriber_id) == (NotificationStatus.CANCELLED, None)


def test_asking_to_subscribe_again_restarts_the_period(app: Flask, session: Any) -> None:
    # Unsubscribed (or bouncing) long ago, asked for a confirmation again a moment ago: the
    # status stays until the link is followed, but the address is its owner's wish again.
    from registry.lists.services import create_list

    create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    cut = _boundaries(app)
    for status, name, since in (
        (SubscriberStatus.UNSUBSCRIBED, "unsubscribed", "unsubscribed_at"),
        (SubscriberStatus.BOUNCING, "bouncing", "bounced_at"),
    ):
        old = cut[name] - timedelta(days=1)
        _subscriber(f"{name}-again@example.com", status, old, **{since: old})
        _subscriber(f"{name}-gone@example.com", status, old, **{since: old})
        subscriptions.subscribe(
            session, f"{name}-again@example.com", ["sub-processors"], "each", now=cut[name] + SECOND
        )
    session.commit()

    results = jobs.enforce_retention(clock=lambda: NOW)
    assert (results["unsubscribed_subscribers"], results["bouncing_subscribers"]) == (1, 1)
    assert set(session.scalars(select(Subscriber.email))) == {
        "unsubscribed-again@example.com",
        "bouncing-again@example.com",
    }
    # Never confirming, they go one period after the request.
    later = NOW + timedelta(days=app.config["RETENTION_BOUNCING_DAYS"])
    results = jobs.enforce_retention(clock=lambda: later)
    assert (results["unsubscribed_subscribers"], results["bouncing_subscribers"]) == (1, 1)


def test_the_retention_job_is_scheduled() -> None:
    [schedule] = [s for s in scheduler.schedules() if s.name == "retention"]
    assert schedule.run is jobs.enforce_retention and schedule.every_setting == "RETENTION_EVERY_SECONDS"
    assert "purge-unconfirmed" not in {s.name for s in scheduler.schedules()}


def test_admins_see_the_settings_and_the_last_runs(app: Flask, admin: FlaskClient) -> None:
    page = admin.get("/admin/retention").get_data(as_text=True)
    assert "RETENTION_UNSUBSCRIBED_DAYS" in page and "30 days" in page
    assert "The retention job has not run yet." in page
    with app.app_context():
        jobs.enforce_retention(clock=lambda: NOW)
    page = admin.get("/admin/retention").get_data(as_text=True)
    assert "10 January 2027, 12:00 UTC" in page
    assert "Unsubscribed addresses, erased" in page


def test_the_job_erases_in_batches_each_committed_with_every_erasure_whole(
    app_factory: Any, registry: Registry
) -> None:
    from sqlalchemy import event

    from registry.privacy.services import erasures
    from tests.privacy.conftest import cells_containing

    app = app_factory(RETENTION_BATCH_SIZE=2)
    registry.create_list()
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    cut = _boundaries(app)["unsubscribed"] - SECOND
    addresses = [f"gone{i}@example.net" for i in range(5)]
    with app.app_context():
        gone = [
            _subscriber(address, SubscriberStatus.UNSUBSCRIBED, cut, unsubscribed_at=cut)
            for address in addresses
        ]
        stays = _subscriber("stays@example.net", SubscriberStatus.CONFIRMED, cut)
        for subscriber in gone:
            _notification(NotificationKind.NOTICE, subscriber, NOW - timedelta(days=60), notice_id=notice_id,
                          status=NotificationStatus.SENT, last_error=f"550 <{subscriber.email}> full")  # fmt: skip
        # A reply quoting two of them (in different batches) on the record of the address that
        # stays: kept as recorded, without any address, and not touched by their erasure.
        shared = recorded_error("451 <GONE0@example.net>, <gone4@example.net>, <stays@example.net> busy")
        _notification(NotificationKind.NOTICE, stays, NOW - timedelta(days=60), notice_id=notice_id,
                      status=NotificationStatus.RETRYING, last_error=shared)  # fmt: skip
        db.session.commit()
        commits: list[int] = []

        def committed(_session: Any) -> None:
            commits.append(1)

        event.listen(db.session, "after_commit", committed)
        try:
            results = jobs.enforce_retention(clock=lambda: NOW)
        finally:
            event.remove(db.session, "after_commit", committed)
        assert results["unsubscribed_subscribers"] == 5
        # Batches of two, each its own commit (then the run's row): the lock is held briefly.
        assert len(commits) >= 4
        for address in addresses:
            [audit] = erasures(db.session, address)
            assert audit.after["subscriber"] is True and audit.after["notifications"] == 1
            # Its own notification's text went with the link to it; no other text held it.
            assert "texts" not in audit.after
        remaining = db.session.scalars(
            select(Notification.last_error).where(Notification.subscriber_id == stays.id)
        ).one()
        assert remaining == "451 <[address]>, <[address]>, <[address]> busy"
    for address in addresses:
        assert cells_containing(app, address) == []


# --- what each statement reads ----------------------------------------------------------------

# Tables that grow with the subscribers: a job that reads one whole costs time in proportion to
# the subscribers, not to what it changes.
_GROWING = ("subscribers", "subscriptions", "pending_subscriptions", "notifications", "delivery_attempts")
# Reads only the notifications whose context names an address: a few, whatever the outbox.
_ADDRESS_INDEX = "ix_notifications_address_created_at"


def _reads_whole(step: str) -> bool:
    """Whether a step of SQLite's plan reads a growing table from end to end, or the outbox by
    status alone (nearly every notification is sent, or queued after a fan-out)."""
    scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", step)
    if scan is not None and scan.group(1) in _GROWING and scan.group(2) != _ADDRESS_INDEX:
        return True
    return re.search(r"INDEX ix_notifications_status_next_attempt_at \(status=\?\)$", step) is not None


def test_the_jobs_read_through_the_index_of_what_they_change(app: Flask, registry: Registry) -> None:
    # SQLite has no statistics (nobody runs ANALYZE): it takes a condition on any indexed column
    # for a narrow one, and read the whole outbox through the status index, or every subscriber in
    # id order, for a handful of rows. Each statement of the retention and digest jobs is planned
    # here as it ran, with its parameters.
    from sqlalchemy import event

    from registry.notifications.jobs import bundle_digests

    registry.create_list()
    notice_id = registry.announce(
        "sub-processors", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40)
    )
    cut = _boundaries(app)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's plans: PostgreSQL plans from its statistics")
        _subscriber("pending-old@example.com", SubscriberStatus.PENDING, cut["unconfirmed"] - SECOND)
        # A batch of them, each still owed a notice: SQLite's guess of how many rows an IN list
        # finds grows with its length, and from a few dozen it preferred the status index.
        for i in range(50):
            gone = _subscriber(
                f"gone{i}@example.com", SubscriberStatus.UNSUBSCRIBED, cut["unsubscribed"] - SECOND,
                unsubscribed_at=cut["unsubscribed"] - SECOND,
            )  # fmt: skip
            _notification(NotificationKind.NOTICE, gone, NOW - timedelta(days=60), notice_id=notice_id,
                          status=NotificationStatus.QUEUED)  # fmt: skip
        _subscriber(
            "refused@example.com", SubscriberStatus.BOUNCING, cut["bouncing"] - SECOND,
            bounced_at=cut["bouncing"] - SECOND,
        )  # fmt: skip
        reader = _subscriber("reader@example.com", SubscriberStatus.CONFIRMED, NOW - timedelta(days=5000))
        weekly = _subscriber("weekly@example.com", SubscriberStatus.CONFIRMED, NOW - timedelta(days=50))
        _notification(NotificationKind.NOTICE, reader, cut["delivery"] - SECOND, notice_id=notice_id,
                      status=NotificationStatus.SENT, last_error="451 [address] busy")  # fmt: skip
        _notification(
            NotificationKind.CONFIRMATION, reader, cut["unconfirmed"] - SECOND, status=NotificationStatus.SENT,
            context={"purpose": subscriptions.ADDRESS_CHANGE, "address": "typo@example.org"},
        )  # fmt: skip
        _notification(NotificationKind.NOTICE, weekly, NOW - timedelta(hours=1), notice_id=notice_id,
                      status=NotificationStatus.HELD)  # fmt: skip
        _objection(notice_id, "Olga", cut["objection"] - SECOND)
        db.session.commit()

        ran: list[tuple[str, Any]] = []

        def executed(_c: Any, _cursor: Any, statement: str, parameters: Any, _x: Any, many: bool) -> None:
            if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
                one = parameters[0] if parameters and isinstance(parameters[0], tuple | list) else parameters
                ran.append((statement, one))

        event.listen(db.engine, "before_cursor_execute", executed)
        try:
            results = jobs.enforce_retention(clock=lambda: NOW)
            assert bundle_digests(clock=lambda: NOW) == 1
        finally:
            event.remove(db.engine, "before_cursor_execute", executed)
        assert results == {**dict.fromkeys(RETENTION_KINDS, 1), "unsubscribed_subscribers": 50}
        with db.engine.connect() as connection:
            plans = {
                statement: [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(parameters))]
                for statement, parameters in ran
            }  # fmt: skip
    assert len(plans) > 20
    whole = {
        " ".join(statement.split())[:120]: plan
        for statement, plan in plans.items()
        if any(map(_reads_whole, plan))
    }
    assert whole == {}
