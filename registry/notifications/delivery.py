"""What delivery records: claims with a lease, and each attempt's result.

A batch is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
writers), so two senders never hold the same row, and rows a dead sender held become claimable
again when its lease runs out. Every result is written only while the writer still holds the
claim. How a batch is sent is in ``sending.py``.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from select import select as wait_for_socket
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from registry import leases
from registry.database import is_busy, sqlite_busy_timeout_ms
from registry.notifications import outbox
from registry.notifications.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
)
from registry.redaction import recorded_error
from registry.subscriptions.models import Subscriber, SubscriberStatus
from registry.timeutil import UTCDateTime

# Where results are written: the ORM session, or (in the send loop) a plain connection.
Executor = Session | Connection

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    cancelled: int = 0
    bounced: int = 0
    # Sent in full with no reply to the end (also counted as retrying): perhaps delivered.
    unknown: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"sent {self.sent}, retrying {self.retrying}, dead {self.dead}, "
            f"cancelled {self.cancelled}, bounced {self.bounced}"
        )
        return f"{text}, outcome unknown {self.unknown}" if self.unknown else text


class Temporary(Exception):
    """Try again later: 4xx, a refused or broken connection, a timeout."""


class Permanent(Exception):
    """The server refused this recipient for good (5xx)."""


def claim(session: Session, *, now: datetime, worker: str, limit: int, lease_seconds: int) -> list[int]:
    """Take up to ``limit`` due notifications for ``worker`` until the lease ends; caller commits."""
    return leases.claim(
        session,
        Notification,
        due=(NotificationStatus.QUEUED, NotificationStatus.RETRYING),
        sending=NotificationStatus.SENDING,
        now=now,
        worker=worker,
        limit=limit,
        lease_seconds=lease_seconds,
    )


def _held_by(worker: str, notification_id: int) -> Any:
    return leases.held_by(Notification, notification_id, worker=worker, sending=NotificationStatus.SENDING)


_TABLE = cast(Table, Notification.__table__)
_ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
# Built once: the send loop runs it for every message, so it skips the ORM (a sixth of the cost
# per message, measured by bench/fanout.py). Inline: nothing reads the new row's id back.
_RECORD_ATTEMPT = (
    insert(_ATTEMPTS)
    .values(
        notification_id=bindparam("notification_id"),
        at=bindparam("now", type_=UTCDateTime()),
        outcome=bindparam("outcome", type_=_ATTEMPTS.c.outcome.type),
        error=bindparam("error"),
    )
    .inline()
)


def _sent_attempt_at() -> Any:
    """When the message of the notification at hand was accepted: its sent attempt's time."""
    return (
        select(func.max(_ATTEMPTS.c.at))
        .where(_ATTEMPTS.c.notification_id == _TABLE.c.id, _ATTEMPTS.c.outcome == AttemptOutcome.SENT)
        .scalar_subquery()
    )


def accepted_before() -> Any:
    """Whether the notification at hand has a sent attempt: the server accepted its message.
    A row claimed again after its sender stopped before the end of its batch is then marked
    sent (``sending.py``), not sent a second time."""
    return (
        select(_ATTEMPTS.c.id)
        .where(_ATTEMPTS.c.notification_id == _TABLE.c.id, _ATTEMPTS.c.outcome == AttemptOutcome.SENT)
        .exists()
    )


def settle_sent(db: Executor, notification_ids: list[int], *, worker: str) -> None:
    """Mark sent, in one statement, the claimed rows whose message the server accepted (their
    sent attempt is recorded, see ``SentMarks``): at the end of a batch, one row's update costs
    a tenth of a statement of its own. Rows ``worker`` no longer holds are left alone: whoever
    claims them next finds their sent attempt (``accepted_before``). So is a row whose record
    failed (no sent attempt): accepted or not, nothing says so, and it goes out again after its
    lease, under the same Message-ID, as the guarantee allows."""
    if not notification_ids:
        return
    db.execute(
        update(_TABLE)
        .where(
            _TABLE.c.id.in_(notification_ids),
            _TABLE.c.status == NotificationStatus.SENDING,
            _TABLE.c.claimed_by == worker,
            accepted_before(),
        )
        .values(
            status=NotificationStatus.SENT,
            sent_at=_sent_attempt_at(),
            attempts=_TABLE.c.attempts + 1,
            lease_until=None,
            last_error=None,
        )
    )


