"""Scheduled work of documents: putting announced revisions in force at their effective date."""

from __future__ import annotations

from registry.documents import workflow
from registry.extensions import db
from registry.jobs import Schedule
from registry.publishing.jobs import apply_due
from registry.timeutil import Clock, utcnow


def apply_due_revisions(clock: Clock = utcnow) -> int:
    """Put each announced revision whose effective date has come in force; returns how many."""
    done = apply_due(
        db.session,
        clock(),
        due=workflow.due_revisions,
        apply=workflow.apply_revision,
        what="document revision",
    )
    return len(done)


SCHEDULES = [Schedule("apply-due-document-revisions", apply_due_revisions, "APPLY_CHANGES_EVERY_SECONDS")]
