"""Removing an address from the records that keep it in passing: the outbox's links and contexts,
and the error texts a mail server wrote (SMTP replies often quote the recipient, "550 5.1.1
<ada@example.com>: user unknown").

Only tables and SQL here, no services: the privacy services (erasure, retention) and the
privacy area's handlers of subscribers' events (a corrected address, the purge of sign-ups never
confirmed) share it. Callers commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, null, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from registry.notifications.models import DeliveryAttempt, Notification
from registry.subscriptions.models import Subscriber

# What stands where an address, a name or a text was: visibly gone, and no address itself.
ERASED = "[erased]"
# The texts that may quote an address, and the column that identifies their rows.
TEXT_COLUMNS: tuple[tuple[InstrumentedAttribute[str | None], InstrumentedAttribute[int]], ...] = (
    (Notification.last_error, Notification.id),
    (DeliveryAttempt.error, DeliveryAttempt.id),
    (Subscriber.bounce_reason, Subscriber.id),
)


def _like(column: InstrumentedAttribute[str | None], needle: str) -> ColumnElement[bool]:
    """Case-insensitive "contains", with the LIKE wildcards an address may hold (``_``) escaped.

    A candidate test only: SQLite's lower() folds ASCII letters only, so each letter beyond ASCII
    (an internationalised domain's) matches any one character, and the caller checks the rows
    found in Python (``scrub_text``), where case folding knows every alphabet.
    """
    escaped = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = "".join(ch if ch.isascii() else "_" for ch in escaped)
    return func.lower(column).like(f"%{pattern}%", escape="\\")


def scrub_text(text: str | None, needles: Iterable[str]) -> str | None:
    """``text`` with every occurrence of each needle (any case) replaced by ``ERASED``."""
    if text is None:
        return None
    for needle in needles:
        if needle:
            text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return text


def scrub_everywhere(session: Session, address: str) -> int:
    """Replace ``address`` in every error text of the outbox and of subscribers; returns how many
    texts changed. Rows are found in SQL, so only the few that quote it are loaded."""
    changed = 0
    for column, key in TEXT_COLUMNS:
        table = column.class_
        rows = session.execute(select(key, column).where(_like(column, address))).all()
        for row_id, text in rows:
            cleaned = scrub_text(text, [address])
            if cleaned == text:  # a candidate only (see ``_like``)
                continue
            session.execute(
                update(table)
                .where(key == row_id)
                .values({column.key: cleaned})
                .execution_options(synchronize_session=False)
            )
            changed += 1
    return changed


def holds_address() -> ColumnElement[bool]:
    """Notifications whose context names an address: a correction's confirmation to a new one."""
    return Notification.context["address"].as_string().is_not(None)


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
