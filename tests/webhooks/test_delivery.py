"""Webhook delivery against a real receiver on loopback that verifies every signature: each
event reaches each endpoint once, under one webhook-id for all its attempts, whatever the
receiver does in between."""

from __future__ import annotations

import base64
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.timeutil import utcnow
from registry.webhooks import sending, services
from registry.webhooks.jobs import deliver_webhooks
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from tests.conftest import Registry, entry
from tests.notifications.conftest import add_subscriber
from tests.webhooks.conftest import Clock, announce_acme, register
from tests.webhooks.receiver import Receiver


def _deliver(app: Flask, clock: Clock | None = None) -> None:
    with app.app_context():
        deliver_webhooks(clock or utcnow)


def _deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def test_an_announcement_posts_one_signed_event_with_the_notice(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    add_subscriber(app, "customer@example.org")
    _, receiver.secret = register(app, receiver.url)
    notice_id = announce_acme(published)
    _deliver(app)
    _deliver(app)  # a second run posts nothing more

    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.verified
    assert got.message_id.startswith("msg_") and got.headers["content-type"] == "application/json"
    payload = got.payload
    assert payload["type"] == "notice.announced"
    data = payload["data"]
    assert data["list"] == {"slug": "sub-processors", "title": "Sub-processors"}
    assert data["notice"]["kind"] == "announcement"
    assert data["notice"]["changes"][0]["name"] == "Acme Analytics"
    assert data["notice"]["effective_at"] and data["notice"]["objection_deadline"]
    assert data["urls"]["list"] == "https://registry.example/processors"
    assert data["urls"]["object"].startswith("https://registry.example/notices/")
    assert "customer@example.org" not in got.body  # no subscriber's data
    (row,) = _deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == (WebhookDeliveryStatus.SENT, 1, 204)
    assert row.message_id == got.message_id and row.event_key == f"notice.announced:{notice_id}"


def test_withdrawn_applied_and_corrected_are_events_too(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    from registry.lists import services as lists
    from registry.lists import workflow

    _, receiver.secret = register(app, receiver.url)
    now = utcnow()
    first = announce_acme(published, now=now)
    second = published.announce(
        "sub-processors",
        [("add", None, entry("Beta Hosting"))],
        effective_at=now + timedelta(days=40),
        now=now,
        reason="Hosting.",
    )
    with app.app_context():
        notice = lists.get_notice(db.session, first)
        assert notice is not None
        workflow.withdraw(db.session, notice, reason="Not needed after all.", actor=SYSTEM, now=now)
        db.session.commit()
    published.apply_due(now + timedelta(days=41))
    _deliver(app, lambda: utcnow() + timedelta(days=41))

    types = [r.payload["type"] for r in receiver.received]
    assert types == ["notice.announced", "notice.announced", "notice.withdrawn", "notice.applied"]
    assert all(r.verified for r in receiver.received)
    withdrawal = receiver.received[2].payload["data"]["notice"]
    assert withdrawal["kind"] == "withdrawal" and withdrawal["withdraws"]
    applied = receiver.received[3].payload["data"]["notice"]
    assert applied["version"] == 2 and [c["name"] for c in applied["changes"]] == ["Beta Hosting"]
    assert second


def test_a_correction_is_an_event(app: Flask, published: Registry, receiver: Receiver) -> None:
    from registry.lists import services as lists
    from registry.lists import workflow
    from registry.lists.models import ChangeAction

    _, receiver.secret = register(app, receiver.url)
    with app.app_context():
        register_list = lists.get_list(db.session, "sub-processors")
        assert register_list is not None
        change = workflow.draft_change(
            db.session,
            register_list,
            ChangeAction.UPDATE,
            processor="azure",
            fields={**entry("Azure"), "purpose": "Azure does things for us all."},
            now=utcnow(),
        )
        workflow.correct(db.session, register_list, [change], reason="A typo.", now=utcnow(), actor=SYSTEM)
        db.session.commit()
    _deliver(app)
    (got,) = receiver.received
    assert got.verified and got.payload["type"] == "notice.corrected"
    assert got.payload["data"]["notice"]["kind"] == "correction"
    assert got.payload["data"]["urls"]["object"] is None


def test_an_endpoint_down_then_up_gets_every_event_once_under_the_same_id(
    app: Flask, published: Registry
) -> None:
    down = Receiver()  # nothing listens on its port yet
    _, down.secret = register(app, down.url)
    announce_acme(published)
    announce_acme(published, name="Beta Hosting")
    clock = Clock()
    _deliver(app, clock)
    rows = _deliveries(app)
    assert [r.status for r in rows] == [WebhookDeliveryStatus.RETRYING] * 2
    assert all("ConnectionRefusedError" in (r.last_error or "") for r in rows)
    assert all(r.last_status_code is None for r in rows)

    down.plan = [503]  # up, but failing once more
    down.start()
    try:
        clock.advance(hours=1)
        _deliver(app, clock)
        clock.advance(hours=2)
        _deliver(app, clock)
        clock.advance(days=2)
        _deliver(app, clock)  # nothing is left to post
    finally:
        down.stop()

    ids = {r.message_id for r in rows}
    assert [r.answered for r in down.received] == [503, "ok", "ok"]
    assert all(r.verified for r in down.received)
    assert Counter(r.message_id for r in down.accepted()) == Counter(ids)  # each once
    # The retry of the first kept its id: first (503), second (ok), first again (ok).
    assert down.ids() == [rows[0].message_id, rows[1].message_id, rows[0].message_id]
    after = _deliveries(app)
    assert [r.status for r in after] == [WebhookDeliveryStatus.SENT] * 2
    assert [r.attempts for r in after] == [3, 2]


def test_a_receiver_that_drops_the_connection_mid_batch_loses_nothing(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    _, receiver.secret = register(app, receiver.url)
    for name in ("Alpha", "Beta", "Gamma"):
        announce_acme(published, name=name)
    receiver.plan = ["ok", "drop", "ok"]
    clock = Clock()
    _deliver(app, clock)
    rows = _deliveries(app)
    assert [r.status for r in rows] == [
        WebhookDeliveryStatus.SENT,
        WebhookDeliveryStatus.RETRYING,
        WebhookDeliveryStatus.SENT,
    ]
    assert rows[1].last_error and rows[1].last_status_code is None

    clock.advance(hours=1)
    _deliver(app, clock)
    accepted = Counter(r.message_id for r in receiver.accepted())
    assert accepted == Counter(r.message_id for r in rows)
    assert [r.message_id for r in receiver.received] == [
        rows[0].message_id,
        rows[1].message_id,
        rows[2].message_id,
        rows[1].message_id,
    ]


def test_after_the_retry_period_a_delivery_is_dead_and_shown_with_its_error(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    _, receiver.secret = register(app, receiver.url)
    announce_acme(published)
    receiver.plan = [500] * 100
    clock = Clock()
    for _ in range(40):
        _deliver(app, clock)
        clock.advance(hours=6)
    (row,) = _deliveries(app)
    assert row.status is WebhookDeliveryStatus.DEAD
    assert row.last_status_code == 500 and row.last_error and row.last_error.startswith("HTTP 500")
    tries = len(receiver.received)
    assert 5 < tries < 40 and row.attempts == tries
    assert len({r.message_id for r in receiver.received}) == 1


def test_410_gone_disables_the_endpoint(app: Flask, published: Registry, receiver: Receiver) -> None:
    endpoint_id, receiver.secret = register(app, receiver.url)
    announce_acme(published)
    announce_acme(published, name="Beta")
    receiver.plan = [410]
    _deliver(app)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None and not endpoint.enabled
        assert endpoint.disabled_reason == "the endpoint answered 410 Gone"
    assert [r.status for r in _deliveries(app)] == [
        WebhookDeliveryStatus.DEAD,
        WebhookDeliveryStatus.CANCELLED,
    ]
    assert len(receiver.received) == 1
    announce_acme(published, name="Gamma")  # nothing more is owed to it
    assert len(_deliveries(app)) == 2


def test_a_document_revision_reaches_endpoints_of_that_document(app: Flask, receiver: Receiver) -> None:
    from tests.conftest import NOW
    from tests.documents.conftest import Documents

    documents = Documents(app)
    documents.create()
    documents.publish()
    _, receiver.secret = register(app, receiver.url, documents=("privacy-policy",))
    documents.announce()
    _deliver(app, lambda: NOW + timedelta(minutes=1))
    (got,) = receiver.received
    assert got.verified and got.payload["type"] == "revision.announced"
    data = got.payload["data"]
    assert data["document"]["slug"] == "privacy-policy"
    assert data["urls"]["revision"].startswith("https://registry.example/")


def test_a_sender_whose_lease_ran_out_is_taken_over_under_the_same_id(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    from registry.webhooks.delivery import claim

    _, receiver.secret = register(app, receiver.url)
    announce_acme(published)
    with app.app_context():  # a sender claims, then dies before posting
        assert len(claim(db.session, now=utcnow(), worker="dead", limit=10, lease_seconds=60)) == 1
        db.session.commit()
    _deliver(app)
    assert receiver.received == []  # still held by its lease
    clock = Clock()
    clock.advance(seconds=61)
    _deliver(app, clock)
    (row,) = _deliveries(app)
    assert [r.message_id for r in receiver.received] == [row.message_id]
    assert row.status is WebhookDeliveryStatus.SENT


def test_a_disabled_endpoint_gets_nothing_and_a_ping_is_an_event(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    endpoint_id, receiver.secret = register(app, receiver.url)
    with app.app_context():
        endpoint = services.get_endpoint(db.session, endpoint_id)
        assert endpoint is not None
        services.ping(db.session, endpoint, actor=SYSTEM, now=utcnow())
        db.session.commit()
    _deliver(app)
    (ping,) = receiver.received
    assert ping.verified and ping.payload["type"] == "webhook.ping"
    with app.app_context():
        endpoint = services.get_endpoint(db.session, endpoint_id)
        assert endpoint is not None
        services.disable(db.session, endpoint, reason="testing", actor=SYSTEM, now=utcnow())
        db.session.commit()
    announce_acme(published)
    _deliver(app)
    assert len(receiver.received) == 1


def test_a_url_with_non_ascii_characters_is_posted_percent_encoded_and_blocks_nobody(
    app: Flask, published: Registry, receiver: Receiver
) -> None:
    """An address typed with non-ASCII characters (an IRI) is sent as its percent-encoded URI;
    it never stops the batch, so the endpoints after it get their events too."""
    _, receiver.secret = register(app, receiver.url + "/café?über=1")
    register(app, receiver.url)
    announce_acme(published)
    _deliver(app)
    assert sorted(r.path for r in receiver.received) == ["/hooks", "/hooks/caf%C3%A9?%C3%BCber=1"]
    assert [row.status for row in _deliveries(app)] == [WebhookDeliveryStatus.SENT] * 2


def test_a_receiver_that_trickles_its_answer_is_cut_off_and_retried() -> None:
    """A receiver sending its answer a byte at a time, each within the read time-out, would hold
    the sender for as long as it liked: the whole answer must come within the time-out."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    done = threading.Event()

    def trickle() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)  # the request
            for byte in answer:
                if done.wait(0.1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        outcome = sending.post(
            f"http://127.0.0.1:{port}/hooks",
            "whsec_" + base64.b64encode(b"k" * 24).decode(),
            "msg_trickle",
            "{}",
            at=datetime.now(UTC),
            allow_private=True,
            connect_timeout=0.5,
            read_timeout=1.0,
        )
    finally:
        done.set()
        thread.join(5)
        server.close()
    # Every byte came within 0.1 s of the last, yet the whole took longer: a failure, retried later.
    assert not outcome.ok and outcome.status is None
    assert outcome.error == "no whole answer within 1 s"
