"""Delivery across real processes: a sender killed mid-batch, and two schedulers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from registry.extensions import db
from registry.notifications.models import DeliveryAttempt, Notification, NotificationStatus
from registry.timeutil import utcnow
from tests.conftest import Registry
from tests.notifications.conftest import add_subscriber, announce_acme
from tests.smtp import SmtpServer

FLASK = str(Path(sys.executable).with_name("flask"))


def _environment(db_url: str, smtp: SmtpServer, **settings: object) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        FLASK_SECRET_KEY="process-test",
        FLASK_SQLALCHEMY_DATABASE_URI=db_url,
        FLASK_PUBLIC_BASE_URL="https://registry.example",
        FLASK_MAIL_SERVER="127.0.0.1",
        FLASK_MAIL_PORT=str(smtp.port),
        FLASK_MAIL_TIMEOUT="5",
    )
    env.update({f"FLASK_{name}": str(value) for name, value in settings.items()})
    return env


def _flask(tmp_path: Path, command: str, env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    instance = tmp_path / "instance"
    with (tmp_path / log_name).open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [FLASK, "--app", f"registry:create_app(instance_path={str(instance)!r})", command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _count(app: Flask, status: NotificationStatus) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Notification.status == status)) or 0


def _sent_attempts(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(DeliveryAttempt.outcome == "sent")) or 0


def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_at_most_the_message_in_flight(
    app: Flask, published: Registry, smtp: SmtpServer, db_url: str, tmp_path: Path
) -> None:
    now = utcnow()
    addresses = [f"customer{i:02}@example.org" for i in range(30)]
    for address in addresses:
        add_subscriber(app, address)
    announce_acme(published, now=now)
    # The 13th message reaches the server, which does not acknowledge it: the sender is killed
    # with that message in flight and the rest of its batch claimed.
    smtp.mailbox.hold_after = 12
    env = _environment(db_url, smtp, DELIVERY_BATCH_SIZE=10, DELIVERY_LEASE_SECONDS=2)
    sender = _flask(tmp_path, "run-jobs", env, "first.log")
    try:
        assert smtp.mailbox.holding.wait(30), (tmp_path / "first.log").read_text()
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    assert sender.returncode == -signal.SIGKILL
    smtp.mailbox.hold_after = None
    smtp.mailbox.released.set()
    # Each accepted message is recorded: its sent attempt (the rows of the unfinished batch are
    # marked sent by the next claim after their lease).
    assert _sent_attempts(app) == 12

    time.sleep(2.5)  # the dead sender's lease runs out
    restarted = _flask(tmp_path, "run-jobs", env, "second.log")
    assert restarted.wait(60) == 0, (tmp_path / "second.log").read_text()

    received = Counter(smtp.mailbox.recipients())
    assert set(received) == set(addresses)
    repeated = [address for address, count in received.items() if count > 1]
    assert len(repeated) == 1 and received[repeated[0]] == 2
    first, again = smtp.mailbox.to(repeated[0])
    assert first["Message-ID"] == again["Message-ID"]
    assert _count(app, NotificationStatus.SENT) == 30
    assert _sent_attempts(app) == 30  # the repeated one was in flight: its first acceptance never recorded


def test_two_schedulers_at_once_send_each_notification_once(
    app: Flask, published: Registry, smtp: SmtpServer, db_url: str, tmp_path: Path
) -> None:
    now = utcnow()
    addresses = [f"customer{i:03}@example.org" for i in range(120)]
    for address in addresses:
        add_subscriber(app, address)
    announce_acme(published, now=now)
    smtp.mailbox.delay = 0.02  # slow enough that both schedulers find work
    env = _environment(db_url, smtp, DELIVERY_BATCH_SIZE=7, DELIVER_EVERY_SECONDS=1)
    schedulers = [_flask(tmp_path, "scheduler", env, f"scheduler{i}.log") for i in range(2)]
    try:
        smtp.mailbox.wait_for(len(addresses), timeout=60)
        deadline = time.monotonic() + 30
        while _count(app, NotificationStatus.SENT) < len(addresses) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # both keep running: a late duplicate would show now
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGINT)
        for process in schedulers:
            process.wait(20)
    logs = "".join((tmp_path / f"scheduler{i}.log").read_text() for i in range(2))
    received = Counter(smtp.mailbox.recipients())
    assert received == Counter(addresses), logs
    assert _count(app, NotificationStatus.SENT) == len(addresses)
    with app.app_context():
        workers = db.session.scalars(select(Notification.claimed_by)).all()
    processes = {worker.split(":")[1] for worker in workers if worker}
    assert processes == {str(process.pid) for process in schedulers}, "both schedulers took part"
