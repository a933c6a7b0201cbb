"""APScheduler as a timer only: it decides when jobs run; what they do is durable in our tables.

Each domain lists its jobs as ``SCHEDULES`` in its ``jobs.py``; every job reloads what it needs
from the database and is safe to run twice or in two processes at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy.exc import OperationalError

from registry.database import is_busy, transaction_intent
from registry.extensions import db
from registry.jobs import Schedule
from registry.timeutil import UTC

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


def schedules() -> list[Schedule]:
    from registry.documents import jobs as document_jobs
    from registry.lists import jobs as list_jobs
    from registry.notifications import jobs as notification_jobs
    from registry.privacy import jobs as privacy_jobs
    from registry.webhooks import jobs as webhook_jobs

    # Order matters for run_all: changes applied (and their reminders owed) before delivery.
    return [
        *list_jobs.SCHEDULES,
        *document_jobs.SCHEDULES,
        *notification_jobs.SCHEDULES,
        *webhook_jobs.SCHEDULES,
        *privacy_jobs.SCHEDULES,
    ]


def run_all(app: Flask) -> dict[str, object]:
    """Run every job once, now; for cron, the CLI and tests."""
    results = {}
    for schedule in schedules():
        results[schedule.name] = _run(app, schedule)
    return results


def _run(app: Flask, schedule: Schedule) -> object:
    """Run one job; a failure is logged and left to the next tick, never raised into the timer.

    Jobs write, so their transactions take SQLite's write lock when they begin (see
    ``registry.database``).
    """
    with app.app_context(), transaction_intent(writes=True):
        try:
            return schedule.run()
        except OperationalError as error:
            db.session.rollback()
            if not is_busy(error):
                log.exception("job %s failed", schedule.name)
            else:
                # Every job is safe to run again: the next tick does what this one could not.
                log.warning("job %s: database busy, retried at its next run (%s)", schedule.name, error.orig)
            return None
        except Exception:
            # A failed run is retried by the next tick; the job's own transaction rolled back.
            log.exception("job %s failed", schedule.name)
            return None


def build(app: Flask, *, blocking: bool) -> BaseScheduler:
    # Imported here: the timer is for the scheduler's own process and in-process development;
    # ``run-jobs`` (cron, the benchmark's sender) runs each job once without it (15 ms at start).
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    job_defaults = {
        # A run missed while the process was busy or down is made up once, not many times.
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": 300,
    }
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(job_defaults=job_defaults, timezone=UTC)
    for schedule in schedules():
        scheduler.add_job(
            _run,
            "interval",
            seconds=app.config[schedule.every_setting],
            args=[app, schedule],
            id=schedule.name,
            name=schedule.name,
            replace_existing=True,
        )
    return scheduler


def start_in_process(app: Flask) -> BaseScheduler:
    """Run the jobs in a thread of the web process (development; production runs one scheduler)."""
    scheduler = build(app, blocking=False)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    log.info("scheduler started in-process with %d jobs", len(scheduler.get_jobs()))
    return scheduler
