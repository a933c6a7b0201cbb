"""Delivery when the connection misbehaves mid-batch: a reply that comes too late, a connection
that drops, a server that closes it. Real aiosmtpd servers on loopback, told how to misbehave."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mail import BadHeaderError
from sqlalchemy import select

from registry.extensions import db
from registry.notifications import delivery
from registry.notifications.delivery import DeliveryReport, DriverStatement
from registry.notifications.emails import Composer
from registry.notifications.jobs import deliver_outbox
from registry.notifications.models import AttemptOutcome, DeliveryAttempt, Notification
from registry.notifications.senders import SmtpSender
from registry.smtp import OutgoingMessage
from registry.subscriptions.models import Subscriber
from tests.conftest import NOW, Registry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.smtp import SmtpServer


@pytest.fixture
def app(app_factory: Callable[..., Flask], smtp: SmtpServer) -> Flask:
    """A sender that waits a second for each reply, so that a late one is late quickly."""
    return app_factory(**smtp.settings(MAIL_TIMEOUT=1.0))


def deliver(app: Flask, clock: Clock) -> DeliveryReport:
    with app.app_context():
        return deliver_outbox(clock=clock)


def rows(app: Flask) -> dict[str, tuple[str, int, str | None]]:
    """Each recipient's notification: status, attempts, last error."""
    with app.app_context():
        found = db.session.execute(
            select(Subscriber.email, Notification.status, Notification.attempts, Notification.last_error)
            .join(Subscriber, Notification.subscriber_id == Subscriber.id)
            .order_by(Subscriber.email)
        ).all()
        return {email: (str(status), attempts, error) for email, status, attempts, error in found}


def failed_attempts(app: Flask) -> list[str | None]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(DeliveryAttempt.error)
                .where(DeliveryAttempt.outcome != "sent")
                .order_by(DeliveryAttempt.id)
            )
        )


def subscribers(app: Flask, count: int) -> list[str]:
    addresses = [f"c{i}@example.org" for i in range(count)]
    for address in addresses:
        add_subscriber(app, address)
    return addresses


def test_a_reply_after_the_timeout_is_an_unknown_outcome_resent_with_the_same_message_id(
    app: Flask, published: Registry, smtp: SmtpServer, editor: FlaskClient
) -> None:
    addresses = subscribers(app, 3)
    smtp.mailbox.late_reply_to.add("c1@example.org")
    smtp.mailbox.late_by = 2.5  # the server accepts the message, but after the sender gave up
    notice_id = announce_acme(published)
    clock = Clock()

    report = deliver(app, clock)
    assert "sent 2," in str(report) and "outcome unknown 1" in str(report)
    found = rows(app)
    assert found["c0@example.org"][:2] == ("sent", 1)
    assert found["c2@example.org"][:2] == ("sent", 1)  # the batch went on, on a new connection
    status, attempts, error = found["c1@example.org"]
    assert (status, attempts) == ("retrying", 1)
    assert error is not None and error.startswith("outcome unknown:")
    assert "may have accepted" in error and "same Message-ID" in error
    assert failed_attempts(app) == [error]  # only the message in flight was charged
    page = editor.get(f"/admin/deliveries/notices/{notice_id}").get_data(as_text=True)
    assert "outcome unknown: no reply to the end of the message" in page  # where operators look

    smtp.mailbox.late_reply_to.clear()
    clock.advance(minutes=5)
    deliver(app, clock)
    assert rows(app)["c1@example.org"][:2] == ("sent", 2)
    first, second = smtp.mailbox.to("c1@example.org")  # the server got it twice: the known cost
    assert first["Message-ID"] == second["Message-ID"]  # which receivers de-duplicate on
    assert sorted(smtp.mailbox.recipients()) == sorted([*addresses, "c1@example.org"])


