"""Scheduled work of the outbox: deliver what is due, and bundle weekly digests."""

from __future__ import annotations

import logging

from registry.extensions import db
from registry.jobs import Schedule
from registry.notifications import outbox
from registry.notifications.delivery import DeliveryReport, worker_name
from registry.notifications.emails import Composer
from registry.notifications.senders import Sender, configured_sender
from registry.notifications.sending import deliver_batch
from registry.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def deliver_outbox(clock: Clock = utcnow, sender: Sender | None = None) -> DeliveryReport:
    """Send every due notification, batch by batch, until none is due or the server fails."""
    sender = sender or configured_sender()
    worker = worker_name()
    report = DeliveryReport()
    composer = Composer(db.session)
    while deliver_batch(db.session, sender, worker=worker, clock=clock, report=report, composer=composer):
        pass
    if report.sent or report.retrying or report.dead:
        log.info("delivery: %s", report)
    return report


def bundle_digests(clock: Clock = utcnow) -> int:
    """Turn due held notifications into one digest per weekly subscriber; returns how many.

    A commit per batch of 500 subscribers: a run costs time in proportion to the digests it
    writes, and never holds the write lock for long."""
    now = clock()
    written = 0
    try:
        while count := outbox.bundle_due_digests(db.session, now=now, limit=500):
            db.session.commit()
            written += count
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return written


SCHEDULES = [
    Schedule("bundle-digests", bundle_digests, "DIGESTS_EVERY_SECONDS"),
    Schedule("deliver-outbox", deliver_outbox, "DELIVER_EVERY_SECONDS"),
]
