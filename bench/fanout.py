"""Benchmark: one notice fanned out to many subscribers and delivered over SMTP.

Goals (issue: subscriptions and notifications): the sender reaches at least 0.7 of the messages
per second of a plain ``smtplib`` loop sending the same number of messages over one connection
(the limit for one Python sender), with peak memory flat in the number of subscribers, and the
outbox for 100,000 subscribers written in a few seconds. Exits 0 whether or not the goals are met
(it is a measurement), non-zero only when it could not measure (messages missing, a failed step).

What it does, on loopback and in a temporary folder, with SQLite:
1. migrate a database, publish a list, insert N confirmed subscribers in bulk;
2. announce a change through the real workflow and time its transaction (the fan-out);
3. start an SMTP sink (``bench/smtp_sink.py``, its own process) and time the baseline: a plain
   ``smtplib`` loop sending N messages of the same size over one connection;
4. restart the sink and time ``flask run-jobs`` (the real sender, its own process) delivering
   the outbox; its peak memory comes from the kernel (``wait4``);
5. make the same outbox due again and time two ``flask run-jobs`` processes delivering it
   together (leases share the work): how delivery scales with senders;
6. repeat 1, 2 and 4 with N/10 subscribers: peak memory at both sizes shows whether it is flat.
"""

from __future__ import annotations

import argparse
import os
import secrets
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 0.7
FANOUT_GOAL_SECONDS = 5.0


class BenchError(RuntimeError):
    """The bench could not measure; the figures would mean nothing."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Sink:
    port: int
    process: subprocess.Popen[str]

    @classmethod
    def start(cls) -> Sink:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise BenchError("the SMTP sink did not start")
        return cls(port, process)

    def stop(self) -> tuple[int, int]:
        """Stop and return (messages, distinct recipients) received."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        messages, recipients = out.split()
        return int(messages), int(recipients)


def environment(folder: Path, port: int = 25) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        FLASK_SECRET_KEY=secrets.token_hex(16),
        FLASK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'bench.sqlite'}",
        FLASK_PUBLIC_BASE_URL="https://registry.example",
        FLASK_MAIL_SERVER="127.0.0.1",
        FLASK_MAIL_PORT=str(port),
    )
    return env


def flask(folder: Path, env: dict[str, str], command: str, processes: int = 1) -> tuple[float, int]:
    """Run a flask command in ``processes`` processes at once; (seconds until all are done, the
    largest peak resident memory of one of them in KiB)."""
    factory = f"registry:create_app(instance_path={str(folder / 'instance')!r})"
    flask_bin = Path(sys.executable).with_name("flask")
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [str(flask_bin), "--app", factory, command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(processes)
    ]
    peak = 0
    for process in running:
        _, status, usage = os.wait4(process.pid, 0)
        output = process.stdout.read().decode() if process.stdout else ""
        if status != 0:
            raise BenchError(f"flask {command} failed:\n{output}")
        peak = max(peak, usage.ru_maxrss)
    return time.perf_counter() - started, peak


def requeue(folder: Path) -> None:
    """Make the delivered outbox due again, to deliver the same notice once more."""
    with closing(sqlite3.connect(folder / "bench.sqlite")) as connection, connection:
        connection.execute("DELETE FROM delivery_attempts")
        connection.execute(
            "UPDATE notifications SET status = 'queued', sent_at = NULL, attempts = 0, "
            "lease_until = NULL, claimed_by = NULL"
        )


def prepare(folder: Path, subscribers: int) -> tuple[dict[str, str], float]:
    """A migrated database with a list and ``subscribers`` confirmed subscribers; then announce a
    change and return the seconds its transaction (with the fan-out) took."""
    env = environment(folder)
    flask(folder, env, "init-db")
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLASK_")})
    from sqlalchemy import insert

    from registry import create_app
    from registry.extensions import db
    from registry.lists import services, workflow
    from registry.lists.models import ChangeAction
    from registry.subscriptions.models import Subscriber, Subscription
    from registry.timeutil import utcnow

    app = create_app(instance_path=str(folder / "instance"))
    with app.app_context():
        now = utcnow()
        register_list = services.create_list(
            db.session, slug="sub-processors", title="Sub-processors", now=now
        )
        entry = {
            "name": "Northwind Cloud",
            "legal_entity": "Northwind Cloud Ltd",
            "purpose": "Hosting of the application servers and databases.",
            "data_categories": ["Account data", "Customer content"],
            "locations": ["DE", "IE"],
            "corporate_location": "IE",
            "transfer_mechanisms": ["none"],
            "kind": "subprocessor",
            "website": "https://northwind.example",
        }
        change = workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=entry, now=now)
        workflow.publish_first_version(db.session, register_list, [change], reason="Initial list.", now=now)
        db.session.commit()
        chunk = 10_000
        for start in range(0, subscribers, chunk):
            rows = [
                {
                    "email": f"customer{i:06}@example.org",
                    "status": "confirmed",
                    "token_key": secrets.token_urlsafe(12),
                    "confirmations": 1,
                    "created_at": now,
                    "requested_at": now,
                    "confirmed_at": now,
                }
                for i in range(start, min(start + chunk, subscribers))
            ]
            ids = db.session.scalars(insert(Subscriber).returning(Subscriber.id), rows).all()
            db.session.execute(
                insert(Subscription),
                [{"subscriber_id": i, "list_id": register_list.id, "frequency": "each", "created_at": now}
                 for i in ids],
            )  # fmt: skip
            db.session.commit()
        added = dict(entry, name="Acme Analytics", locations=["US"], transfer_mechanisms=["scc"])
        change = workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=added, now=now)
        started = time.perf_counter()
        workflow.announce(
            db.session,
            register_list,
            [change],
            reason="We add product analytics.",
            effective_at=now + timedelta(days=40),
            now=now,
        )
        db.session.commit()
        fanout = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return env, fanout


