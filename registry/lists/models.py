"""Tables of the registry: lists, their processors, versions, changes and notices.

The live ``processors`` rows hold each entry's current state; a ``versions`` row holds an immutable
snapshot of the whole list as published, so any past version is served exactly as it was.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum as _enum
from registry.extensions import Model
from registry.lists.snapshots import EntryJSON, SnapshotJSON
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.accounts.models import User


class ProcessorKind(enum.StrEnum):
    SUBPROCESSOR = "subprocessor"
    SUBCONTRACTOR = "subcontractor"
    AFFILIATE = "affiliate"


class ChangeAction(enum.StrEnum):
    ADD = "add"
    UPDATE = "update"
    RETIRE = "retire"
    REPLACE = "replace"


class ChangeStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    ANNOUNCED = "announced"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"
    DISCARDED = "discarded"


class NoticeKind(enum.StrEnum):
    ANNOUNCEMENT = "announcement"
    WITHDRAWAL = "withdrawal"
    # Wording or links fixed at once, without notice; still approved where four eyes are on.
    CORRECTION = "correction"


class NoticeStatus(enum.StrEnum):
    """Where a notice stands; only a published notice is public."""

    PENDING_APPROVAL = "pending_approval"
    PUBLISHED = "published"
    REJECTED = "rejected"


class RegisterList(Model):
    """A published register, e.g. "Sub-processors"."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    introduction: Mapped[str] = mapped_column(Text, default="")
    notice_period_days: Mapped[int] = mapped_column(Integer, default=30)
    # The objection deadline falls this many days before the effective date.
    objection_closes_days_before: Mapped[int] = mapped_column(Integer, default=1)
    # Four eyes: an announcement must be approved by a second editor before it is published.
    requires_approval: Mapped[bool] = mapped_column(default=False)
    # Also tell subscribers on the day an announced change takes effect.
    remind_on_effective: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every change a reader can see (a version, a notice, a setting): the ETag and the
    # render cache are keyed by it, so a cached page can never outlive what it shows.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    current_version: Mapped[int] = mapped_column(Integer, default=0)

    processors: Mapped[list[Processor]] = relationship(back_populates="register_list")

    def touch(self, now: datetime) -> None:
        """Record that what readers see of this list changed at ``now``."""
        self.revision = (self.revision or 0) + 1
        self.changed_at = now


class Processor(Model):
    """One entry of a list, in its current state."""

    __tablename__ = "processors"
    __table_args__ = (UniqueConstraint("list_id", "slug", name="uq_processors_list_id_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    legal_entity: Mapped[str] = mapped_column(String(300), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    corporate_location: Mapped[str] = mapped_column(String(2), default="")
    # Codes of ``fields.TRANSFER_MECHANISMS``, in the order the entry gives them.
    transfer_mechanisms: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[ProcessorKind] = mapped_column(_enum(ProcessorKind, "processor_kind"))
    website: Mapped[str] = mapped_column(String(500), default="")
    safeguards_url: Mapped[str] = mapped_column(String(500), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[date | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Optimistic locking: an UPDATE that finds another row_version fails instead of overwriting.
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    register_list: Mapped[RegisterList] = relationship(back_populates="processors")

    __mapper_args__: Mapping[str, Any] = {"version_id_col": row_version}


class Notice(Model):
    """One announcement of changes (or of a withdrawal), with its dates and public reason."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(_enum(NoticeKind, "notice_kind"))
    status: Mapped[NoticeStatus] = mapped_column(
        _enum(NoticeStatus, "notice_status"), default=NoticeStatus.PUBLISHED
    )
    reason: Mapped[str] = mapped_column(Text)
    # None while the notice awaits approval.
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    objection_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when the effective date leaves less than the list's notice period.
    short_notice_reason: Mapped[str | None] = mapped_column(Text, default=None)
    withdraws_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    register_list: Mapped[RegisterList] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id])
    changes: Mapped[list[Change]] = relationship(
        back_populates="notice", order_by="Change.id", foreign_keys="Change.notice_id"
    )
    withdraws: Mapped[Notice | None] = relationship(remote_side=[id])


class Version(Model):
    """An immutable snapshot of a list, numbered 1, 2, 3... per list."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("list_id", "number", name="uq_versions_list_id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The notice whose changes made this version; None for a correction or an import.
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None)
    # Read through ``snapshots.entry_fields``: a snapshot of an older shape is never rewritten.
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(SnapshotJSON)

    register_list: Mapped[RegisterList] = relationship()
    notice: Mapped[Notice | None] = relationship()
    changes: Mapped[list[Change]] = relationship(
        back_populates="version", order_by="Change.id", foreign_keys="Change.version_id"
    )


_OPEN_DRAFT = "status IN ('draft', 'pending_approval') AND processor_id IS NOT NULL"


class Change(Model):
    """One edit to one processor: add, update, retire or replace, with before and after."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_status_effective_at", "status", "effective_at"),
        # One open draft per entry: a second editor is shown the first one's draft instead of
        # silently working against it. Enforced by the database, so a race cannot get past it.
        Index(
            "uq_changes_open_draft_per_processor",
            "processor_id",
            unique=True,
            sqlite_where=text(_OPEN_DRAFT),
            postgresql_where=text(_OPEN_DRAFT),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), index=True)
    action: Mapped[ChangeAction] = mapped_column(_enum(ChangeAction, "change_action"))
    status: Mapped[ChangeStatus] = mapped_column(_enum(ChangeStatus, "change_status"))
    # The existing entry this change is about (update, retire, replace); None for an addition.
    processor_id: Mapped[int | None] = mapped_column(ForeignKey("processors.id"), default=None)
    # The entry's public fields as proposed (add, update, replace); None for a retirement.
    proposed: Mapped[dict[str, Any] | None] = mapped_column(EntryJSON, default=None)
    # The fields of the entry when the change was drafted, to detect a concurrent edit.
    base: Mapped[dict[str, Any] | None] = mapped_column(EntryJSON, default=None)
    # What the published list held before and after, filled in when the change is applied.
    before: Mapped[dict[str, Any] | None] = mapped_column(EntryJSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(EntryJSON, default=None)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), default=None)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Everyone who drafted or edited this change (user ids): none of them may approve it.
    contributor_ids: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    # Optimistic locking: saving a draft someone else saved since you opened it is a conflict.
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    register_list: Mapped[RegisterList] = relationship()
    author: Mapped[User | None] = relationship()
    processor: Mapped[Processor | None] = relationship()
    notice: Mapped[Notice | None] = relationship(back_populates="changes", foreign_keys=[notice_id])
    version: Mapped[Version | None] = relationship(back_populates="changes", foreign_keys=[version_id])

    __mapper_args__: Mapping[str, Any] = {"version_id_col": row_version}

    @property
    def is_open(self) -> bool:
        """A draft, or awaiting approval: not public yet, and still editable or withdrawable."""
        return self.status in (ChangeStatus.DRAFT, ChangeStatus.PENDING_APPROVAL)

    @property
    def subject(self) -> dict[str, Any]:
        """The entry as this change proposes it, or as it was for a retirement."""
        return self.proposed if self.proposed is not None else (self.base or {})
