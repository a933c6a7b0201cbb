"""Benchmark: one notice fanned out to many subscribers and delivered over SMTP.

Goals: one sender reaches at least 0.7 of the messages per second of a plain ``smtplib`` loop
sending the same number of pre-built messages over one connection to the same server (the limit
for one Python sender), on SQLite and on PostgreSQL, at 10,000 and 100,000 subscribers; two
senders at once reach at least 1.6 times one sender's rate; peak memory is flat in the number of
subscribers; the outbox for 100,000 subscribers is written in a few seconds. Exits 0 whether or
not the goals are met (it is a measurement), non-zero only when it could not measure (messages
missing, a failed step).

The SMTP server is Postfix's ``smtp-sink`` (``bin/ensure-smtp-sink`` installs it), written in C:
it accepts mail faster than any Python client sends it, so the figures are the sender's. Where it
cannot be had, a Python sink (``bench/smtp_sink.py``) stands in, with a warning: on a small
machine it is the bottleneck of the baseline and the sender alike, and the ratios flatter us.

What it does, on loopback, in a temporary folder (and, with ``--database postgresql``, in a
throwaway database at 127.0.0.1:5432, created and dropped here):
1. migrate a database, publish a list, insert N confirmed subscribers in bulk;
2. announce a change through the real workflow and time its transaction (the fan-out);
3. time the baseline: a plain ``smtplib`` loop sending N messages of the same size over one
   connection;
4. time ``flask run-jobs`` (the real sender, its own process) delivering the outbox; its peak
   memory comes from the kernel (``wait4``);
5. make the same outbox due again, time the baseline in two processes at once, and two
   ``flask run-jobs`` processes delivering the outbox together: how delivery scales;
6. steps 3 to 5 again, ``--rounds`` times in all (3), interleaved: the median of each figure is
   reported, with its range (a shared machine changes speed from one minute to the next);
7. all of it at N/10 subscribers first (10,000 by default), then at N: the ratios at both
   sizes, and the sender's peak memory at both, which shows whether it is flat.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 0.7
SCALING_GOAL = 1.6
FANOUT_GOAL_SECONDS = 5.0
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class BenchError(RuntimeError):
    """The bench could not measure; the figures would mean nothing."""


# CPU seconds (user + system, from the kernel) of the processes the last ``flask`` or
# ``baseline`` call ran: a figure that the machine's other load changes far less than the rates.
LAST_CPU = [0.0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_sink_binary() -> str | None:
    """Postfix's smtp-sink, installed by ``bin/ensure-smtp-sink`` if need be; None if impossible."""
    found = shutil.which("smtp-sink") or (
        "/usr/sbin/smtp-sink" if os.access("/usr/sbin/smtp-sink", os.X_OK) else None
    )
    if found:
        return found
    script = ROOT / "bin" / "ensure-smtp-sink"
    result = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    path = result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else []
    return path[0] if path and os.access(path[0], os.X_OK) else None


@dataclass
class Sink:
    """An SMTP server on loopback that only counts messages: Postfix's smtp-sink, or ours."""

    port: int
    process: subprocess.Popen[bytes]
    output: Path | None = None  # smtp-sink's running counters

    @classmethod
    def start(cls, binary: str | None, folder: Path) -> Sink:
        port = free_port()
        if binary is None:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(port)], stdout=subprocess.PIPE
            )
            assert process.stdout is not None
            if process.stdout.readline().strip() != b"ready":
                raise BenchError("the SMTP sink did not start")
            return cls(port, process)
        output = folder / f"smtp-sink-{port}.out"
        with output.open("wb") as file:
            # -c: counters on stdout; -u: the user to run as when started as root; 1000: backlog.
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            process = subprocess.Popen([binary, "-c", *user, f"127.0.0.1:{port}", "1000"], stdout=file)
        for _ in range(200):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise BenchError("smtp-sink did not start")
        return cls(port, process, output)

    def stop(self) -> int:
        """Stop and return how many messages were received."""
        self.process.terminate()
        if self.output is None:
            out, _ = self.process.communicate(timeout=30)
            return int(out.split()[0])
        self.process.wait(timeout=30)
        counters = re.findall(rb"mesg=(\d+)", self.output.read_bytes())
        self.output.unlink()
        return int(counters[-1]) if counters else 0


