"""The outbox: one notification per message to send, and the attempts at sending it.

A notification is written in the same transaction as what it tells of (a notice, a confirmation
request, an objection), so nothing is announced without its emails being owed. The delivery job
claims rows with a lease, sends, and marks each one sent in its own commit.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum
from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.documents.models import DocumentRevision
    from registry.lists.models import Notice
    from registry.objections.models import Objection
    from registry.subscriptions.models import Subscriber


class NotificationKind(enum.StrEnum):
    NOTICE = "notice"  # an announcement, withdrawal or correction, to a subscriber
    REMINDER = "reminder"  # an announced change took effect today
    DIGEST = "digest"  # the week's notices, bundled, to a weekly subscriber
    CONFIRMATION = "confirmation"  # the double opt-in link
    MANAGE_LINK = "manage_link"  # a fresh link to the manage page, on request
    OBJECTION_RECEIPT = "objection_receipt"  # acknowledges an objection to the objector
    # A document revision made public (announced ahead of its date, or published at once), and
    # the withdrawal of an announced one: two kinds, as both are about the same revision row.
    REVISION = "revision"
    REVISION_WITHDRAWAL = "revision_withdrawal"
    # To an objector: the notice they objected to was withdrawn, so it will not take effect.
    OBJECTION_CLOSED = "objection_closed"


class NotificationStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender until lease_until
    RETRYING = "retrying"  # a temporary failure; tried again at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # gave up after the retry period; shown to admins
    CANCELLED = "cancelled"  # nobody to send it to any more (unsubscribed, bouncing)
    HELD = "held"  # waits for the subscriber's weekly digest
    BUNDLED = "bundled"  # went out inside a digest (see digest_id)


# Statuses a sender may claim (SENDING only once its lease has expired).
CLAIMABLE = (NotificationStatus.QUEUED, NotificationStatus.RETRYING, NotificationStatus.SENDING)


# The new address in a notification's context (an address change's confirmation), as each
# database reads it: the same text in the partial index below and in the queries meant to use it
# (``registry.privacy.scrub.holds_address``), or the database would not see they match.
CONTEXT_ADDRESS = {
    "sqlite": "json_extract(notifications.context, '$.address')",
    "postgresql": "(notifications.context ->> 'address')",
}


def _present(column: str) -> dict[str, Any]:
    """A partial index's options: only the rows where ``column`` has a value."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


class Notification(Model):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notice reaches one subscriber once: a second fan-out cannot insert a duplicate.
        # It begins with the subscriber, so it also serves every lookup by subscriber (no index
        # of its own: see below).
        UniqueConstraint(
            "subscriber_id", "notice_id", "kind", name="uq_notifications_subscriber_notice_kind"
        ),
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notifications_notice_id_status", "notice_id", "status"),
        # Nearly every row is about a notice, with no revision, objection or digest: the indexes
        # of those columns hold only the rows that have one. A status change (claimed, then
        # sent) writes a new entry in every index of the row on PostgreSQL, so a notice's row
        # in four indexes rather than eight costs each message half the index work
        # (``bench/fanout.py``). Every query of these names a value, so they still serve it.
        # The same as the first one for a document revision.
        Index(
            "uq_notifications_subscriber_revision_kind",
            "subscriber_id",
            "revision_id",
            "kind",
            unique=True,
            **_present("revision_id"),
        ),
        Index("ix_notifications_objection_id", "objection_id", **_present("objection_id")),
        Index("ix_notifications_digest_id", "digest_id", **_present("digest_id")),
        Index(
            "ix_notifications_revision_id_status",
            "revision_id",
            "status",
            **_present("revision_id"),
        ),
        # The few notifications whose context names an address, by age: erasure and retention
        # find them without reading the whole outbox.
        # Every row by age, for retention: a B-tree on SQLite (which rewrites only the indexes
        # of the columns an UPDATE changes), a BRIN summary on PostgreSQL (where a status change
        # writes an entry in every B-tree index of the row; BRIN suits rows written in time order).
        Index("ix_notifications_created_at", "created_at", postgresql_using="brin"),
        Index(
            "ix_notifications_address_created_at",
            "created_at",
            sqlite_where=text(f"{CONTEXT_ADDRESS['sqlite']} IS NOT NULL"),
            postgresql_where=text(f"{CONTEXT_ADDRESS['postgresql']} IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(value_enum(NotificationKind, "notification_kind"))
    status: Mapped[NotificationStatus] = mapped_column(
        value_enum(NotificationStatus, "notification_status"), default=NotificationStatus.QUEUED
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), default=None
    )
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None)
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("document_revisions.id"), default=None)
    objection_id: Mapped[int | None] = mapped_column(
        ForeignKey("objections.id", ondelete="SET NULL"), default=None
    )
    # The digest notification that carried this one (status BUNDLED).
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), default=None)
    # What the message needs beyond the rows it points to (e.g. the lists asked for).
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Not to be sent before this (a retry's backoff, a digest's day).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Temporary failures are retried for RETRY_FOR_SECONDS from here (created_at if None); an
    # admin's requeue of a dead notification starts a new period.
    retry_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)

    subscriber: Mapped[Subscriber | None] = relationship()
    notice: Mapped[Notice | None] = relationship()
    revision: Mapped[DocumentRevision | None] = relationship()
    objection: Mapped[Objection | None] = relationship()


class AttemptOutcome(enum.StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, refused connection, timeout: retried
    PERMANENT = "permanent"  # 5xx for the recipient: the address is marked bouncing


class DeliveryAttempt(Model):
    """One try at sending a notification over SMTP, with its result."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[AttemptOutcome] = mapped_column(value_enum(AttemptOutcome, "attempt_outcome"))
    error: Mapped[str | None] = mapped_column(Text, default=None)
