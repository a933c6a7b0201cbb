"""How the webhook outbox reacts to the domains' events: every event owed to an endpoint is
written in the session of what caused it, so a notice and its deliveries commit or roll back
together. ``connect`` is called by the app factory; connecting twice is harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.documents.models import DocumentRevision
from registry.lists.models import Notice
from registry.publishing import events as publication_events
from registry.webhooks import payloads, services


def connect() -> None:
    """Subscribe the webhook outbox to every publication event."""
    publication_events.announced.connect(announced)
    publication_events.withdrawn.connect(withdrawn)
    publication_events.applied.connect(applied)
    publication_events.corrected.connect(corrected)


def _queue(sender: Notice | DocumentRevision, what: str, session: Session, now: datetime) -> None:
    if isinstance(sender, Notice):
        services.queue_event(
            session,
            f"notice.{what}",
            str(sender.id),
            payloads.notice_data(sender),
            list_id=sender.list_id,
            now=now,
        )
    else:
        services.queue_event(
            session,
            f"revision.{what}",
            str(sender.id),
            payloads.revision_data(sender, withdrawal=what == "withdrawn"),
            document_id=sender.document_id,
            now=now,
        )


def announced(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    _queue(sender, "announced", session, now)


def withdrawn(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """For a list the sender is the withdrawal notice, whose data names what it withdraws."""
    _queue(sender, "withdrawn", session, now)


def applied(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    """Every application, whatever the list's reminder setting: a program wants to know."""
    _queue(sender, "applied", session, now)


def corrected(sender: Notice | DocumentRevision, *, session: Session, now: datetime, **_: Any) -> None:
    _queue(sender, "corrected", session, now)
