"""Scheduled work of subscriptions: forgetting sign-ups that were never confirmed."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from registry.extensions import db
from registry.scheduler import Schedule
from registry.subscriptions import services
from registry.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def purge_unconfirmed(clock: Clock = utcnow) -> int:
    """Delete subscribers still pending UNCONFIRMED_PURGE_AFTER_SECONDS after their last request;
    returns how many. Safe to run twice: a second run finds nothing more to delete."""
    older_than = timedelta(seconds=current_app.config["UNCONFIRMED_PURGE_AFTER_SECONDS"])
    try:
        purged = services.purge_unconfirmed(db.session, now=clock(), older_than=older_than)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if purged:
        log.info("purged %d unconfirmed subscribers", purged)
    return purged


SCHEDULES = [Schedule("purge-unconfirmed", purge_unconfirmed, "PURGE_EVERY_SECONDS")]
