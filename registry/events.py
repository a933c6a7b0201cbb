"""Domain events: how a lower layer tells the layers above it that something happened.

The layers point one way (the core at the bottom, domains above it, notifications, privacy,
then admin and the API on top). When a domain needs something done above it (an email owed
when a notice is announced or a subscriber asks for a link), it sends a blinker signal; the
upper layer subscribes to it in the app factory. Receivers run synchronously, in the caller's
database session, so what they write commits or rolls back with what caused it.

``emit`` refuses to send a signal nobody listens to: an event with nobody to handle it would be
a notice that silently reaches nobody, so it fails loudly instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blinker import NamedSignal, Namespace
from sqlalchemy.orm import Session

__all__ = ["Namespace", "NobodyListening", "emit"]


class NobodyListening(RuntimeError):
    """An event was sent before anything subscribed to it (the app was not built)."""


def emit(signal: NamedSignal, sender: Any, *, session: Session, now: datetime, **details: Any) -> list[Any]:
    """Send ``signal`` about ``sender`` to every receiver, in the caller's transaction.

    Returns what the receivers returned, in no particular order.
    """
    if not signal.receivers:
        raise NobodyListening(f"nothing handles the {signal.name!r} event; build the app first")
    return [value for _receiver, value in signal.send(sender, session=session, now=now, **details)]
