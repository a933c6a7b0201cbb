"""Tables of policy documents: a document, and its revisions (drafts, announced, published).

A revision gets its number when it becomes public (announced, or published at once as a
correction) and keeps it forever, even if it is withdrawn: its URL is permanent. Once public, a
revision's text, rendered HTML and summary never change (``_refuse_rewrite`` below).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, inspect, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum as _enum
from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.accounts.models import User


class RevisionStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    # Public, numbered, waiting for its effective date.
    ANNOUNCED = "announced"
    # In force now, or superseded by a later one.
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    DISCARDED = "discarded"


# Statuses whose revisions are public and numbered.
PUBLIC_STATUSES = (RevisionStatus.ANNOUNCED, RevisionStatus.PUBLISHED, RevisionStatus.WITHDRAWN)
# What readers can no longer see change once a revision is public.
FROZEN_FIELDS = ("body", "rendered", "summary", "number", "document_id", "uuid")


class Document(Model):
    """A published legal text, e.g. the privacy policy, at ``/documents/<slug>``."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    notice_period_days: Mapped[int] = mapped_column(Integer, default=30)
    # Four eyes: an announcement needs a second editor's approval before it is public.
    requires_approval: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every change a reader can see: ETags and the render cache are keyed by it.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The number of the revision in force; 0 before the first takes effect.
    current_number: Mapped[int] = mapped_column(Integer, default=0)

    revisions: Mapped[list[DocumentRevision]] = relationship(
        back_populates="document", order_by="DocumentRevision.id"
    )

    def touch(self, now: datetime) -> None:
        """Record that what readers see of this document changed at ``now``."""
        self.revision = (self.revision or 0) + 1
        self.changed_at = now


_OPEN = "status IN ('draft', 'pending_approval')"
_ANNOUNCED = "status = 'announced'"


class DocumentRevision(Model):
    """One version of a document's text, from draft to published (or withdrawn)."""

    __tablename__ = "document_revisions"
    __table_args__ = (
        UniqueConstraint("document_id", "number", name="uq_document_revisions_document_id_number"),
        Index("ix_document_revisions_status_effective_at", "status", "effective_at"),
        # One draft (or one awaiting approval) per document, and one announced revision at a time:
        # each is written against the text in force, so two could not both take effect in turn.
        # Enforced by the database, so a race between two editors cannot get past it.
        Index(
            "uq_document_revisions_open_per_document",
            "document_id",
            unique=True,
            sqlite_where=text(_OPEN),
            postgresql_where=text(_OPEN),
        ),
        Index(
            "uq_document_revisions_announced_per_document",
            "document_id",
            unique=True,
            sqlite_where=text(_ANNOUNCED),
            postgresql_where=text(_ANNOUNCED),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The feed entry's id: urn:uuid:<uuid>.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    # 1, 2, 3... per document, given when the revision becomes public; None while private.
    number: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[RevisionStatus] = mapped_column(_enum(RevisionStatus, "revision_status"))
    # The Markdown source, and the sanitised HTML made from it (kept, so it never changes).
    body: Mapped[str] = mapped_column(Text)
    rendered: Mapped[str] = mapped_column(Text)
    # What changed, in a sentence or two, for readers and subscribers.
    summary: Mapped[str] = mapped_column(Text, default="")
    # The number of the revision in force when this one was drafted (0: none).
    based_on: Mapped[int] = mapped_column(Integer, default=0)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it took effect (an announcement) or was published at once (a correction).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    short_notice_reason: Mapped[str | None] = mapped_column(Text, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, default=None)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Who announced it (or asked for its approval); neither they nor the author may approve it.
    announced_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Everyone who drafted or edited the text (user ids): none of them may approve it.
    contributor_ids: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    # Asked to be published at once as a correction (no notice); awaiting approval until then.
    is_correction: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Optimistic locking: saving a draft someone else saved since you opened it is a conflict.
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    document: Mapped[Document] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    announced_by: Mapped[User | None] = relationship(foreign_keys=[announced_by_id])
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id])

    __mapper_args__: Mapping[str, Any] = {"version_id_col": row_version}

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATUSES

    @property
    def is_open(self) -> bool:
        """A draft, or awaiting approval: private, and still editable or rejectable."""
        return self.status in (RevisionStatus.DRAFT, RevisionStatus.PENDING_APPROVAL)


class ImmutableRevisionError(RuntimeError):
    """An attempt to change the text of a revision readers have already seen."""


@event.listens_for(DocumentRevision, "before_update")
def _refuse_rewrite(_mapper: Any, _connection: Any, revision: DocumentRevision) -> None:
    state = inspect(revision)
    was = state.attrs.status.history
    previous = was.deleted[0] if was.deleted else revision.status
    if previous not in PUBLIC_STATUSES:
        return
    changed = [name for name in FROZEN_FIELDS if state.attrs[name].history.has_changes()]
    if changed:
        raise ImmutableRevisionError(
            f"revision {revision.number} is public; its {', '.join(changed)} cannot change"
        )


@event.listens_for(DocumentRevision, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, revision: DocumentRevision) -> None:
    if revision.status in PUBLIC_STATUSES:
        raise ImmutableRevisionError(f"revision {revision.number} is public; it cannot be deleted")