class DriverStatement:
    """A Core statement compiled once for a dialect and run at the driver level.

    For the send loop's per-message writes only: compiling and executing through the ORM or
    Core costs more than the database itself (``bench/fanout.py``). Values still go through each
    column type's bind processing, so SQLite and PostgreSQL get what they expect.
    """

    def __init__(self, statement: Any, dialect: Dialect):
        self.compiled = statement.compile(dialect=dialect)
        self.sql = str(self.compiled)
        self.positions = self.compiled.positiontup
        self.processors = {
            name: processor
            for bind, name in self.compiled.bind_names.items()
            if (processor := bind.type.bind_processor(dialect)) is not None
        }
        # The values the statement carries itself (a status, say), processed on first use: the
        # same for every message, so only the caller's ``values`` are processed after that.
        self._fixed: dict[str, Any] | None = None

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``values`` as the driver takes them for this statement."""
        if self._fixed is None:
            constructed = self.compiled.construct_params(values)
            self._fixed = {
                name: self.processors[name](value) if name in self.processors else value
                for name, value in constructed.items()
                if name not in values
            }
        params = dict(self._fixed)
        for name, value in values.items():
            processor = self.processors.get(name)
            params[name] = value if processor is None else processor(value)
        if self.positions is not None:
            return tuple(params[name] for name in self.positions)
        return params


@lru_cache(maxsize=8)
def _driver_statement(dialect: Dialect) -> DriverStatement:
    return DriverStatement(_RECORD_ATTEMPT, dialect)


@lru_cache(maxsize=1)
def _postgresql_statement() -> DriverStatement:
    # Numbered parameters ($1, $2...), as libpq takes them: the mark goes to libpq itself.
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    return DriverStatement(_RECORD_ATTEMPT, PGDialect_psycopg(paramstyle="numeric_dollar"))


# The mark, prepared once per ledger connection (``ledger_opened``), dropped by ``ledger_closing``.
_PREPARED_MARK = "registry_mark_sent"


def _as_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format (the column says its type)."""
    if value is None:
        return None
    return (value.isoformat() if isinstance(value, datetime) else str(value)).encode()


