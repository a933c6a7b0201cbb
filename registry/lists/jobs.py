"""Scheduled work of the registry: applying announced changes at their effective date."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from registry.extensions import db
from registry.lists import workflow
from registry.scheduler import Schedule
from registry.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def apply_due_changes(clock: Clock = utcnow) -> int:
    """Publish a new version for each notice whose effective date has come; returns how many.

    Each notice is applied and committed on its own, so one that fails (a conflict, a lost race
    with another worker) leaves the others applied and is retried by the next run.
    """
    now = clock()
    notice_ids = workflow.due_notices(db.session, now)
    db.session.rollback()
    applied = 0
    for notice_id in notice_ids:
        try:
            version = workflow.apply_notice(db.session, notice_id, now)
            db.session.commit()
        except (workflow.ConflictError, SQLAlchemyError):
            db.session.rollback()
            log.exception("could not apply notice %s; it will be retried", notice_id)
            continue
        if version is not None:
            applied += 1
            log.info("applied notice %s as version %s", notice_id, version.number)
    return applied


SCHEDULES = [Schedule("apply-due-changes", apply_due_changes, "APPLY_CHANGES_EVERY_SECONDS")]
