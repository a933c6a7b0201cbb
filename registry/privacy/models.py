"""What the retention job did, run by run (shown to admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import UTCDateTime, utcnow


class RetentionRun(Model):
    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # What was purged or anonymised, per kind of record, e.g. {"unconfirmed_subscribers": 3}.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
