"""How dates read to an editor: countdowns, and the deadline a notice would carry.

Presentation only; the rules (notice period, objection deadline, who may approve) are in
``registry.publishing``, and the wording of a change in ``registry.lists.wording``.
"""

from __future__ import annotations

from datetime import datetime

from registry.publishing import rules


def countdown(moment: datetime | None, now: datetime) -> str:
    """How long until ``moment``, in words: "in 12 days", "in 5 hours", "due now"."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "due now"
    days, hours = int(seconds // 86400), int(seconds // 3600)
    if days >= 2:
        return f"in {days} days"
    if hours >= 2:
        return f"in {hours} hours"
    minutes = max(1, int(seconds // 60))
    return f"in {minutes} minute{'s' if minutes != 1 else ''}" if hours < 1 else "in about an hour"


def objection_deadline(objection_closes_days_before: int, effective_at: datetime, now: datetime) -> datetime:
    """The deadline the notice will carry if published ``now`` (the core's rule)."""
    return rules.objection_deadline(effective_at, objection_closes_days_before, now)
