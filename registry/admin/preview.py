"""How changes and notices read to a person: subject lines, before/after, countdowns.

Presentation only; the rules (notice period, objection deadline, who may approve) stay in
``registry.lists.workflow``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from registry.countries import country_name
from registry.lists.models import Change, ChangeAction, ChangeStatus

_KIND_WORDS = {"subprocessor": "sub-processor", "subcontractor": "subcontractor", "affiliate": "affiliate"}


def change_sides(change: Change) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(before, after) of a change: as published once applied, as proposed until then."""
    if change.status is ChangeStatus.APPLIED:
        return change.before, change.after
    after = None if change.action is ChangeAction.RETIRE else change.proposed
    return change.base, after


def _where(fields: dict[str, Any]) -> str:
    places = ", ".join(country_name(code) for code in fields.get("locations") or [])
    return f" ({places})" if places else ""


def change_headline(change: Change) -> str:
    """One change in words, e.g. "New sub-processor: Acme (United States)"."""
    before, after = change_sides(change)
    subject = after or before or {}
    kind = _KIND_WORDS.get(str(subject.get("kind")), "processor")
    name = subject.get("name", "")
    if change.action is ChangeAction.ADD:
        return f"New {kind}: {name}{_where(subject)}"
    old = (before or {}).get("name", "")
    if change.action is ChangeAction.RETIRE:
        return f"{kind.capitalize()} removed: {old}"
    if change.action is ChangeAction.REPLACE:
        return f"{kind.capitalize()} replaced: {old} by {name}{_where(subject)}"
    return f"{kind.capitalize()} updated: {name}"


def _briefly(change: Change) -> str:
    """One change in a few words, for a subject line naming several."""
    before, after = change_sides(change)
    name, old = (after or {}).get("name", ""), (before or {}).get("name", "")
    if change.action is ChangeAction.ADD:
        return f"{name} added{_where(after or {})}"
    if change.action is ChangeAction.RETIRE:
        return f"{old} removed"
    if change.action is ChangeAction.REPLACE:
        return f"{old} replaced by {name}{_where(after or {})}"
    return f"{name} updated"


def notice_subject(title: str, changes: Sequence[Change], effective_at: datetime) -> str:
    """The subject line subscribers will read, e.g. "New sub-processor: Acme (United States),
    effective 2027-01-15"; several changes are named briefly after their number."""
    when = f"effective {effective_at:%Y-%m-%d}"
    if len(changes) == 1:
        return f"{change_headline(changes[0])}, {when}"
    names = "; ".join(_briefly(c) for c in changes[:3])
    more = f"; and {len(changes) - 3} more" if len(changes) > 3 else ""
    return f"{len(changes)} changes to {title}: {names}{more}, {when}"


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
    """The deadline the notice will carry if published ``now`` (as ``workflow.announce`` sets it)."""
    return max(effective_at - timedelta(days=objection_closes_days_before), now)
