"""Benchmark: the scheduled jobs cost time in proportion to their work, not to the subscribers.

Goal: the cost of one item of work is flat in the number of subscribers: the retention job
erasing 1,000 unsubscribed addresses, and the digest job bundling 1,000 weekly digests, take
the same time per item among 10,000 subscribers as among 100,000 (ratio near 1; it was 5 for
erasures, 7 for digests, when each erasure scanned every table). Exits 0 whether or not the
goal is met (it is a measurement), non-zero only when it could not measure.

What it does, at each size, in a temporary folder (and with ``--database postgresql`` in a
throwaway database at 127.0.0.1:5432, created and dropped here):
1. migrate, publish a list, insert N confirmed subscribers and announce a change to them all
   (N notifications, then marked sent, some with an error text quoting their address);
2. make 1,000 of them unsubscribed 40 days ago, and hold a notice for 1,000 others (weekly);
3. then, in ``--rounds`` rounds alternating the two sizes, on a fresh copy of that database
   each time (a file copy, or ``CREATE DATABASE ... TEMPLATE``): time the retention job erasing
   the 1,000 and the digest job bundling the 1,000 digests. The median of the rounds is
   reported, with each round's figures: a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import BenchError, Database, prepare  # noqa: E402

ITEMS = 1_000
FLAT_GOAL = 1.5  # the per-item cost at the larger size, at most this many times the smaller's
ROUNDS = 3  # measurements per size, interleaved; the median is reported


def populate(folder: Path, database: Database, subscribers: int) -> dict[str, str]:
    """Migrate and fill ``database`` as described above; the app's environment."""
    env, _ = prepare(folder, database, subscribers)
    from registry.timeutil import utcnow

    long_ago = (utcnow() - timedelta(days=40)).isoformat(sep=" ")
    step = subscribers // ITEMS
    # Every notification sent; every tenth with an error text quoting its address, as one
    # recorded before migration 0017 (texts are redacted where recorded since): erasure
    # clears it as its own row's, by key, and reads no other row's text.
    database.execute(
        "UPDATE notifications SET status = 'sent', attempts = 1",
        "UPDATE notifications SET last_error = '450 4.2.0 <' || "
        "(SELECT email FROM subscribers WHERE subscribers.id = notifications.subscriber_id)"
        " || '>: mailbox busy' WHERE notifications.id % 10 = 0",
        f"UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = '{long_ago}', "
        f"requested_at = '{long_ago}' WHERE id % {step} = 0",
        f"UPDATE subscriptions SET frequency = 'weekly' WHERE subscriber_id % {step} = 1",
        f"UPDATE notifications SET status = 'held', next_attempt_at = '{long_ago}', sent_at = NULL "
        f"WHERE subscriber_id % {step} = 1",
    )
    if database.kind == "postgresql":
        # Statistics, as autovacuum would gather within a minute of such a load: without them the
        # planner guesses, and may read the whole outbox for a few hundred subscribers' rows.
        database.execute("ANALYZE")
    return env


@contextmanager
def copy_of(database: Database, name: str) -> Iterator[str]:
    """A throwaway copy of ``database`` (the jobs change what they measure): its URL."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(database.url)
    if database.kind == "sqlite":
        source = Path(str(url.database))
        target = source.with_name(f"{name}.sqlite")
        shutil.copyfile(source, target)
        # Committed pages may still be in the write-ahead log (the setup's pool keeps a
        # connection): the log goes with the file, and nothing writes meanwhile.
        if Path(f"{source}-wal").exists():
            shutil.copyfile(f"{source}-wal", f"{target}-wal")
        try:
            yield url.set(database=str(target)).render_as_string(hide_password=False)
        finally:
            for leftover in target.parent.glob(f"{target.name}*"):
                leftover.unlink()
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    copy = f"{url.database}_{name}"
    try:
        with admin.connect() as connection:
            # A template must have no other session: the setup's app may keep one in its pool.
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": url.database},
            )
            connection.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{url.database}"'))
        yield url.set(database=copy).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        admin.dispose()


def measure(folder: Path, env: dict[str, str], url: str) -> tuple[float, float]:
    """Milliseconds per erasure and per digest, the jobs run once on the database at ``url``."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("FLASK_")})
    os.environ["FLASK_SQLALCHEMY_DATABASE_URI"] = url
    from registry import create_app
    from registry.extensions import db
    from registry.notifications.jobs import bundle_digests
    from registry.privacy import jobs as privacy_jobs
    from registry.timeutil import utcnow

    now = utcnow()
    app = create_app(instance_path=str(folder / "instance"))
    with app.app_context():
        started = time.perf_counter()
        results = privacy_jobs.enforce_retention(clock=lambda: now)
        erasing = time.perf_counter() - started
        started = time.perf_counter()
        digests = bundle_digests(clock=lambda: now)
        bundling = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    erased = results["unsubscribed_subscribers"]
    if erased != ITEMS or digests != ITEMS:
        raise BenchError(f"erased {erased} and bundled {digests} digests, not {ITEMS} of each")
    return erasing * 1000 / erased, bundling * 1000 / digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", type=int, nargs=2, default=(10_000, 100_000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    small, large = args.sizes
    print(f"Scheduled jobs, {ITEMS:,} items among {small:,} and {large:,} subscribers ({args.database}), "
          f"median of {args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    figures: dict[int, list[tuple[float, float]]] = {small: [], large: []}
    with tempfile.TemporaryDirectory(prefix="registry-bench-jobs-") as tmp, ExitStack() as stack:
        prepared = {}
        for size in (small, large):
            folder = Path(tmp) / str(size)
            folder.mkdir()
            database = stack.enter_context(Database.create(args.database, folder, f"jobs{size}"))
            prepared[size] = (folder, database, populate(folder, database, size))
        for round_ in range(args.rounds):
            for size in (small, large):
                folder, database, env = prepared[size]
                with copy_of(database, f"round{round_}") as url:
                    figures[size].append(measure(folder, env, url))
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    for index, name in enumerate(("retention, per erasure", "digests, per digest")):
        at_small = statistics.median(f[index] for f in figures[small])
        at_large = statistics.median(f[index] for f in figures[large])
        spread = " ".join(
            f"{f[index]:.2f}/{g[index]:.2f}" for f, g in zip(figures[small], figures[large], strict=True)
        )
        ratio = at_large / at_small
        verdict = "met" if ratio <= FLAT_GOAL else "NOT met"
        print(f"  {name:24} {at_small:7.2f} ms at {small:,}, {at_large:7.2f} ms at {large:,}: "
              f"x{ratio:.2f} (goal <= x{FLAT_GOAL}: {verdict}; rounds {spread})")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        sys.exit(1)
