"""What a reader's request needs to know of a list before anything else: its id and revision.

The public pages are served from the render cache, keyed by the list's revision; looking the
revision up in the database on every request would cost more than serving the page. So each
process keeps the stamps for a short while (``LIST_STAMP_TTL`` seconds) and forgets all of them
whenever any session in this process commits: an editor sees their own change at once, and
another worker's change shows within the TTL (well inside the pages' ``max-age``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ListStamp:
    id: int
    slug: str
    revision: int
    changed_at: datetime
    # Also what validates a version number and names a version's page, without the list's row.
    title: str
    current_version: int

    @property
    def key(self) -> tuple[int, int, str]:
        """What names this state of the list in a cache key (a rebuilt database that reuses a
        revision number at another time gives other keys)."""
        return self.id, self.revision, self.changed_at.isoformat()


_generation = 0


@event.listens_for(Session, "after_commit")
def _forget_all(_session: Session) -> None:
    global _generation
    _generation += 1


class ListStamps:
    """Per-process stamps by slug, valid until the TTL passes or anything commits here."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[ListStamp | None, float, int]] = {}
        self._lock = threading.Lock()

    def get(self, slug: str, load: Callable[[str], ListStamp | None]) -> ListStamp | None:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(slug)
        if found is not None:
            stamp, fetched, generation = found
            if generation == _generation and now - fetched < self.ttl:
                return stamp
        generation = _generation
        stamp = load(slug)
        with self._lock:
            if len(self._entries) > 1000:  # unknown slugs are remembered too; keep it bounded
                self._entries.clear()
            self._entries[slug] = (stamp, now, generation)
        return stamp