def test_a_dropped_connection_charges_only_the_message_in_flight_and_the_batch_goes_on(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    addresses = subscribers(app, 5)
    smtp.mailbox.drop_after = [2]  # the first connection breaks at the third MAIL FROM
    announce_acme(published)
    clock = Clock()

    report = deliver(app, clock)
    assert "sent 4," in str(report) and "retrying 1," in str(report)
    found = rows(app)
    assert found["c2@example.org"][:2] == ("retrying", 1)
    assert "SMTPServerDisconnected" in (found["c2@example.org"][2] or "")
    for address in ("c0@example.org", "c1@example.org", "c3@example.org", "c4@example.org"):
        assert found[address][:2] == ("sent", 1)
    assert len(failed_attempts(app)) == 1

    clock.advance(minutes=5)
    deliver(app, clock)
    assert sorted(smtp.mailbox.recipients()) == addresses  # each once, nothing lost
    assert {status for status, _, _ in rows(app).values()} == {"sent"}


def test_a_connection_that_breaks_again_gives_the_rest_back_untried(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    addresses = subscribers(app, 5)
    smtp.mailbox.drop_after = [2, 0]  # and the new connection breaks at once
    announce_acme(published)
    clock = Clock()

    deliver(app, clock)
    found = rows(app)
    assert [found[a][:2] for a in addresses] == [
        ("sent", 1),
        ("sent", 1),
        ("retrying", 1),  # in flight when the first connection broke
        ("retrying", 1),  # in flight when the second one broke
        ("queued", 0),  # not tried: given back, due at once, not charged
    ]
    assert len(failed_attempts(app)) == 2

    deliver(app, clock)  # the next run sends what was given back, not what waits for its backoff
    assert rows(app)["c4@example.org"][:2] == ("sent", 1)
    clock.advance(minutes=5)
    deliver(app, clock)
    assert sorted(smtp.mailbox.recipients()) == addresses


def test_a_server_closing_the_connection_does_not_charge_the_next_message(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    addresses = subscribers(app, 4)
    smtp.mailbox.closing_at.add("c1@example.org")  # 421 at RCPT TO: the server closes
    announce_acme(published)
    clock = Clock()

    deliver(app, clock)
    found = rows(app)
    assert found["c1@example.org"][:2] == ("retrying", 1)
    assert (found["c1@example.org"][2] or "").startswith("421")
    for address in ("c0@example.org", "c2@example.org", "c3@example.org"):
        assert found[address][:2] == ("sent", 1)  # sent on a new connection
    assert len(failed_attempts(app)) == 1

    smtp.mailbox.closing_at.clear()
    clock.advance(minutes=5)
    deliver(app, clock)
    assert sorted(smtp.mailbox.recipients()) == addresses


def _message(recipient: str, message_id: str) -> OutgoingMessage:
    return OutgoingMessage(
        subject="A test",
        recipients=[recipient],
        body="Hello.",
        html="<p>Hello.</p>",
        sender="Example Cloud Ltd <privacy@example.com>",
        message_id=message_id,
    )


def test_a_message_whose_end_waits_for_a_record_that_fails_is_not_delivered(
    app: Flask, smtp: SmtpServer
) -> None:
    """The sender waits for the last message's record before the lone dot that ends the next
    one: if that record fails, the next one is cut short, and no server delivers half a message."""
    with app.app_context():
        sender = SmtpSender()
        before_end: list[int] = []

        def record_fails() -> None:
            before_end.append(len(smtp.mailbox.recipients()))
            raise RuntimeError("the record of the last message failed")

        with pytest.raises(RuntimeError), sender.connect() as connection:
            connection.send(_message("cut@example.org", "<cut@registry.example>"), before_end=record_fails)
        assert before_end == [0]
        # Said to be ready (the record has come back): content and end would go in one write,
        # after ``before_end``; if that raises all the same, nothing of it goes.
        with pytest.raises(RuntimeError), sender.connect() as connection:
            connection.send(
                _message("ready@example.org", "<ready@registry.example>"),
                before_end=record_fails,
                end_ready=lambda: True,
            )
        assert before_end == [0, 0]
        with sender.connect() as connection:
            # Sent at once, not held back by Nagle until the content is acknowledged (a 40 ms
            # delayed ACK per message: the end of the content is a write of its own).
            sock = connection.host.sock  # type: ignore[attr-defined]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            connection.send(
                _message("whole@example.org", "<whole@registry.example>"),
                before_end=lambda: before_end.append(len(smtp.mailbox.recipients())),
            )
    smtp.mailbox.wait_for(1)
    assert before_end == [0, 0, 0]  # the whole message too was not accepted before its end
    assert smtp.mailbox.recipients() == ["whole@example.org"]


def test_a_driver_statement_gives_every_message_the_parameters_compiling_anew_gives(
    app: Flask,
) -> None:
    """The values a statement carries are processed once: later messages must still get their
    own values, and the statement's, exactly as a statement compiled for them alone."""
    with app.app_context():
        dialect = db.engine.dialect
        statement = DriverStatement(delivery._RECORD_ATTEMPT, dialect)
        for notification_id, outcome, error in (
            (1, AttemptOutcome.SENT, None),
            (2, AttemptOutcome.TEMPORARY, "451"),
        ):
            values = {
                "notification_id": notification_id,
                "now": NOW + timedelta(seconds=notification_id),
                "outcome": outcome,
                "error": error,
            }
            fresh = DriverStatement(delivery._RECORD_ATTEMPT, dialect)
            assert statement.parameters(values) == fresh.parameters(values)


def test_a_mark_on_sqlite_waits_for_another_writer_in_short_naps(app: Flask, published: Registry) -> None:
    """Two senders on SQLite take turns at the write lock for every mark: the ledger waits for
    it in naps of at most a millisecond (SQLite's own handler sleeps up to 100 ms), and gives
    its connection back to the pool with the usual busy timeout."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock")
    add_subscriber(app, "a@example.org")
    announce_acme(published)
    with app.app_context():
        ids = delivery.claim(db.session, now=NOW, worker="w", limit=10, lease_seconds=600)
        db.session.commit()
        holder = sqlite3.connect(str(db.engine.url.database), isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another sender, in the middle of its own mark
        released: list[float] = []

        def release() -> None:
            holder.commit()
            released.append(time.monotonic())

        threading.Timer(0.25, release).start()
        with db.engine.connect() as ledger:
            delivery.ledger_opened(ledger)
            marks = delivery.SentMarks(ledger)
            marks.start(ids[0], now=NOW)
            marks.wait()
            done = time.monotonic()
            with ledger.begin():
                delivery.settle_sent(ledger, ids[:1], worker="w")
            delivery.ledger_closing(ledger)
            driver = ledger.connection.driver_connection
            assert driver is not None
            (timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()
        holder.close()
        # SQLite's own handler, sleeping 1, 2, 5, 10... ms, would next wake at 328 ms.
        assert released and done - released[0] < 0.02
        assert timeout == int(app.config["SQLITE_BUSY_TIMEOUT"] * 1000)
        assert db.session.get(Notification, ids[0]).status == "sent"  # type: ignore[union-attr]


def test_a_mark_on_postgresql_is_committed_once_awaited_and_a_failed_one_raises(
    app: Flask, published: Registry
) -> None:
    """PostgreSQL's marks are sent at once and awaited later (libpq's asynchronous calls): once
    ``wait`` returns, another connection sees the sent attempt; a mark the server refuses (here
    an attempt for no notification) raises from ``wait``, and the ledger goes back to the pool
    without its prepared statement or its commit setting."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("libpq's asynchronous calls")
    add_subscriber(app, "a@example.org")
    announce_acme(published)
    with app.app_context():
        ids = delivery.claim(db.session, now=NOW, worker="w", limit=10, lease_seconds=600)
        db.session.commit()
        with db.engine.connect() as ledger:
            delivery.ledger_opened(ledger)
            marks = delivery.SentMarks(ledger)
            marks.start(ids[0], now=NOW)
            marks.wait()
            with db.engine.connect() as other:
                outcome = other.execute(
                    select(DeliveryAttempt.outcome).where(DeliveryAttempt.notification_id == ids[0])
                )
                assert outcome.scalar_one() == "sent"
            marks.start(10**9, now=NOW)  # no such notification: its attempt is refused
            with pytest.raises(Exception, match="foreign key"):
                marks.wait()
            marks.wait()  # nothing pending any more
            delivery.ledger_closing(ledger)
            assert ledger.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
            assert (
                ledger.exec_driver_sql(
                    "SELECT count(*) FROM pg_prepared_statements WHERE name = 'registry_mark_sent'"
                ).scalar_one()
                == 0
            )


def _record_accepted(ids: list[int], email: str) -> int:
    """Record a sent attempt for ``email``'s notification among the claimed ``ids``, as a sender
    leaves it once the server accepted the message; its id. The caller commits."""
    accepted = db.session.scalar(
        select(Notification.id)
        .join(Subscriber, Subscriber.id == Notification.subscriber_id)
        .where(Notification.id.in_(ids), Subscriber.email == email)
    )
    assert accepted is not None
    db.session.add(DeliveryAttempt(notification_id=accepted, at=NOW, outcome=AttemptOutcome.SENT))
    return accepted


def test_a_stopped_senders_accepted_messages_are_marked_sent_not_sent_again(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    """The sent attempt is the record of an accepted message; a batch's rows follow at its end.
    A sender stopped before that leaves them ``sending``: once its lease has run out, the next
    sender marks those with a sent attempt sent (at the attempt's time), and sends the others."""
    add_subscriber(app, "accepted@example.org")
    add_subscriber(app, "untried@example.org")
    announce_acme(published)
    with app.app_context():
        ids = delivery.claim(db.session, now=NOW, worker="gone", limit=10, lease_seconds=60)
        accepted = _record_accepted(ids, "accepted@example.org")
        db.session.commit()
    clock = Clock(NOW + timedelta(seconds=61))
    report = deliver(app, clock)
    smtp.mailbox.wait_for(1)
    assert smtp.mailbox.recipients() == ["untried@example.org"]
    assert report.sent == 1
    assert {email: status for email, (status, _, _) in rows(app).items()} == {
        "accepted@example.org": "sent",
        "untried@example.org": "sent",
    }
    with app.app_context():
        row = db.session.get(Notification, accepted)
        assert row is not None
        assert (row.sent_at, row.attempts, row.lease_until) == (NOW, 1, None)


def test_a_message_that_cannot_be_composed_is_logged_without_the_address_it_quotes(
    app: Flask,
    published: Registry,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in composing is logged with where it happened, but an address in the exception's
    text is redacted there, as it is in the row's error."""
    add_subscriber(app, "quoted@example.org")
    announce_acme(published)

    address = "quoted@example.org"

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"no template for <{address}>")  # (the frame shows this line, not the text)

    monkeypatch.setattr(Composer, "subscriber_draft", broken)
    with caplog.at_level(logging.ERROR, logger="registry.notifications.sending"):
        deliver(app, Clock())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "could not compose notification" in logged and "ValueError: no template for <[address]>" in logged
    assert "in broken" in logged  # the frames say where
    assert "quoted@example.org" not in logged and "quoted@example.org" not in caplog.text
    (status, attempts, error) = rows(app)["quoted@example.org"]
    assert (status, attempts) == ("retrying", 1) and error is not None and "quoted@" not in error


def test_a_stopped_senders_accepted_message_is_marked_sent_even_when_the_server_is_down(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    """A row whose message was accepted already needs no SMTP server: an unreachable one must
    not charge it a failed attempt (which could make an accepted message look dead)."""
    add_subscriber(app, "accepted@example.org")
    add_subscriber(app, "untried@example.org")
    announce_acme(published)
    with app.app_context():
        ids = delivery.claim(db.session, now=NOW, worker="gone", limit=10, lease_seconds=60)
        _record_accepted(ids, "accepted@example.org")
        db.session.commit()
    smtp.stop()
    deliver(app, Clock(NOW + timedelta(seconds=61)))
    found = rows(app)
    assert found["accepted@example.org"] == ("sent", 1, None)
    assert found["untried@example.org"][0] == "retrying"
    assert len(failed_attempts(app)) == 1


def test_no_message_starts_after_the_deadline_on_a_connection_opened_again(
    app: Flask, published: Registry, smtp: SmtpServer
) -> None:
    """The deadline is skipped only for a message whose envelope went out with the last one's
    end, on that same connection; once it broke and was opened again, that envelope is gone and
    the next message must wait for the next run like the rest."""
    subscribers(app, 3)
    smtp.mailbox.late_reply_to.add("c0@example.org")
    smtp.mailbox.late_by = 2.5
    announce_acme(published)
    lease = app.config["DELIVERY_LEASE_SECONDS"]

    def clock() -> datetime:
        # Time runs out while the server considers the first message.
        return NOW + timedelta(seconds=lease) if smtp.mailbox.messages else NOW

    deliver(app, clock)  # type: ignore[arg-type]
    found = rows(app)
    assert found["c0@example.org"][0] == "retrying"  # outcome unknown
    assert found["c1@example.org"][:2] == ("queued", 0)  # given back untried
    assert found["c2@example.org"][:2] == ("queued", 0)
    assert smtp.mailbox.recipients() == ["c0@example.org"]


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("554 5.7.1 Message rejected", "retrying"),
        ("451 4.3.0 Try again later", "retrying"),
        ("421 4.3.2 Closing connection", "retrying"),
    ],
    ids=["554", "451", "421"],
)
@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "command-by-command"])
def test_a_refused_end_is_charged_to_its_own_message_with_the_next_envelope_sent_ahead(
    app: Flask, published: Registry, smtp: SmtpServer, reply: str, status: str, pipelining: bool
) -> None:
    """The next message's envelope went with the refused end: its replies follow, and belong to
    it; each other message goes out once and is marked sent."""
    addresses = subscribers(app, 4)
    smtp.mailbox.pipelining = pipelining
    smtp.mailbox.refuse_content_of["c1@example.org"] = reply
    announce_acme(published)
    report = deliver(app, Clock())
    found = rows(app)
    assert {a: found[a][:2] for a in addresses} == {
        "c0@example.org": ("sent", 1),
        "c1@example.org": (status, 1),
        "c2@example.org": ("sent", 1),
        "c3@example.org": ("sent", 1),
    }
    assert (found["c1@example.org"][2] or "").startswith(reply.split(" ", 1)[0])
    assert failed_attempts(app) == [found["c1@example.org"][2]]
    assert sorted(smtp.mailbox.recipients()) == addresses  # c1 received, refused: once each
    assert report.sent == 3


