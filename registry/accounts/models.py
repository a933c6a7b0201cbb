"""Users (editors and admins) and their API tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow


class Role(enum.StrEnum):
    EDITOR = "editor"
    ADMIN = "admin"


class User(Model):
    """An account manager who signs in. Admins can do everything editors can."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="user_role",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Part of the session identifier: bumping it signs the user out everywhere (password change,
    # deactivation, role change).
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    # TOTP second factor: the shared secret once enrolment is confirmed, and hashed recovery codes.
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    # The last time step a code was accepted for: a code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set by an admin: this user must enrol a second factor before using the admin pages.
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    def can(self, role: Role) -> bool:
        """Whether this user holds ``role`` or a stronger one."""
        return self.active and (self.role is Role.ADMIN or self.role is role)

    # Flask-Login's protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def must_enrol_second_factor(self) -> bool:
        return self.totp_required and not self.totp_secret

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": str(self.role),
            "active": self.active,
            "second_factor": self.totp_secret is not None,
            "second_factor_required": self.totp_required,
        }


class ApiToken(Model):
    """A bearer token for the admin API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in lists so a person can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(back_populates="tokens")
