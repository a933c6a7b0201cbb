"""Benchmark: the all-lists calendar with many announced changes, rendered and then served.

A calendar is rendered once per list revision and day, then served from the render cache, so
what matters is that a cache miss stays well under a second for a busy year and that a hit or a
revalidation costs about as much as handing out bytes. Exits 0 whether or not that holds (it is
a measurement), non-zero only when it could not measure (a wrong status or event count).

What it does, in a temporary folder, with SQLite and the app in this process (Flask's test
client, so the figures are the app's own, without a server):
1. migrate a database and publish a list; announce N changes through the real workflow, a third
   of them withdrawn, so the calendar holds 2N events;
2. time the cold render (render cache emptied) five times and take the median;
3. time 200 cached answers and 200 revalidations (If-None-Match, 304).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

from werkzeug.test import TestResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD_GOAL_SECONDS = 1.0
URL = "/calendar.ics"


class BenchError(RuntimeError):
    """The bench could not measure; the figures would mean nothing."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=200, help="announced changes (default 200)")
    args = parser.parse_args()

    from registry import create_app
    from registry.caching import render_cache
    from registry.database import upgrade_schema
    from registry.extensions import db
    from registry.lists import services, workflow
    from registry.lists.models import ChangeAction

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                "PUBLIC_BASE_URL": "https://registry.example",
                "QUIET_LOGS": True,
            },
            instance_path=folder,
        )
        with app.app_context():
            upgrade_schema()
            register_list = services.create_list(
                db.session, slug="sub-processors", title="Sub-processors", now=now
            )
            first = workflow.draft_change(
                db.session, register_list, ChangeAction.ADD, fields=_entry("Base"), now=now
            )
            workflow.publish_first_version(
                db.session, register_list, [first], reason="Initial list.", now=now
            )
            db.session.commit()
            for i in range(args.notices):
                change = workflow.draft_change(
                    db.session, register_list, ChangeAction.ADD, fields=_entry(f"Vendor {i}"), now=now
                )
                notice = workflow.announce(
                    db.session,
                    register_list,
                    [change],
                    reason="A new provider.",
                    effective_at=now + timedelta(days=40 + i % 300),
                    now=now,
                )
                if i % 3 == 0:
                    workflow.withdraw(db.session, notice, reason="Not needed after all.", now=now)
                db.session.commit()

        client = app.test_client()
        with app.app_context():
            cold = []
            for _ in range(5):
                render_cache().clear()
                start = time.perf_counter()
                response = client.get(URL)
                cold.append(time.perf_counter() - start)
            events = response.data.count(b"BEGIN:VEVENT")
            if response.status_code != 200 or events != 2 * args.notices:
                raise BenchError(f"{URL} answered {response.status_code} with {events} events")
            cached = _per_request(lambda: client.get(URL), 200)
            etag = {"If-None-Match": response.headers["ETag"]}
            revalidated = _per_request(lambda: client.get(URL, headers=etag), 200, status=304)

    print(f"{args.notices} announced changes, {events} events, {len(response.data) / 1024:.0f} KiB")
    print(
        f"cold render (median of 5): {median(cold) * 1000:.0f} ms (goal under {COLD_GOAL_SECONDS * 1000:.0f} ms)"
    )
    print(f"cached answer: {cached * 1000:.2f} ms; revalidation (304): {revalidated * 1000:.2f} ms")


def _per_request(request: Callable[[], TestResponse], count: int, *, status: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(count):
        response = request()
        if response.status_code != status:
            raise BenchError(f"{URL} answered {response.status_code}, not {status}")
    return (time.perf_counter() - start) / count


def _entry(name: str) -> dict[str, object]:
    return {
        "name": name,
        "legal_entity": f"{name} Ltd",
        "purpose": f"{name} hosts part of the service.",
        "data_categories": ["Email address"],
        "locations": ["US"],
        "corporate_location": "US",
        "transfer_mechanism": "scc",
        "kind": "subprocessor",
        "website": "https://example.com",
    }


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"bench/calendars.py could not measure: {error}")
