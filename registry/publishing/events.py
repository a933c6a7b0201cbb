"""What a publication tells the layers above it (``registry.events``).

The sender is the published thing (a list's ``Notice``, a document's ``DocumentRevision``);
receivers get ``session`` and ``now`` as keywords and owe their messages in that session, so a
notice and its outbox rows commit or roll back together.
"""

from __future__ import annotations

from registry.events import Namespace, emit

__all__ = ["announced", "applied", "corrected", "emit", "withdrawn"]

_events = Namespace()

# Made public ahead of its effective date (announced, or approved): readers are owed the notice.
announced = _events.signal("publication-announced")
# An announced publication cancelled before it took effect. For a list the sender is the
# withdrawal notice (``withdraws`` is the announcement); for a document, the revision.
withdrawn = _events.signal("publication-withdrawn")
# An announced publication took effect; ``version`` is what it made, where the domain has one.
applied = _events.signal("publication-applied")
# Published at once without notice (a correction): readers are told, with nothing to object to.
corrected = _events.signal("publication-corrected")
