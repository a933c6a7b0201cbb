"""Webhook delivery across real processes: a sender killed with a post in flight, and two
senders at once."""

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
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme, register
from tests.webhooks.receiver import Receiver

FLASK = str(Path(sys.executable).with_name("flask"))


def _environment(db_url: str, **settings: object) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        FLASK_SECRET_KEY="process-test",
        FLASK_SQLALCHEMY_DATABASE_URI=db_url,
        FLASK_PUBLIC_BASE_URL="https://registry.example",
        FLASK_WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
        FLASK_WEBHOOK_READ_TIMEOUT="5",
    )
    env.update({f"FLASK_{name}": str(value) for name, value in settings.items()})
    return env


def _flask(tmp_path: Path, command: str, env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    instance = tmp_path / "instance"
    with (tmp_path / log_name).open("wb") as log:
        return subprocess.Popen(
            [FLASK, "--app", f"registry:create_app(instance_path={str(instance)!r})", command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _sent(app: Flask) -> int:
    with app.app_context():
        query = select(func.count()).where(WebhookDelivery.status == WebhookDeliveryStatus.SENT)
        return db.session.scalar(query) or 0


def _endpoints(app: Flask, receiver: Receiver, count: int) -> None:
    """``count`` endpoints on one receiver (one secret each would do as well; one is simpler)."""
    _, receiver.secret = register(app, receiver.url)
    from registry.webhooks.models import WebhookEndpoint

    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, 1)
        assert endpoint is not None
        secret = endpoint.secret
    for index in range(count - 1):
        endpoint_id, _ = register(app, f"{receiver.url}?n={index}")
        with app.app_context():
            other = db.session.get(WebhookEndpoint, endpoint_id)
            assert other is not None
            other.secret = secret
            db.session.commit()


def test_a_sender_killed_with_a_post_in_flight_loses_nothing(
    app: Flask, published: Registry, receiver: Receiver, db_url: str, tmp_path: Path
) -> None:
    _endpoints(app, receiver, 12)
    announce_acme(published)
    receiver.plan = ["ok"] * 5 + ["hold"]  # the sixth post gets no answer: the sender is killed
    env = _environment(db_url, WEBHOOK_BATCH_SIZE=4, WEBHOOK_LEASE_SECONDS=2)
    sender = _flask(tmp_path, "run-jobs", env, "first.log")
    try:
        assert receiver.holding.wait(30), (tmp_path / "first.log").read_text()
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    receiver.released.set()
    assert _sent(app) == 5

    time.sleep(2.5)  # the dead sender's lease runs out
    restarted = _flask(tmp_path, "run-jobs", env, "second.log")
    assert restarted.wait(60) == 0, (tmp_path / "second.log").read_text()

    with app.app_context():
        ids = set(db.session.scalars(select(WebhookDelivery.message_id)))
    received = Counter(receiver.ids())
    assert set(received) == ids and len(ids) == 12
    repeated = [message_id for message_id, count in received.items() if count > 1]
    assert repeated == [receiver.received[5].message_id] and received[repeated[0]] == 2
    assert all(r.verified for r in receiver.received)
    assert _sent(app) == 12


def test_two_senders_at_once_post_each_delivery_once(
    app: Flask, published: Registry, receiver: Receiver, db_url: str, tmp_path: Path
) -> None:
    _endpoints(app, receiver, 40)
    announce_acme(published)
    receiver.delay = 0.05  # slow enough that both senders find work
    env = _environment(db_url, WEBHOOK_BATCH_SIZE=3, WEBHOOK_DELIVER_EVERY_SECONDS=1)
    senders = [_flask(tmp_path, "scheduler", env, f"scheduler{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while _sent(app) < 40 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # both keep running: a late duplicate would show now
    finally:
        for process in senders:
            process.send_signal(signal.SIGINT)
        for process in senders:
            process.wait(20)
    logs = "".join((tmp_path / f"scheduler{i}.log").read_text() for i in range(2))
    with app.app_context():
        ids = set(db.session.scalars(select(WebhookDelivery.message_id)))
        workers = db.session.scalars(select(WebhookDelivery.claimed_by)).all()
    assert Counter(receiver.ids()) == Counter(ids), logs
    assert _sent(app) == 40
    processes = {worker.split(":")[1] for worker in workers if worker}
    assert processes == {str(process.pid) for process in senders}, "both senders took part"
