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
2. make 1,000 of them unsubscribed 40 days ago, and time the retention job erasing them;
3. hold a notice for 1,000 other subscribers (weekly), and time the digest job bundling them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import BenchError, Database, prepare  # noqa: E402

ITEMS = 1_000
FLAT_GOAL = 1.5  # the per-item cost at the larger size, at most this many times the smaller's


def measure(kind: str, folder: Path, subscribers: int) -> tuple[float, float]:
    """Milliseconds per erasure and per digest among ``subscribers`` subscribers."""
    with Database.create(kind, folder, f"jobs{subscribers}") as database:
        env, _ = prepare(folder, database, subscribers)
        os.environ.update({k: v for k, v in env.items() if k.startswith("FLASK_")})
        from registry import create_app
        from registry.extensions import db
        from registry.notifications.jobs import bundle_digests
        from registry.privacy import jobs as privacy_jobs
        from registry.timeutil import utcnow

        now = utcnow()
        long_ago = (now - timedelta(days=40)).isoformat(sep=" ")
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
    args = parser.parse_args()
    small, large = args.sizes
    print(f"Scheduled jobs, {ITEMS:,} items among {small:,} and {large:,} subscribers ({args.database})")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="registry-bench-jobs-") as tmp:
        for size in (small, large):
            (Path(tmp) / str(size)).mkdir()
            figures[size] = measure(args.database, Path(tmp) / str(size), size)
    for index, name in enumerate(("retention, per erasure", "digests, per digest")):
        at_small, at_large = figures[small][index], figures[large][index]
        ratio = at_large / at_small
        verdict = "met" if ratio <= FLAT_GOAL else "NOT met"
        print(f"  {name:24} {at_small:7.2f} ms at {small:,}, {at_large:7.2f} ms at {large:,}: "
              f"x{ratio:.2f} (goal <= x{FLAT_GOAL}: {verdict})")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        sys.exit(1)
