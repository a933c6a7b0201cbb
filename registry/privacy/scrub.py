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

from sqlalchemy import ColumnElement, null, or_, select, update
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
    return scrub_everywhere_many(session, [address]).get(address, 0)


def scrub_everywhere_many(session: Session, addresses: Iterable[str]) -> dict[str, int]:
    """Replace each of ``addresses`` in every error text of the outbox and of subscribers;
    returns, for each address, how many texts changed because of it.

    One read of each table for them all, whatever their number (the texts that hold an "@" at
    all), and the addresses found in Python (``_Needles``): erasing a batch of addresses costs
    about what erasing one did, not one scan of every table per address."""
    wanted = list(dict.fromkeys(address for address in addresses if address))
    changed = dict.fromkeys(wanted, 0)
    if not wanted:
        return changed
    needles = _Needles(wanted)
    for column, key in TEXT_COLUMNS:
        table = column.class_
        rows = session.execute(select(key, column).where(column.is_not(None), column.contains("@"))).all()
        for row_id, text in rows:
            cleaned = text
            for address in needles.found_in((text or "").lower()):
                scrubbed = scrub_text(cleaned, [address])
                if scrubbed != cleaned:
                    changed[address] += 1
                    cleaned = scrubbed
            if cleaned == text:
                continue
            session.execute(
                update(table)
                .where(key == row_id)
                .values({column.key: cleaned})
                .execution_options(synchronize_session=False)
            )
    return changed


class _Needles:
    """Which of many addresses (lower case) a text contains, in time that does not grow with
    their number.

    An address has no white space, so one found in a text lies inside one run of non-space
    characters, across an "@" of it: for each "@" of each run, the domains that start right
    after it are looked up, then the local parts that end right before it. An address that does
    not have that shape (white space, a second "@") is looked for as it is.
    """

    def __init__(self, addresses: Iterable[str]):
        self.locals: dict[str, set[str]] = {}
        self.others: list[str] = []
        for address in addresses:
            local, at, domain = address.rpartition("@")
            if at and local and domain and "@" not in local and not any(c.isspace() for c in address):
                self.locals.setdefault(domain, set()).add(local)
            else:
                self.others.append(address)
        self.domain_lengths = sorted({len(domain) for domain in self.locals})

    def found_in(self, lowered: str) -> set[str]:
        found = {address for address in self.others if address in lowered}
        for run in lowered.split():
            at = run.find("@")
            while at != -1:
                before, after = run[:at], run[at + 1 :]
                for length in self.domain_lengths:
                    if length > len(after):
                        break
                    locals_ = self.locals.get(after[:length])
                    if locals_:
                        found.update(
                            f"{before[start:]}@{after[:length]}"
                            for start in range(len(before))
                            if before[start:] in locals_
                        )
                at = run.find("@", at + 1)
        return found


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