@pytest.mark.parametrize("refusal", ["permanent", "temporary", "closing"])
def test_a_refused_envelope_sent_ahead_is_charged_to_its_own_message(
    app: Flask, published: Registry, smtp: SmtpServer, refusal: str
) -> None:
    """The envelope of c2's message goes with the end of c1's: a refusal of it (or a 421 that
    closes the connection) is c2's alone, c1 is sent, and the batch goes on."""
    addresses = subscribers(app, 4)
    refused = {
        "permanent": smtp.mailbox.refuse_permanently,
        "temporary": smtp.mailbox.refuse_temporarily,
        "closing": smtp.mailbox.closing_at,
    }[refusal]
    refused.add("c2@example.org")
    announce_acme(published)
    deliver(app, Clock())
    found = rows(app)
    assert {a: found[a][0] for a in addresses} == {
        "c0@example.org": "sent",
        "c1@example.org": "sent",
        "c2@example.org": "dead" if refusal == "permanent" else "retrying",
        "c3@example.org": "sent",
    }
    assert failed_attempts(app) == [found["c2@example.org"][2]]
    assert sorted(smtp.mailbox.recipients()) == ["c0@example.org", "c1@example.org", "c3@example.org"]


def test_a_next_message_that_cannot_be_serialised_leaves_the_one_in_flight_whole(
    app: Flask, smtp: SmtpServer
) -> None:
    """The next message is serialised for its envelope to go ahead, with this one's content on
    the wire already: if it cannot be (a line break in a header), this one still ends and is
    accepted, and the next fails on its own turn with nothing of it sent."""
    with app.app_context():
        sender = SmtpSender()
        broken = _message("broken@example.org", "<broken@registry.example>")
        broken.subject = "A line\r\n break"  # passes Flask-Mail's check (folding white space)
        with sender.connect() as connection:
            connection.send(
                _message("first@example.org", "<first@registry.example>"), following=lambda: broken
            )
            with pytest.raises(BadHeaderError):
                connection.send(broken)
            connection.send(_message("third@example.org", "<third@registry.example>"))
    smtp.mailbox.wait_for(2)
    assert smtp.mailbox.recipients() == ["first@example.org", "third@example.org"]
    assert "third@example.org" not in smtp.mailbox.messages[0].as_string()


