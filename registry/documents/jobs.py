"""Scheduled work of documents: putting announced revisions in force at their effective date."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from registry.documents import workflow
from registry.extensions import db
from registry.scheduler import Schedule
from registry.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def apply_due_revisions(clock: Clock = utcnow) -> int:
    """Put each announced revision whose effective date has come in force; returns how many.

    Each is applied and committed on its own, so one that fails (a lost race with another
    worker) leaves the others applied and is retried by the next run.
    """
    now = clock()
    revision_ids = workflow.due_revisions(db.session, now)
    db.session.rollback()
    applied = 0
    for revision_id in revision_ids:
        try:
            revision = workflow.apply_revision(db.session, revision_id, now)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("could not apply document revision %s; it will be retried", revision_id)
            continue
        if revision is not None:
            applied += 1
            log.info("document %s: revision %s in force", revision.document.slug, revision.number)
    return applied


SCHEDULES = [Schedule("apply-due-document-revisions", apply_due_revisions, "APPLY_CHANGES_EVERY_SECONDS")]
