"""What an objection tells the layers above it (``registry.events``): the objector is owed a
receipt. The sender is the ``Objection``; receivers get ``session`` and ``now``."""

from __future__ import annotations

from registry.events import Namespace, emit

__all__ = ["emit", "objection_received"]

_events = Namespace()

objection_received = _events.signal("objection-received")
