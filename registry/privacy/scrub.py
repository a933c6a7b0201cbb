"""Removing an address from the records that keep it in passing: the outbox's links, contexts and
error texts, and the texts a person typed.

What a mail server or a webhook receiver answered never holds an address (SMTP replies often
quote the recipient, "550 5.1.1 <ada@example.com>: user unknown"): it is redacted where it is
recorded (``registry.redaction``). So an erasure clears only the rows that belong to the erased
subscriber, found by key, and never reads other rows' texts.

Only tables and SQL here, no services: the privacy services (erasure, retention) and the
privacy area's handler of the purge of sign-ups never confirmed share it. Callers commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, null, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from registry.notifications.models import CONTEXT_ADDRESS, DeliveryAttempt, Notification

# What stands where an address, a name or a text was: visibly gone, and no address itself.
ERASED = "[erased]"


def scrub_text(text: str | None, needles: Iterable[str]) -> str | None:
    """``text`` with every occurrence of each needle (any case) replaced by ``ERASED``: for the
    texts a person typed (an objection's reason, an admin's reason for an erasure). Error texts
    need none of this: they are stored without addresses (``registry.redaction``)."""
    if text is None:
        return None
    for needle in needles:
        # Most texts quote none of the needles: a comparison folded for case (never narrower
        # than the pattern's) spares compiling a pattern for each, a third of an erasure's cost.
        if needle and needle.casefold() in text.casefold():
            text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return text


class _ContextAddress(ColumnElement[str]):
    """``CONTEXT_ADDRESS`` in each database's own words, as the partial index
    ``ix_notifications_address_created_at`` says it (a JSON path of SQLAlchemy's would be a bound
    parameter, which no index matches)."""

    type = String()
    inherit_cache = True


@compiles(_ContextAddress)
def _context_address(_element: _ContextAddress, compiler: SQLCompiler, **_: Any) -> str:
    return CONTEXT_ADDRESS[compiler.dialect.name]


def holds_address() -> ColumnElement[bool]:
    """Notifications whose context names an address: an address change's confirmation to the new
    one. Found through their partial index, whatever the size of the outbox."""
    return _ContextAddress().is_not(None)


def forget_deliveries(session: Session, notification_ids: ColumnElement[bool]) -> int:
    """Anonymise the notifications matching ``notification_ids`` (a condition on Notification):
    no subscriber, no context (a new address, lists asked for), no error texts, on them and on
    their attempts. What was sent, of which notice, when and with what result stays countable.
    Returns how many notifications changed."""
    ids = select(Notification.id).where(notification_ids).scalar_subquery()
    session.execute(
        update(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id.in_(ids), DeliveryAttempt.error.is_not(None))
        .values(error=None)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Notification)
        .where(
            notification_ids,
            or_(
                Notification.subscriber_id.is_not(None),
                Notification.last_error.is_not(None),
                holds_address(),
            ),
        )
        .values(subscriber_id=None, last_error=None, context=null())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined]
