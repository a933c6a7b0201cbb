"""The objections table."""

from __future__ import annotations

import enum
import secrets
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


# A reference read aloud or copied by hand: no 0/O, 1/I/L to confuse. Eight of these 31 signs,
# in two groups of four ("K7QX-3M9P"), make 8.5 x 10^11 references.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 9


def random_reference() -> str:
    """A random reference, e.g. "K7QX-3M9P"; ``services.new_reference`` also makes it unused."""
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


class ObjectionStatus(enum.StrEnum):
    OPEN = "open"
    HANDLED = "handled"


class Objection(Model):
    """A customer's objection to the changes of one notice, sent before its objection deadline."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The internal id a browser's session and links carry (never the sequential id).
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # The reference quoted to the objector and by them, e.g. "K7QX-3M9P" (see random_reference).
    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), unique=True, default=random_reference)
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
