"""Tables of subscribers and what they subscribe to."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum
from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.documents.models import Document
    from registry.lists.models import RegisterList


class SubscriberStatus(enum.StrEnum):
    # Signed up, confirmation email sent, not yet confirmed: gets no notifications.
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    # The mail server refused the address permanently: no more notifications until re-confirmed.
    BOUNCING = "bouncing"


class Frequency(enum.StrEnum):
    EACH = "each"  # every notice as it is announced
    WEEKLY = "weekly"  # one digest a week


def new_token_key() -> str:
    return secrets.token_urlsafe(12)


class _HasTarget(Protocol):
    document_id: int | None
    register_list: RegisterList | None
    document: Document | None


class Target:
    """What a subscription or a pending request is to: one list or one document."""

    @property
    def is_document(self: _HasTarget) -> bool:
        """To a document (not a list); also before the row is flushed."""
        return self.document_id is not None or self.document is not None

    @property
    def title(self: _HasTarget) -> str:
        """The title of the list or document."""
        target = self.register_list or self.document
        return target.title if target is not None else ""

    @property
    def slug(self: _HasTarget) -> str:
        target = self.register_list or self.document
        return target.slug if target is not None else ""


class Subscriber(Model):
    """An email address that asked for notices; it receives them only once confirmed."""

    __tablename__ = "subscribers"
    # The retention job finds the addresses past their period by status and date, and the
    # sign-ups never confirmed by the date of their last request (only those rows are in that
    # index), batch by batch: without these, each batch would read every subscriber.
    __table_args__ = (
        Index("ix_subscribers_status_unsubscribed_at", "status", "unsubscribed_at"),
        Index("ix_subscribers_status_bounced_at", "status", "bounced_at"),
        Index(
            "ix_subscribers_unconfirmed_requested_at",
            "requested_at",
            sqlite_where=text("confirmed_at IS NULL"),
            postgresql_where=text("confirmed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(
        value_enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    # Part of every link sent to this address; replacing it revokes all earlier links. Links
    # other than a confirmation find their subscriber by it (never by the sequential id).
    token_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_token_key)
    # Confirmation links carry this number and are accepted only while it is unchanged, so
    # each one works once.
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last confirmation email was asked for: unconfirmed sign-ups expire from here.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    bounce_reason: Mapped[str | None] = mapped_column(Text, default=None)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Subscription.id"
    )
    # What the address asked for and has not confirmed yet, from every sign-up since the last
    # confirmation: any of its confirmation links confirms all of it.
    pending: Mapped[list[PendingSubscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="PendingSubscription.id"
    )

    @property
    def receives_notices(self) -> bool:
        return self.status is SubscriberStatus.CONFIRMED

    @property
    def list_subscriptions(self) -> list[Subscription]:
        return [s for s in self.subscriptions if not s.is_document]

    @property
    def document_subscriptions(self) -> list[Subscription]:
        return [s for s in self.subscriptions if s.is_document]


ONE_TARGET = "(list_id IS NOT NULL AND document_id IS NULL) OR (list_id IS NULL AND document_id IS NOT NULL)"


class Subscription(Target, Model):
    """A subscriber's interest in one list or one document, with how often they want to hear
    about it. Exactly one of ``list_id`` and ``document_id`` is set (a CHECK constraint)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id", name="uq_subscriptions_subscriber_id"),
        UniqueConstraint("subscriber_id", "document_id", name="uq_subscriptions_subscriber_id_document_id"),
        CheckConstraint(ONE_TARGET, name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"), index=True, default=None)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True, default=None)
    frequency: Mapped[Frequency] = mapped_column(value_enum(Frequency, "frequency"), default=Frequency.EACH)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    register_list: Mapped[RegisterList | None] = relationship()
    document: Mapped[Document | None] = relationship()


class PendingSubscription(Target, Model):
    """One list or document an address asked for, with the frequency asked for, waiting for the
    address to confirm.

    Kept here rather than in the link, so that two sign-ups before a confirmation add up instead
    of the second one's link replacing the first's: one row per list or document (asked again,
    the row is replaced: the newest frequency counts), gone once confirmed, when the address
    unsubscribes, and with the address when it is purged or erased.
    """

    __tablename__ = "pending_subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id", name="uq_pending_subscriptions_subscriber_id_list_id"),
        UniqueConstraint(
            "subscriber_id", "document_id", name="uq_pending_subscriptions_subscriber_id_document_id"
        ),
        CheckConstraint(ONE_TARGET, name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"), index=True, default=None)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True, default=None)
    frequency: Mapped[Frequency] = mapped_column(value_enum(Frequency, "frequency"), default=Frequency.EACH)
    # When this was asked for: a request older than a confirmation link's lifetime is not
    # confirmed by a newer link, and one older than the purge period is deleted.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="pending")
    register_list: Mapped[RegisterList | None] = relationship()
    document: Mapped[Document | None] = relationship()