def test_a_next_message_with_a_broken_header_is_charged_alone_and_the_batch_goes_on(
    app: Flask, published: Registry, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c2's message has a line break in a header: it is dead (resending will not help), and
    c1's, whose end it would have followed, is sent whole; c3's goes out on its own."""
    addresses = subscribers(app, 4)
    announce_acme(published)
    build = Composer.build

    def broken_for_c2(self: Composer, draft: object) -> OutgoingMessage:
        message = build(self, draft)  # type: ignore[arg-type]
        if message.recipients == ["c2@example.org"]:
            message.subject = "A line\r\n break"
        return message

    monkeypatch.setattr(Composer, "build", broken_for_c2)
    deliver(app, Clock())
    found = rows(app)
    assert {a: found[a][0] for a in addresses} == {
        "c0@example.org": "sent",
        "c1@example.org": "sent",
        "c2@example.org": "dead",
        "c3@example.org": "sent",
    }
    assert smtp.mailbox.recipients() == ["c0@example.org", "c1@example.org", "c3@example.org"]
    assert all(len(smtp.mailbox.to(a)) == 1 for a in ("c0@example.org", "c1@example.org", "c3@example.org"))


def test_a_record_check_that_fails_before_the_end_drops_the_connection_without_quit(
    app: Flask, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``end_ready`` asks the database whether the last record is back, with the server waiting
    for the content: if that raises, the connection is dropped as when ``before_end`` raises. A
    QUIT there would be taken for content, and wait for a reply that never comes."""
    with app.app_context():
        sender = SmtpSender()

        def database_gone() -> bool:
            raise RuntimeError("the ledger's connection is gone")

        with pytest.raises(RuntimeError), sender.connect() as connection:
            connection.send(
                _message("cut@example.org", "<cut@registry.example>"),
                before_end=lambda: None,
                end_ready=database_gone,
            )
    assert "did not close cleanly" not in caplog.text
    assert smtp.mailbox.recipients() == []


def test_the_end_of_a_batch_marks_sent_only_the_rows_whose_record_was_committed(
    app: Flask, published: Registry
) -> None:
    """A row in the batch's list whose record failed has no sent attempt: it stays claimed (and
    goes out again after its lease), never sent without a time."""
    add_subscriber(app, "recorded@example.org")
    add_subscriber(app, "unrecorded@example.org")
    announce_acme(published)
    with app.app_context():
        ids = delivery.claim(db.session, now=NOW, worker="w", limit=10, lease_seconds=60)
        _record_accepted(ids, "recorded@example.org")
        delivery.settle_sent(db.session, ids, worker="w")
        db.session.commit()
    states = {email: status for email, (status, _, _) in rows(app).items()}
    assert states == {"recorded@example.org": "sent", "unrecorded@example.org": "sending"}
