"""What the calendars of lists and documents share: all-day events written by ``icalendar``.

A legal team subscribes to a calendar instead of copying objection deadlines by hand. Each event
is an all-day event (RFC 5545 ``VALUE=DATE``) with a UID that names the installation, the thing
announced and the kind of event, so every fetch gives the same UIDs and a calendar client updates
an event in place: a withdrawal keeps the UID, raises SEQUENCE and says ``STATUS:CANCELLED``,
which makes subscribed calendars strike or drop it. All text goes through the library, which
escapes it; nothing here builds calendar lines by hand.

The output depends on the database, the settings and the day (the window of past events), never
on the request: the same state on the same day gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from registry import replay
from registry.links import mail_domain

if TYPE_CHECKING:
    from icalendar import Event

MIMETYPE = "text/calendar"
# Events of changes that took effect stay this long, so the calendar keeps a year of history.
PAST_DAYS = 365
# A calendar client should ask again this often (RFC 7986 REFRESH-INTERVAL).
REFRESH_INTERVAL = timedelta(hours=6)

EventKind = Literal["effective", "deadline"]


@dataclass(frozen=True)
class CalendarEvent:
    """One all-day event, in the words of its domain; ``render_calendar`` writes it."""

    uid: str
    day: date
    summary: str
    description: str
    url: str
    # When what the event says last changed (DTSTAMP, LAST-MODIFIED) and when it was first told.
    changed: datetime
    created: datetime
    # Raised at every change of date or status, so clients replace their copy.
    sequence: int = 0
    cancelled: bool = False


def event_uid(kind: EventKind, *names: str | int) -> str:
    """A UID no other installation can produce: ``notice-12.sub-processors.deadline@host``.

    ``names`` say what the event is about, most specific first (the notice, then its list).
    """
    return ".".join([*(str(name) for name in names), kind]) + f"@{mail_domain()}"


def keeps(event_day: date, today: date, *, cancelled: bool) -> bool:
    """Whether a calendar still shows an event: a cancelled one until its day has passed (long
    enough for every subscribed calendar to see the cancellation), any other for a year."""
    if cancelled:
        return event_day >= today
    return event_day >= today - timedelta(days=PAST_DAYS)


def start_of(today: date) -> datetime:
    """Midnight UTC of ``today``: when the window of a day's calendar last moved."""
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def calendar_day(now: datetime) -> date:
    """The day a calendar answered at ``now`` is made for (its window starts then); the answer is
    never replayed past that day's end, when the window moves (``registry.replay``)."""
    today = now.date()
    replay.changes_in((start_of(today) + timedelta(days=1) - now).total_seconds())
    return today


def render_calendar(name: str, description: str, source: str, events: Sequence[CalendarEvent]) -> bytes:
    """The calendar as iCalendar bytes (UTF-8, CRLF lines folded by the library)."""
    # Imported here: icalendar's eighty modules take 25 ms, needed by a calendar's request only.
    from icalendar import Calendar, vDuration, vText

    calendar = Calendar()
    calendar.add("prodid", "-//Processor Registry//Calendars//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    # RFC 7986's names, and the X-WR- ones that older clients read instead. The library does not
    # know the types of these, so each says it: text (escaped) or a duration.
    for prop in ("name", "x-wr-calname"):
        calendar.add(prop, vText(name))
    for prop in ("description", "x-wr-caldesc"):
        calendar.add(prop, vText(description))
    calendar.add("source", source, parameters={"VALUE": "URI"})
    calendar.add("refresh-interval", vDuration(REFRESH_INTERVAL), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    for item in sorted(events, key=lambda e: (e.day, e.uid)):
        calendar.add_component(_event(item))
    return calendar.to_ical()


def _event(item: CalendarEvent) -> Event:
    from icalendar import Event  # see render_calendar

    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", _second(item.changed))
    event.add("created", _second(item.created))
    event.add("last-modified", _second(item.changed))
    event.add("sequence", item.sequence)
    event.add("dtstart", item.day)
    event.add("dtend", item.day + timedelta(days=1))
    event.add("summary", item.summary)
    event.add("description", item.description)
    event.add("url", item.url, parameters={"VALUE": "URI"})
    event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
    # A deadline is a reminder, not a meeting: it never shows the day as busy.
    event.add("transp", "TRANSPARENT")
    return event


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)
