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

    One transaction: a failed run changes nothing and the next one does it all. Safe to run twice
    or in two processes at once (see ``services.apply_retention``).
    """
    started = clock()
    policy = services.RetentionPolicy.from_config(current_app.config)
    try:
        results = services.apply_retention(db.session, now=started, policy=policy)
        db.session.add(RetentionRun(started_at=started, finished_at=clock(), results=results))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if any(results.values()):
        log.info("retention: %s", ", ".join(f"{kind} {n}" for kind, n in results.items() if n))
    return results


SCHEDULES = [Schedule("retention", enforce_retention, "RETENTION_EVERY_SECONDS")]