@dataclass
class Database:
    """Where the bench's registry lives: an SQLite file, or a PostgreSQL database of its own."""

    kind: str
    url: str

    @classmethod
    @contextmanager
    def create(cls, kind: str, folder: Path, name: str) -> Iterator[Database]:
        if kind == "sqlite":
            yield cls(kind, f"sqlite:///{folder / 'bench.sqlite'}")
            return
        from sqlalchemy import create_engine, make_url, text

        admin_url = make_url(POSTGRES_ADMIN_URL)
        database = f"registry_bench_{name}_{os.getpid()}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{database}"'))
        except Exception as error:
            admin.dispose()
            raise BenchError(
                f"PostgreSQL not reachable at {admin_url.render_as_string()}: {error}"
            ) from error
        try:
            yield cls(kind, admin_url.set(database=database).render_as_string(hide_password=False))
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()

    def execute(self, *statements: str) -> list[int]:
        """Run ``statements`` in one transaction; the first column of each one's first row."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.begin() as connection:
                results = []
                for statement in statements:
                    result = connection.execute(text(statement))
                    results.append(result.scalar() if result.returns_rows else result.rowcount)
                return results
        finally:
            engine.dispose()

    def requeue(self) -> None:
        """Make the delivered outbox due again, to deliver the same notice once more; on
        PostgreSQL vacuumed after, as autovacuum would soon do after an update of every row (the
        next round would otherwise read through the dead versions of the round before)."""
        self.execute(
            "DELETE FROM delivery_attempts",
            "UPDATE notifications SET status = 'queued', sent_at = NULL, attempts = 0, "
            "lease_until = NULL, claimed_by = NULL",
        )
        if self.kind == "postgresql":
            from sqlalchemy import create_engine

            engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE notifications, delivery_attempts")
            finally:
                engine.dispose()

    def sent(self) -> int:
        return self.execute("SELECT count(*) FROM notifications WHERE status = 'sent'")[0]


def environment(folder: Path, database: Database, port: int = 25) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        FLASK_SECRET_KEY=secrets.token_hex(16),
        FLASK_SQLALCHEMY_DATABASE_URI=database.url,
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
    peak, LAST_CPU[0] = 0, 0.0
    for process in running:
        _, status, usage = os.wait4(process.pid, 0)
        output = process.stdout.read().decode() if process.stdout else ""
        if status != 0:
            raise BenchError(f"flask {command} failed:\n{output}")
        peak = max(peak, usage.ru_maxrss)
        LAST_CPU[0] += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, peak


def prepare(folder: Path, database: Database, subscribers: int) -> tuple[dict[str, str], float]:
    """A migrated database with a list and ``subscribers`` confirmed subscribers; then announce a
    change and return the seconds its transaction (with the fan-out) took."""
    env = environment(folder, database)
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


def _plain_loop(port: int, first: int, count: int, size: int) -> None:
    template = sample_message(size)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
        for i in range(first, first + count):
            to = f"customer{i:06}@example.org"
            connection.sendmail("privacy@example.com", [to], template.replace(b"{to}", to.encode()))


def baseline(sink_binary: str | None, folder: Path, count: int, size: int, loops: int = 1) -> float:
    """Seconds for ``loops`` plain smtplib loops (each its own process, at once) to send ``count``
    messages between them, each over one connection."""
    sink = Sink.start(sink_binary, folder)
    share = count // loops
    code = "import sys; sys.path.insert(0, sys.argv[1]); from fanout import _plain_loop; _plain_loop(*map(int, sys.argv[2:]))"
    started = time.perf_counter()
    running = []
    for n in range(loops):
        first, share_of_n = n * share, share if n < loops - 1 else count - n * share
        arguments = [str(ROOT / "bench"), str(sink.port), str(first), str(share_of_n), str(size)]
        running.append(subprocess.Popen([sys.executable, "-c", code, *arguments]))
    LAST_CPU[0] = 0.0
    for process in running:
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise BenchError("a baseline loop failed")
        LAST_CPU[0] += usage.ru_utime + usage.ru_stime
    elapsed = time.perf_counter() - started
    received = sink.stop()
    if received != count:
        raise BenchError(f"baseline: the sink received {received} of {count} messages")
    return elapsed


def deliver(
    sink_binary: str | None,
    folder: Path,
    database: Database,
    env: dict[str, str],
    count: int,
    senders: int = 1,
) -> tuple[float, int]:
    """Seconds and peak KiB for ``flask run-jobs`` (in ``senders`` processes at once) to deliver
    the outbox of ``count`` messages."""
    sink = Sink.start(sink_binary, folder)
    env = dict(env, FLASK_MAIL_PORT=str(sink.port))
    elapsed, peak = flask(folder, env, "run-jobs", senders)
    received = sink.stop()
    sent = database.sent()
    if received != count or sent != count:
        raise BenchError(f"sender: the sink received {received} messages, {sent} of {count} marked sent")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--python-sink", action="store_true", help="use bench/smtp_sink.py, not smtp-sink")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size (median reported)")
    args = parser.parse_args()
    count = args.subscribers
    small = max(count // 10, 1)
    sink_binary = None if args.python_sink else smtp_sink_binary()
    sink_name = "Postfix smtp-sink" if sink_binary else "Python sink"
    if sink_binary is None and not args.python_sink:
        warnings.warn(
            "Postfix's smtp-sink could not be installed: the Python sink stands in, and on a small "
            "machine it caps the baseline and the sender alike (the ratios flatter the sender)",
            stacklevel=1,
        )
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        folder = Path(tmp)
        print(
            f"Fan-out and delivery of one notice to {small:,} and {count:,} subscribers "
            f"({args.database}, loopback {sink_name})"
        )
        figures = [measure(sink_binary, folder, args.database, n, args.rounds) for n in (small, count)]
    for size in figures:
        report(size)
    growth = figures[1].peak / figures[0].peak
    print(f"  sender peak memory: {figures[0].peak / 1024:.0f} MiB for {small:,}, "
          f"{figures[1].peak / 1024:.0f} MiB for {count:,} (x{growth:.2f} for x{count // small} subscribers)")  # fmt: skip
    fanout = figures[1].fanout
    verdict = "met" if fanout <= FANOUT_GOAL_SECONDS else "NOT met"
    print(f"  fan-out: {fanout:.2f} s for {count:,} (goal <= {FANOUT_GOAL_SECONDS:.0f} s: {verdict})")


@dataclass
class Round:
    """One round's seconds: the baseline and the sender alone, then two of each at once."""

    base: float
    base_cpu: float
    ours: float
    ours_cpu: float
    base_two: float
    two: float


