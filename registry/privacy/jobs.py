"""Scheduled work of privacy: the retention job, which deletes or anonymises what is past its
period (sign-ups never confirmed, unsubscribed addresses, old delivery records and objections)."""

from __future__ import annotations

import logging

from flask import current_app

from registry.extensions import db
from registry.jobs import Schedule
from registry.privacy import services
from registry.privacy.models import RetentionRun
from registry.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def enforce_retention(clock: Clock = utcnow) -> dict[str, int]:
    """Apply the RETENTION_* periods at ``clock()``; returns how many records of each kind were
    deleted or anonymised, and keeps the same numbers as a RetentionRun row for the admins.

    A commit per batch of ``RETENTION_BATCH_SIZE`` (``services.retention_batches``): the write
    lock is never held for long, and a failed run keeps the batches it finished (each one is
    whole) while the next run does the rest. Safe to run twice or in two processes at once.
    """
    started = clock()
    config = current_app.config
    policy = services.RetentionPolicy.from_config(config)
    results = dict.fromkeys(services.RETENTION_KINDS, 0)
    try:
        for kind, count in services.retention_batches(
            db.session, now=started, policy=policy, batch_size=config["RETENTION_BATCH_SIZE"]
        ):
            results[kind] += count
            db.session.commit()
        db.session.add(RetentionRun(started_at=started, finished_at=clock(), results=results))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if any(results.values()):
        log.info("retention: %s", ", ".join(f"{kind} {n}" for kind, n in results.items() if n))
    return results


SCHEDULES = [Schedule("retention", enforce_retention, "RETENTION_EVERY_SECONDS")]
