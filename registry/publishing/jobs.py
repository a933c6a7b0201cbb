"""The loop that puts due publications in force, shared by lists and documents.

Each due item is applied and committed on its own, so one that fails (a conflict, a lost race
with another worker, a busy database) leaves the others applied and is retried by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.publishing.rules import ConflictError

log = logging.getLogger(__name__)
T = TypeVar("T")


def apply_due(
    session: Session,
    now: datetime,
    *,
    due: Callable[[Session, datetime], list[int]],
    apply: Callable[[Session, int, datetime], T | None],
    what: str,
) -> list[T]:
    """Apply every item ``due`` names with ``apply``, one transaction each; what was applied.

    ``apply`` returns None when there was nothing to do (another worker did it first), which is
    not an error. Safe to run twice and in two processes at once.
    """
    ids = due(session, now)
    session.rollback()  # the list was read; each item starts its own transaction
    done: list[T] = []
    for item_id in ids:
        try:
            result = apply(session, item_id, now)
            session.commit()
        except (ConflictError, SQLAlchemyError):
            session.rollback()
            log.exception("could not apply %s %s; it will be retried", what, item_id)
            continue
        if result is not None:
            done.append(result)
            log.info("applied %s %s", what, item_id)
    return done
