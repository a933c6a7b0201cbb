"""How a change and a notice read: one wording for the preview, the email, the feed and the audit.

The domains say what changed as plain ``ChangeWords`` (a list's entry, a document's revision);
the sentences are made here, once. An announce preview and the email it becomes therefore
carry the same subject, and the feed entry and the audit trail the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

TitleKind = Literal["announcement", "withdrawal", "correction", "in_effect"]
# How many changes a subject line names before it says "and N more".
NAMED_IN_SUBJECT = 3


@dataclass(frozen=True)
class ChangeWords:
    """One change, in the words of its domain.

    ``action`` is add, update, retire, replace or correct; ``noun`` what the thing is called
    ("sub-processor"); ``places`` where it processes, already in words; ``fields`` the labels of
    the fields an update or correction changes.
    """

    action: str
    noun: str
    name: str
    old_name: str = ""
    places: str = ""
    fields: tuple[str, ...] = field(default=())


def one_line(text: object) -> str:
    """Text on one line with single spaces, as a subject line or a feed title needs it."""
    return " ".join(str(text).split())


def headline(words: ChangeWords) -> str:
    """One change in words, e.g. "New sub-processor: Acme Analytics (United States)"."""
    name, noun = one_line(words.name), words.noun
    where = f" ({words.places})" if words.places else ""
    which = f" ({', '.join(words.fields)})" if words.fields else ""
    if words.action == "add":
        return f"New {noun}: {name}{where}"
    if words.action == "retire":
        return f"Removed {noun}: {name}"
    if words.action == "replace":
        return f"Replaced {noun}: {one_line(words.old_name)} by {name}{where}"
    if words.action == "correct":
        return f"Corrected {noun}: {name}{which}"
    return f"Changed {noun}: {name}{which}"


def brief(words: ChangeWords) -> str:
    """One change in a few words, for a subject line that names several."""
    name = one_line(words.name)
    where = f" ({words.places})" if words.places else ""
    if words.action == "add":
        return f"{name} added{where}"
    if words.action == "retire":
        return f"{name} removed"
    if words.action == "replace":
        return f"{one_line(words.old_name)} replaced by {name}{where}"
    if words.action == "correct":
        return f"{name} corrected"
    return f"{name} changed"


def what_changes(changes: Sequence[ChangeWords], collection: str) -> str:
    """What a notice changes: the one change's headline, or the count and the first few briefly."""
    if len(changes) == 1:
        return headline(changes[0])
    noun = "corrections" if all(c.action == "correct" for c in changes) else "changes"
    names = "; ".join(brief(c) for c in changes[:NAMED_IN_SUBJECT])
    more = len(changes) - NAMED_IN_SUBJECT
    return f"{len(changes)} {noun} to {collection}: {names}" + (f"; and {more} more" if more > 0 else "")


def title(what: str, kind: TitleKind, moment: datetime | None) -> str:
    """The one line a notice is known by (email subject, feed title, preview, audit), e.g.
    "New sub-processor: Acme (United States), effective 2027-01-15".

    ``moment`` is the effective date (announcement, withdrawal) or when it took effect.
    """
    when = day(moment)
    if kind == "withdrawal":
        return f"Withdrawn: {what} (was to take effect {when})"
    if kind == "correction":
        return f"Correction: {what}, in effect since {when}"
    if kind == "in_effect":
        return f"{what}, in effect since {when}"
    return f"{what}, effective {when}"


def day(moment: datetime | None) -> str:
    """A date without ambiguity in any language: 2027-01-15 (UTC)."""
    return moment.astimezone(UTC).date().isoformat() if moment else "a date to be set"


def moment_text(moment: datetime | None) -> str:
    """A moment as readers read it: "15 January 2027, 00:00 UTC"."""
    if moment is None:
        return "not set"
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M} UTC"


def deadline_text(moment: datetime | None) -> str:
    """The last moment to object, as the last day it is open: "18 December 2026, end of day UTC".

    Deadlines are inclusive and usually fall at midnight UTC, where "19 December, 00:00" reads
    as the 19th being open when it is not: a deadline in the first minute of a day is shown as
    the end of the day before (which closes no later than the deadline). Any other deadline (a
    short-notice change, closed the moment it was announced) is shown to the minute, cut down,
    never rounded up: "18 December 2026, 14:30 UTC". Pages, emails, feeds and exports of a
    deadline in words all use this, so none reads a day late.
    """
    if moment is None:
        return "not set"
    moment = moment.astimezone(UTC)
    if moment.hour == 0 and moment.minute == 0:
        last_day = last_day_to_object(moment)
        return f"{last_day.day} {last_day:%B %Y}, end of day UTC"
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M} UTC"


def last_day_to_object(moment: datetime) -> date:
    """The last day (UTC) objections are open for a deadline at ``moment``: the day
    ``deadline_text`` names, so a calendar's deadline event falls on the day the page says."""
    moment = moment.astimezone(UTC)
    if moment.hour == 0 and moment.minute == 0:
        return moment.date() - timedelta(days=1)
    return moment.date()
