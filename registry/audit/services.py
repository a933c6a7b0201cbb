"""Recording and reading audit events. Every service that changes something records here, in the
same transaction as the change, so the trail and the data cannot disagree."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEvent
from registry.csvsafe import EXPORT_BATCH, export_chunks


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, a token's owner, a CLI operator, or the system itself."""

    user_id: int | None
    label: str
    ip: str | None = None

    @property
    def is_user(self) -> bool:
        return self.user_id is not None


SYSTEM = Actor(None, "system")


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    now: datetime,
    target: tuple[str, Any] | None = None,
    list_id: int | None = None,
    summary: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    event = AuditEvent(
        at=now,
        action=action,
        actor_id=actor.user_id,
        actor=actor.label,
        ip=actor.ip,
        target_type=target[0] if target else None,
        target_id=str(target[1]) if target else None,
        list_id=list_id,
        summary=summary,
        before=before,
        after=after,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    """What an admin narrowed the trail to."""

    action: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> Select[AuditEvent]:
        query = select(AuditEvent)
        if self.action:
            query = query.where(AuditEvent.action.startswith(self.action))
        if self.actor:
            query = query.where(AuditEvent.actor.icontains(self.actor))
        if self.since:
            query = query.where(AuditEvent.at >= self.since)
        if self.until:
            query = query.where(AuditEvent.at < self.until)
        return query.order_by(AuditEvent.id.desc())


def find_events(
    session: Session, audit_filter: AuditFilter, *, limit: int = 100, offset: int = 0
) -> list[AuditEvent]:
    return list(session.scalars(audit_filter.query().limit(limit).offset(offset)))


CSV_COLUMNS = (
    "id",
    "at",
    "action",
    "actor",
    "ip",
    "target_type",
    "target_id",
    "list_id",
    "summary",
    "before",
    "after",
)


def events_csv(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The CSV of these events, in chunks to stream (``csvsafe.export_chunks``)."""
    return export_chunks(CSV_COLUMNS, (_row(event) for event in events))


def _row(event: AuditEvent) -> list[object]:
    row: list[object] = [getattr(event, column) for column in CSV_COLUMNS]
    row[1] = event.at.isoformat()
    row[-2:] = [json.dumps(value, ensure_ascii=False) if value is not None else "" for value in row[-2:]]
    return row


def stream_events(session: Session, audit_filter: AuditFilter) -> Iterator[AuditEvent]:
    """Every event the filter matches, read EXPORT_BATCH at a time (a server-side cursor on
    PostgreSQL). The session's identity map holds its objects weakly, so a batch nobody refers
    to any more is let go as the next is read."""
    query = audit_filter.query().execution_options(yield_per=EXPORT_BATCH)
    yield from session.scalars(query)