class SentMarks:
    """The send loop's one write per message: the server accepted it, so its sent attempt is
    recorded, in a transaction of its own. ``start`` begins it, ``wait`` returns once it is
    committed (and raises what it raised); the sender waits before the next message's content
    is ended, so an application crash repeats at most one message. The attempt is the record:
    the notification rows of a batch are marked sent together at its end (``settle_sent``),
    and those of a sender that stopped before that, by the sender that claims them next
    (``accepted_before``).
    One insertion per message, not an update of the outbox as well: a row's update rewrites an
    entry in each of its indexes. Measured on an outbox of 20,000: PostgreSQL's backend spent
    109 µs of CPU per message on both, 90 µs on the attempt and its share of the batch's
    update; SQLite held the write lock 130 µs per message for both, 65 µs now.

    It is paid as cheaply as that allows:

    - PostgreSQL: one prepared statement sent through libpq's asynchronous calls on the
      ledger's own connection: ``start`` sends it and returns, the server runs it (its own
      transaction: a statement outside any is one) while the sender exchanges the next
      message's envelope and content, and ``wait`` reads its result. One round trip that
      overlaps the SMTP server's, in the sending thread: a thread of its own for the ledger
      cost the sender more in handing over the interpreter than the round trip
      (``bench/fanout.py``). The connection's commits do not wait for the disk
      (``synchronous_commit = off``, set by ``ledger_opened`` for its session only): the commit
      is in the server once it answers, so no crash of ours can lose it; a crash of the
      database server itself may lose the last fraction of a second of them (never corrupt
      anything), and those messages go out again after their lease, under the same Message-ID.
    - SQLite: a library in this process, with no round trip to overlap: ``start`` does it all
      (BEGIN IMMEDIATE, the insertion, COMMIT). WAL with ``synchronous=NORMAL``
      (``registry.database``) makes a commit a write to the log without an fsync: the same
      trade, made for the whole database.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        driver = connection.connection.driver_connection
        assert driver is not None
        self._driver = driver
        postgresql = connection.dialect.name == "postgresql"
        self._pgconn = driver.pgconn if postgresql else None
        # Whether ``start`` returns before the mark is committed.
        self.overlaps = postgresql
        self._pending = False

    def start(self, notification_id: int, *, now: datetime) -> None:
        """Begin recording that ``notification_id``'s message was accepted at ``now``; ``wait``
        for the previous one first."""
        self.wait()
        attempt = {
            "notification_id": notification_id,
            "now": now,
            "outcome": AttemptOutcome.SENT,
            "error": None,
        }
        if self._pgconn is None:
            _record_sent_sqlite(self._driver, self.connection.dialect, attempt)
            return
        parameters = cast(tuple[Any, ...], _postgresql_statement().parameters(attempt))
        self._pgconn.send_query_prepared(_PREPARED_MARK.encode(), [_as_text(value) for value in parameters])
        self._pending = True
        while self._pgconn.flush():  # a non-blocking connection: the rest once the socket takes it
            readable, _, _ = wait_for_socket([self._pgconn.socket], [self._pgconn.socket], [])
            if readable:
                self._pgconn.consume_input()

    def done(self) -> bool:
        """Whether ``wait`` would return at once (it reads what has come, waits for nothing)."""
        if not self._pending:
            return True
        assert self._pgconn is not None
        self._pgconn.consume_input()
        return not self._pgconn.is_busy()

    def wait(self) -> None:
        """Return once the mark started last is committed; raise what it raised."""
        if not self._pending:
            return
        self._pending = False
        pgconn = self._pgconn
        assert pgconn is not None
        pgconn.consume_input()
        while pgconn.is_busy():
            wait_for_socket([pgconn.socket], [], [])  # the interpreter is free for other threads
            pgconn.consume_input()
        from psycopg import errors, pq  # only PostgreSQL's ledger needs it

        failure = None
        while (result := pgconn.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK and failure is None:
                failure = errors.error_from_result(result, encoding=self._driver.info.encoding)
        if failure is not None:
            raise failure


def _record_sent_sqlite(driver: Any, dialect: Dialect, attempt: dict[str, Any]) -> None:
    record = _driver_statement(dialect)
    cursor = driver.cursor()
    try:
        # The driver runs in autocommit mode here (registry.database): begin ourselves.
        _begin_immediate(cursor)
        cursor.execute(record.sql, record.parameters(attempt))
        cursor.execute("COMMIT")
    except BaseException:
        if driver.in_transaction:  # not if BEGIN itself failed
            cursor.execute("ROLLBACK")
        raise
    finally:
        cursor.close()


# SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries for the write lock, while
# another sender's mark holds it for a tenth of that: two senders would spend their time asleep
# (``bench/fanout.py``, two senders). The ledger's marks try again after much shorter naps.
_FIRST_NAP, _LONGEST_NAP = 20e-6, 1e-3


def _begin_immediate(cursor: Any) -> None:
    """BEGIN IMMEDIATE on the ledger's SQLite connection (its busy timeout is 0, see
    ``ledger_opened``), trying again after short naps for up to ``SQLITE_BUSY_TIMEOUT``."""
    nap, deadline = _FIRST_NAP, None
    while True:
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + current_app.config["SQLITE_BUSY_TIMEOUT"]
            if now >= deadline:
                raise
            time.sleep(nap)
            nap = min(nap * 2, _LONGEST_NAP)


def _sqlite_busy_timeout(connection: Connection, milliseconds: int) -> None:
    # On the driver itself: SQLAlchemy would begin a transaction to run it.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA busy_timeout={milliseconds:d}")


def ledger_opened(connection: Connection) -> None:
    """Make ``connection`` the send loop's ledger: on PostgreSQL, its commits stop waiting for
    the disk (``synchronous_commit = off``, for this session only; see ``SentMarks``); on
    SQLite, its marks wait for the write lock by ``_begin_immediate``'s short naps, not SQLite's
    long ones (busy timeout 0, but for ``ledger_write``)."""
    if connection.dialect.name == "postgresql":
        with connection.begin():
            connection.exec_driver_sql("SET synchronous_commit = off")
            connection.exec_driver_sql(f"PREPARE {_PREPARED_MARK} AS {_postgresql_statement().sql}")
    elif connection.dialect.name == "sqlite":
        _sqlite_busy_timeout(connection, 0)


@contextmanager
def ledger_write(connection: Connection) -> Iterator[None]:
    """Around one of the ledger's other writes (a failure, a give-back): these are rare, and
    wait for the lock as every other write does (SQLite's busy timeout, for the time of it)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    _sqlite_busy_timeout(connection, sqlite_busy_timeout_ms(current_app))
    try:
        yield
    finally:
        _sqlite_busy_timeout(connection, 0)


def ledger_closing(connection: Connection) -> None:
    """Undo ``ledger_opened`` before the connection goes back to the pool; one that cannot be
    reset is not reused."""
    if connection.invalidated or connection.dialect.name not in ("postgresql", "sqlite"):
        return
    try:
        if connection.dialect.name == "sqlite":
            _sqlite_busy_timeout(connection, sqlite_busy_timeout_ms(current_app))
            return
        with connection.begin():
            connection.exec_driver_sql("RESET synchronous_commit")
            connection.exec_driver_sql(f"DEALLOCATE {_PREPARED_MARK}")
    except Exception:
        connection.invalidate()
        raise


def retry_delay(attempts: int, first: float, cap: float) -> float:
    """Exponential backoff with full jitter (``leases.backoff``)."""
    return leases.backoff(attempts, first, cap)


def mark_failed(
    db: Executor, notification_id: int, error: str, *, worker: str, now: datetime, permanent: bool
) -> NotificationStatus:
    """Record a failed attempt: retry later, or give up (dead) when permanent or too old."""
    error = recorded_error(error)
    config = current_app.config
    row = db.execute(
        select(Notification.attempts, Notification.created_at, Notification.retry_since).where(
            _held_by(worker, notification_id)
        )
    ).one_or_none()
    if row is None:  # our lease ran out and another sender has it now
        return NotificationStatus.SENDING
    attempts = row.attempts + 1
    delay = retry_delay(attempts, config["RETRY_FIRST_DELAY_SECONDS"], config["RETRY_MAX_DELAY_SECONDS"])
    next_attempt = now + timedelta(seconds=delay)
    since = row.retry_since or row.created_at
    expired = next_attempt - since > timedelta(seconds=config["RETRY_FOR_SECONDS"])
    status = NotificationStatus.DEAD if permanent or expired else NotificationStatus.RETRYING
    db.execute(
        update(Notification)
        .where(_held_by(worker, notification_id))
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt,
            lease_until=None,
            last_error=error,
        )
    )
    outcome = AttemptOutcome.PERMANENT if permanent else AttemptOutcome.TEMPORARY
    db.execute(
        _RECORD_ATTEMPT,
        {"notification_id": notification_id, "now": now, "outcome": outcome, "error": error},
    )
    return status


