"""The objections table."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.database import value_enum
from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow

if TYPE_CHECKING:
    from registry.accounts.models import User
    from registry.lists.models import Notice


class ObjectionStatus(enum.StrEnum):
    OPEN = "open"
    HANDLED = "handled"


class Objection(Model):
    """A customer's objection to the changes of one notice, sent before its objection deadline."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The reference quoted back to the objector (never the sequential id).
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[ObjectionStatus] = mapped_column(
        value_enum(ObjectionStatus, "objection_status"), default=ObjectionStatus.OPEN
    )
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    handled_note: Mapped[str | None] = mapped_column(Text, default=None)

    notice: Mapped[Notice] = relationship()
    handled_by: Mapped[User | None] = relationship()
