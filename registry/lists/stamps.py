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

from registry import replay
from registry.database import commits


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
            if generation == commits() and now - fetched < self.ttl:
                replay.made_from(fetched)
                return stamp
        generation = commits()
        stamp = load(slug)
        replay.made_from(now)
        with self._lock:
            if len(self._entries) > 1000:  # unknown slugs are remembered too; keep it bounded
                self._entries.clear()
            self._entries[slug] = (stamp, now, generation)
        return stamp


class VersionTimes:
    """Per-process publication times of versions, by list and number.

    A version never changes once published, so its time is read from the database once per
    process and then known: a revalidation of a version or a diff sends no query at all. (A
    database restored from a backup under running workers is the one case this cannot see:
    restart them, as for any restore.)
    """

    def __init__(self, size: int = 100_000):
        self.size = size
        self._times: dict[tuple[int, int], datetime] = {}
        self._lock = threading.Lock()

    def get(
        self,
        list_id: int,
        numbers: list[int],
        load: Callable[[int, list[int]], dict[int, datetime]],
    ) -> dict[int, datetime]:
        with self._lock:
            known = {n: self._times[(list_id, n)] for n in numbers if (list_id, n) in self._times}
        missing = [n for n in numbers if n not in known]
        if missing:
            loaded = load(list_id, missing)
            with self._lock:
                if len(self._times) + len(loaded) > self.size:
                    self._times.clear()
                self._times.update({(list_id, n): moment for n, moment in loaded.items()})
            known.update(loaded)
        return known
