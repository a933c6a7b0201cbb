"""Scheduled work of the registry: applying announced changes at their effective date."""

from __future__ import annotations

from registry.extensions import db
from registry.jobs import Schedule
from registry.lists import workflow
from registry.publishing.jobs import apply_due
from registry.timeutil import Clock, utcnow


def apply_due_changes(clock: Clock = utcnow) -> int:
    """Publish a new version for each notice whose effective date has come; returns how many."""
    done = apply_due(
        db.session, clock(), due=workflow.due_notices, apply=workflow.apply_notice, what="notice"
    )
    return len(done)


SCHEDULES = [Schedule("apply-due-changes", apply_due_changes, "APPLY_CHANGES_EVERY_SECONDS")]
