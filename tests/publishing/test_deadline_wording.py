"""An objection deadline in words: the last day it is open when it falls at midnight UTC, its
exact time otherwise, and never a moment later than the deadline itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from registry.publishing.wording import deadline_text


@pytest.mark.parametrize(
    ("deadline", "words"),
    [
        # Midnight: the 19th at 00:00 is the end of the 18th.
        (datetime(2026, 12, 19, tzinfo=UTC), "18 December 2026, end of day UTC"),
        # Across a month and a year.
        (datetime(2027, 1, 1, tzinfo=UTC), "31 December 2026, end of day UTC"),
        (datetime(2027, 3, 1, tzinfo=UTC), "28 February 2027, end of day UTC"),
        # Within the first minute: the day before still closes no later than the deadline.
        (datetime(2026, 12, 19, 0, 0, 42, tzinfo=UTC), "18 December 2026, end of day UTC"),
        # A short-notice change: the exact time, seconds cut (earlier, never later).
        (datetime(2026, 12, 18, 14, 30, 59, tzinfo=UTC), "18 December 2026, 14:30 UTC"),
        (datetime(2026, 12, 19, 0, 1, tzinfo=UTC), "19 December 2026, 00:01 UTC"),
        (datetime(2026, 12, 18, 23, 59, tzinfo=UTC), "18 December 2026, 23:59 UTC"),
        # Given in another zone, read in UTC.
        (
            datetime(2026, 12, 19, 1, 0, tzinfo=timezone(timedelta(hours=1))),
            "18 December 2026, end of day UTC",
        ),
        (None, "not set"),
    ],
)
def test_a_deadline_reads_as_the_last_moment_it_is_open(deadline: datetime | None, words: str) -> None:
    assert deadline_text(deadline) == words
