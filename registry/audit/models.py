"""The audit table. Rows are only ever inserted: the ORM refuses updates and deletes, and so do
database triggers created by the migration, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Dotted names such as "user.sign_in" or "change.announce".
    action: Mapped[str] = mapped_column(String(64), index=True)
    # Who: a user (None for the system or an anonymous visitor) and a label kept even if the
    # user is later deleted.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    actor: Mapped[str] = mapped_column(String(320), default="system")
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    # What: a kind of object and its id, e.g. ("change", "42").
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"), default=None, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[Any | None] = mapped_column(JSON, default=None)
    after: Mapped[Any | None] = mapped_column(JSON, default=None)


class AppendOnlyError(RuntimeError):
    """An attempt to change or remove an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_args: object) -> None:
    raise AppendOnlyError("audit events cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_args: object) -> None:
    raise AppendOnlyError("audit events cannot be deleted")
