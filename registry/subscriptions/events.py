"""What subscribing tells the layers above it (``registry.events``): the outbox owes messages
and cancels them, privacy forgets what an address left behind.

The sender is the ``Subscriber``; receivers get ``session`` and ``now`` and act in that session.
"""

from __future__ import annotations

from registry.events import Namespace, emit

__all__ = [
    "data_requested",
    "emit",
    "erasure_requested",
    "link_requested",
    "message_owed",
    "subscriber_left",
    "subscribers_merging",
    "subscribers_purged",
    "subscription_ended",
]

_events = Namespace()

# The subscriber is owed one message: ``purpose`` "confirmation" (with ``context``: what it asked
# for, or a new ``address`` to confirm) or "manage_link" (a fresh link asked for at /subscription
# goes through ``link_requested`` instead, which does the same work for unknown addresses).
message_owed = _events.signal("subscriber-message-owed")
# Someone asked for a fresh manage link for an address (the sender: the normalised address,
# known or not). The outbox is owed it in one statement that finds the subscriber, if any.
link_requested = _events.signal("subscriber-link-requested")
# The subscriber left every list and document (``reason``): nothing more is owed to it.
subscriber_left = _events.signal("subscriber-left")
# The subscriber left some lists and documents (``lists``, ``documents``: sets of ids).
subscription_ended = _events.signal("subscription-ended")
# ``other`` is about to be merged into the sender (the same address, confirmed twice).
subscribers_merging = _events.signal("subscribers-merging")
# The subscribers (the sender: a list of them), never confirmed, are about to be deleted: what
# they left behind goes first, for all of them at once (a batch of a purge).
subscribers_purged = _events.signal("subscribers-purged")

# Asked by the subscriber's own pages, answered by the privacy area (which sees every table):
# everything held about the subscriber's address, as a receiver's return value...
data_requested = _events.signal("subscriber-data-requested")
# ...and its erasure everywhere, at the subscriber's own request (``reason``).
erasure_requested = _events.signal("subscriber-erasure-requested")
