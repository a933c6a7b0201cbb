"""Scheduled work of the webhook outbox: post what is due."""

from __future__ import annotations

import logging

from registry.extensions import db
from registry.jobs import Schedule
from registry.leases import worker_name
from registry.timeutil import Clock, utcnow
from registry.webhooks.delivery import WebhookReport, deliver_batch

log = logging.getLogger(__name__)


def deliver_webhooks(clock: Clock = utcnow) -> WebhookReport:
    """Post every due webhook delivery, batch by batch, until none is due."""
    worker = worker_name()
    report = WebhookReport()
    while deliver_batch(db.session, worker=worker, clock=clock, report=report):
        pass
    if report.sent or report.retrying or report.dead:
        log.info("webhooks: %s", report)
    return report


SCHEDULES = [Schedule("deliver-webhooks", deliver_webhooks, "WEBHOOK_DELIVER_EVERY_SECONDS")]
