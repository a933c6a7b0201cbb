"""Scheduled work of the registry: applying announced changes at their effective date, and
making the PDF annex of each version before a reader asks for it."""

from __future__ import annotations

from flask import current_app

from registry.extensions import db
from registry.jobs import Schedule
from registry.lists import annex, workflow
from registry.publishing.jobs import apply_due
from registry.timeutil import Clock, utcnow


def apply_due_changes(clock: Clock = utcnow) -> int:
    """Publish a new version for each notice whose effective date has come; returns how many."""
    done = apply_due(
        db.session, clock(), due=workflow.due_notices, apply=workflow.apply_notice, what="notice"
    )
    return len(done)


def prepare_annexes() -> int:
    """Lay out and store the PDF annexes not stored yet, newest first, a few per run; returns
    how many. A long list's annex takes minutes: no reader should wait for it."""
    made = annex.prepare_missing(db.session, current_app.config["ANNEX_PREPARE_PER_RUN"])
    db.session.rollback()
    return len(made)


SCHEDULES = [
    Schedule("apply-due-changes", apply_due_changes, "APPLY_CHANGES_EVERY_SECONDS"),
    # After the changes: a version published by this tick is prepared by it too.
    Schedule("prepare-annexes", prepare_annexes, "ANNEX_PREPARE_EVERY_SECONDS"),
]
