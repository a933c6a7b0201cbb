"""Claiming rows of an outbox with a lease, and the backoff between attempts.

Both outboxes (the emails in ``notifications``, the webhook deliveries in ``webhooks``) claim
their due rows with the same statement: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
LOCKED) RETURNING id``. On PostgreSQL two senders skip each other's rows; on SQLite the write lock
serialises them. A sender that dies leaves its rows ``sending`` until the lease ends, when any
sender may claim them again. Kept in the core so that the two areas share it without one
importing the other.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def claim(
    session: Session,
    model: Any,
    *,
    due: Iterable[Any],
    sending: Any,
    now: datetime,
    worker: str,
    limit: int,
    lease_seconds: int,
    where: ColumnElement[bool] | None = None,
) -> list[int]:
    """Take up to ``limit`` rows of ``model`` for ``worker`` until the lease ends; caller commits.

    A row is due when its status is one of ``due`` and its ``next_attempt_at`` has come, or when
    it is ``sending`` under a lease that has ended. ``where`` narrows the rows further.
    """
    is_due = or_(
        and_(model.status.in_(tuple(due)), model.next_attempt_at <= now),
        and_(model.status == sending, model.lease_until < now),
    )
    candidates = (
        select(model.id)
        .where(is_due, where if where is not None else true())
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(model)
        .where(model.id.in_(candidates.scalar_subquery()))
        .values(status=sending, lease_until=now + timedelta(seconds=lease_seconds), claimed_by=worker)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement).all())


def held_by(model: Any, row_id: int, *, worker: str, sending: Any) -> ColumnElement[bool]:
    """The row ``row_id`` of ``model``, only while ``worker`` still holds its claim."""
    return and_(model.id == row_id, model.status == sending, model.claimed_by == worker)


def release(db: Session | Connection, model: Any, row_ids: list[int], *, worker: str, states: Any) -> None:
    """Give back claimed rows that were not tried, due at once for the next sender: ``RETRYING``
    if they were tried before, else ``QUEUED`` (members of ``states``, the model's status enum).
    Rows that ``worker`` no longer holds are left alone."""
    if not row_ids:
        return
    db.execute(
        update(model)
        .where(model.id.in_(row_ids), model.status == states.SENDING, model.claimed_by == worker)
        .values(
            status=case((model.attempts > 0, states.RETRYING.value), else_=states.QUEUED.value),
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def cancel(
    db: Session | Connection, model: Any, row_id: int, reason: str, *, worker: str, states: Any
) -> None:
    """A claimed row that is no longer owed: ``CANCELLED``, with ``reason`` as its last error."""
    db.execute(
        update(model)
        .where(held_by(model, row_id, worker=worker, sending=states.SENDING))
        .values(status=states.CANCELLED, lease_until=None, last_error=reason)
    )


def backoff(attempts: int, first: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries so a recovering server is not stampeded."""
    ceiling = min(cap, first * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  # jitter, not a secret


def worker_name() -> str:
    """Who holds a claim: host, process and a random part (two senders in one process differ)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
