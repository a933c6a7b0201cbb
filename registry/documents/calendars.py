"""A document's announced revisions as calendar events: the day each takes effect.

Each document has a calendar of its own (``/documents/<slug>/calendar.ics``), as it has feeds of
its own: its subscribers follow it apart from the lists, and a revision has no objection window,
so its one event is the effective date. A revision published at once (the first, or a
correction) was never announced and has none. A withdrawal cancels the event (same UID,
SEQUENCE 1), shown until its day has passed; a revision in force stays for a year.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.documents.feeds import revision_facts
from registry.documents.models import PUBLIC_STATUSES, Document, DocumentRevision, RevisionStatus
from registry.documents.services import published_at_once, revision_url
from registry.publishing.calendars import PAST_DAYS, CalendarEvent, event_uid, keeps, start_of

__all__ = ["calendar_description", "calendar_events", "calendar_name"]


def calendar_name(document: Document) -> str:
    return f"{document.title}: announced revisions · {current_app.config['COMPANY_NAME']}"


def calendar_description(document: Document) -> str:
    company = current_app.config["COMPANY_NAME"]
    return (
        f"The day each revision {company} announces to its {document.title} takes effect. "
        "Withdrawn revisions are shown as cancelled."
    )


def calendar_events(session: Session, document: Document, today: date) -> list[CalendarEvent]:
    """The events of this document's announced revisions still in the window on ``today``."""
    since = start_of(today) - timedelta(days=PAST_DAYS + 1)
    revisions = session.scalars(
        select(DocumentRevision)
        .where(
            DocumentRevision.document_id == document.id,
            DocumentRevision.status.in_(PUBLIC_STATUSES),
            DocumentRevision.effective_at >= since,
        )
        .order_by(DocumentRevision.effective_at, DocumentRevision.id)
    )
    events = []
    for revision in revisions:
        if published_at_once(revision) or revision.effective_at is None or revision.announced_at is None:
            continue
        cancelled = revision.status is RevisionStatus.WITHDRAWN
        changed = max(m for m in (revision.announced_at, revision.published_at, revision.withdrawn_at) if m)
        event = CalendarEvent(
            uid=event_uid("effective", f"revision-{revision.number}", document.slug, "documents"),
            day=revision.effective_at.astimezone(UTC).date(),
            summary=("Withdrawn: " if cancelled else "")
            + f"{document.title}: revision {revision.number} (takes effect)",
            description="\n".join(revision_facts(revision)),
            url=revision_url(revision),
            changed=changed,
            created=revision.announced_at,
            sequence=1 if cancelled else 0,
            cancelled=cancelled,
        )
        if keeps(event.day, today, cancelled=cancelled):
            events.append(event)
    return events
