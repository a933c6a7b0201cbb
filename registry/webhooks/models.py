"""Tables of webhook endpoints, what each is registered for, and the deliveries owed to them.

A delivery is the webhook outbox's row: one event for one endpoint, written in the same
transaction as what it tells of, posted by the delivery job, and identified by its
``message_id`` (the ``webhook-id`` header), the same on every attempt, so a receiver can
recognise a repeat.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum
from registry.extensions import Model
from registry.subscriptions.models import ONE_TARGET, Target
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.documents.models import Document
    from registry.lists.models import RegisterList


def new_message_id() -> str:
    """A ``webhook-id``: unique per delivery, kept for every attempt at it."""
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(Model):
    """A machine subscriber's URL with the secret that signs what is posted to it.

    The secret must be recoverable to sign, so it is stored as given; it is shown once, at
    registration, and never put in a log, an export or the audit trail.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="system")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)

    targets: Mapped[list[WebhookTarget]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", order_by="WebhookTarget.id"
    )

    def __repr__(self) -> str:  # never the secret
        return f"<WebhookEndpoint {self.id} {self.url!r}>"


class WebhookTarget(Target, Model):
    """One list or one document an endpoint is registered for (as a subscription is to one)."""

    __tablename__ = "webhook_targets"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "list_id", name="uq_webhook_targets_endpoint_id_list_id"),
        UniqueConstraint("endpoint_id", "document_id", name="uq_webhook_targets_endpoint_id_document_id"),
        CheckConstraint(ONE_TARGET, name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"), index=True, default=None)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True, default=None)

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="targets")
    register_list: Mapped[RegisterList | None] = relationship()
    document: Mapped[Document | None] = relationship()


class WebhookDeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender until lease_until
    RETRYING = "retrying"  # a failed attempt; tried again at next_attempt_at
    SENT = "sent"  # the endpoint answered 2xx
    DEAD = "dead"  # gave up after the retry period, or the endpoint is gone (410)
    CANCELLED = "cancelled"  # the endpoint was disabled before it was delivered


class WebhookDelivery(Model):
    """One event owed to one endpoint, with the result of the last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One event reaches one endpoint once: a second fan-out of the same event inserts nothing.
        UniqueConstraint("endpoint_id", "event_key", name="uq_webhook_deliveries_endpoint_id_event_key"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    # The webhook-id header: the same on every attempt.
    message_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_message_id)
    event_type: Mapped[str] = mapped_column(String(40))
    # What the event is about, e.g. "notice.announced:42": unique per endpoint.
    event_key: Mapped[str] = mapped_column(String(120))
    # The JSON body as first written: every attempt posts (and signs) these very bytes.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        value_enum(WebhookDeliveryStatus, "webhook_delivery_status"), default=WebhookDeliveryStatus.QUEUED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The HTTP status of the last answer (None: no answer, e.g. refused or timed out).
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)

    endpoint: Mapped[WebhookEndpoint] = relationship()