def sample_message(size: int) -> bytes:
    text = ("The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:size]
    body = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    return (
        "From: Example Cloud Ltd <privacy@example.com>\r\nTo: {to}\r\n"
        "Subject: New sub-processor: Acme Analytics (United States), effective 2027-02-19\r\n"
        f"Message-ID: <bench@registry.example>\r\n\r\n{body}\r\n"
    ).encode()


def baseline(count: int, size: int) -> float:
    """Seconds for a plain smtplib loop to send ``count`` messages over one connection."""
    sink = Sink.start()
    template = sample_message(size)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as connection:
        for i in range(count):
            to = f"customer{i:06}@example.org"
            connection.sendmail("privacy@example.com", [to], template.replace(b"{to}", to.encode()))
    elapsed = time.perf_counter() - started
    received, _ = sink.stop()
    if received != count:
        raise BenchError(f"baseline: the sink received {received} of {count} messages")
    return elapsed


def deliver(folder: Path, env: dict[str, str], count: int, senders: int = 1) -> tuple[float, int]:
    """Seconds and peak KiB for ``flask run-jobs`` (in ``senders`` processes at once) to deliver
    the outbox of ``count`` messages."""
    sink = Sink.start()
    env = dict(env, FLASK_MAIL_PORT=str(sink.port))
    elapsed, peak = flask(folder, env, "run-jobs", senders)
    received, recipients = sink.stop()
    if received != count or recipients != count:
        raise BenchError(f"sender: the sink received {received} messages for {recipients} of {count}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    count = args.subscribers
    small = max(count // 10, 1)
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        folder = Path(tmp)
        print(f"Fan-out and delivery of one notice to {count:,} subscribers (SQLite, loopback SMTP sink)")
        (folder / "big").mkdir()
        env, fanout = prepare(folder / "big", count)
        print(f"  outbox written (announce + fan-out, one transaction): {fanout:.2f} s")
        size = message_size(folder / "big", env)
        base_seconds = baseline(count, size)
        ours_seconds, ours_peak = deliver(folder / "big", env, count)
        requeue(folder / "big")
        two_seconds, _ = deliver(folder / "big", env, count, senders=2)
        (folder / "small").mkdir()
        small_env, _ = prepare(folder / "small", small)
        _, small_peak = deliver(folder / "small", small_env, small)

    base_rate, ours_rate = count / base_seconds, count / ours_seconds
    ratio = ours_rate / base_rate
    print(f"  message size: {size} bytes")
    print(f"  baseline (plain smtplib loop, one connection): {base_rate:8.0f} messages/s")
    print(f"  sender (flask run-jobs, outbox with leases):   {ours_rate:8.0f} messages/s")
    verdict = "met" if ratio >= RATIO_GOAL else "NOT met"
    print(f"  ratio: {ratio:.2f} (goal >= {RATIO_GOAL}: {verdict})")
    two_rate = count / two_seconds
    print(f"  two senders at once (two flask run-jobs, same outbox): {two_rate:8.0f} messages/s, "
          f"ratio {two_rate / base_rate:.2f}")  # fmt: skip
    growth = ours_peak / small_peak
    print(f"  sender peak memory: {small_peak / 1024:.0f} MiB for {small:,}, {ours_peak / 1024:.0f} MiB for {count:,} "
          f"(x{growth:.2f} for x{count // small} subscribers)")  # fmt: skip
    verdict = "met" if fanout <= FANOUT_GOAL_SECONDS else "NOT met"
    print(f"  fan-out: {fanout:.2f} s for {count:,} (goal <= {FANOUT_GOAL_SECONDS:.0f} s: {verdict})")


def message_size(folder: Path, env: dict[str, str]) -> int:
    """Bytes of one real notification: rendered by the app, so the baseline sends the same size."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLASK_")})
    from sqlalchemy import select

    from registry import create_app
    from registry.extensions import db
    from registry.notifications.emails import Composer
    from registry.notifications.models import Notification

    app = create_app(instance_path=str(folder / "instance"))
    with app.app_context():
        notification = db.session.scalars(select(Notification).limit(1)).one()
        composer = Composer(db.session)
        recipient = composer.recipient(notification)
        assert recipient is not None
        size = len(composer.compose(notification, recipient).as_bytes())
        db.session.remove()
        db.engine.dispose()
    return size


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        sys.exit(1)