@dataclass
class Figures:
    """One size's measurements: a round per ``--rounds``, interleaved (baseline, sender, two
    baselines, two senders, and again), so that a machine that changes speed meanwhile moves
    both sides of each ratio."""

    count: int
    size: int
    fanout: float
    peak: int
    rounds: list[Round]


def measure(sink_binary: str | None, folder: Path, kind: str, count: int, rounds: int) -> Figures:
    """Steps 1 to 5 of the docstring for ``count`` subscribers, in a database of their own."""
    here = folder / f"n{count}"
    here.mkdir()
    measured, peak = [], 0
    with Database.create(kind, here, f"n{count}") as database:
        env, fanout = prepare(here, database, count)
        size = message_size(here, env)
        for _ in range(rounds):
            base = baseline(sink_binary, folder, count, size)
            base_cpu = LAST_CPU[0]
            ours, ours_peak = deliver(sink_binary, folder, database, env, count)
            ours_cpu = LAST_CPU[0]
            peak = max(peak, ours_peak)
            database.requeue()
            base_two = baseline(sink_binary, folder, count, size, loops=2)
            two, _ = deliver(sink_binary, folder, database, env, count, senders=2)
            database.requeue()
            measured.append(Round(base, base_cpu, ours, ours_cpu, base_two, two))
    return Figures(count, size, fanout, peak, measured)


def _median_range(values: list[float], spec: str) -> str:
    """The median, and the range when there is more than one value."""
    text = format(statistics.median(values), spec)
    if len(values) > 1:
        text += f" ({format(min(values), spec)}-{format(max(values), spec)})"
    return text


def report(figures: Figures) -> None:
    count, rounds = figures.count, figures.rounds
    print(f"  {count:,} subscribers (message size: {figures.size} bytes; outbox written in "
          f"{figures.fanout:.2f} s; median of {len(rounds)} rounds, range in brackets)")  # fmt: skip
    base = [count / r.base for r in rounds]
    ours = [count / r.ours for r in rounds]
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    print(f"    baseline (plain smtplib loop, one connection): {_median_range(base, '.0f')} messages/s")
    print(f"    sender (flask run-jobs, outbox with leases):   {_median_range(ours, '.0f')} messages/s")
    verdict = "met" if statistics.median(ratios) >= RATIO_GOAL else "NOT met"
    print(f"    ratio: {_median_range(ratios, '.2f')} (goal >= {RATIO_GOAL}: {verdict})")
    base_cpu = [r.base_cpu / count * 1e6 for r in rounds]
    ours_cpu = [r.ours_cpu / count * 1e6 for r in rounds]
    print(f"    CPU per message (user + system): baseline {_median_range(base_cpu, '.0f')} µs, "
          f"sender {_median_range(ours_cpu, '.0f')} µs, start-up and every job of run-jobs included")  # fmt: skip
    base_two = [count / r.base_two for r in rounds]
    two = [count / r.two for r in rounds]
    scaling = [t / o for t, o in zip(two, ours, strict=True)]
    of_loops = [t / b for t, b in zip(two, base_two, strict=True)]
    print(f"    two plain loops at once (two processes):        {_median_range(base_two, '.0f')} messages/s")
    print(f"    two senders at once (two flask run-jobs):       {_median_range(two, '.0f')} messages/s, "
          f"ratio {_median_range(of_loops, '.2f')} of two loops")  # fmt: skip
    verdict = "met" if statistics.median(scaling) >= SCALING_GOAL else "NOT met"
    print(
        f"    two senders / one sender: x{_median_range(scaling, '.2f')} (goal >= x{SCALING_GOAL}: {verdict})"
    )


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