def mark_bouncing(db: Executor, subscriber_id: int, error: str, *, now: datetime) -> bool:
    """A permanent refusal: stop writing to the address until it is confirmed again."""
    error = recorded_error(error)
    changed = db.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status != SubscriberStatus.BOUNCING)
        .values(status=SubscriberStatus.BOUNCING, bounced_at=now, bounce_reason=error)
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        outbox.cancel_pending(db, subscriber_id, reason="the address bounces")
    return bool(changed)


def release(db: Executor, notification_ids: list[int], *, worker: str) -> None:
    """Give back claimed rows that were not tried, due at once for the next sender."""
    leases.release(db, Notification, notification_ids, worker=worker, states=NotificationStatus)


def cancel(db: Executor, notification_id: int, reason: str, *, worker: str) -> None:
    """Nobody to send it to any more (the subscriber left or bounces)."""
    leases.cancel(db, Notification, notification_id, reason, worker=worker, states=NotificationStatus)


def classify(error: Exception) -> Exception:
    """Temporary or Permanent, from what smtplib or the network raised."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        text = f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        return Permanent(text) if 500 <= code < 600 else Temporary(text)
    if isinstance(error, smtplib.SMTPResponseException):
        said = error.smtp_error
        text = f"{error.smtp_code} {said.decode(errors='replace') if isinstance(said, bytes) else said}"
        # A 5xx to the sender or the data says nothing about the recipient's address.
        return Temporary(text)
    return Temporary(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
