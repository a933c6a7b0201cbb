"""Timezone-aware UTC time: the one clock every service takes, and a column type that keeps it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; services take a ``now`` so tests can pass any moment instead."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Format for JSON and feeds: seconds precision, explicit ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; a value without an offset is refused, not guessed."""
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone offset, e.g. 2027-01-15T00:00:00Z")
    return moment.astimezone(UTC)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)
_AT_FORMS = "as YYYY-MM-DD (for example 2025-06-30) or as an RFC 3339 time (for example 2025-06-30T12:00:00Z)"


def parse_at(text: str) -> tuple[datetime, date | None]:
    """The moment a reader's ``at`` names, in UTC, and the day when only a day was given.

    A day stands for its end (UTC): what was in force on it, after its last change. A time stands
    for itself and must say its offset. Anything else, or a moment outside the calendar once in
    UTC, is a ``ValueError`` whose message says how to write one.
    """
    text = text.strip()
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            try:
                return start_of_day(day) + timedelta(days=1) - timedelta(microseconds=1), day
            except OverflowError:  # 9999-12-31: its end is the end of the calendar
                return datetime.max.replace(tzinfo=UTC), day
        match = _TIME.fullmatch(text)
        if match and not match.group("offset"):
            raise ValueError(f"The time “{text[:40]}” needs a time zone offset, for example Z or +02:00.")
        if match:
            return parse_rfc3339(text[:10] + "T" + text[11:]), None
    except OverflowError:
        raise ValueError(
            f"“{text[:40]}” is outside the calendar once in UTC; write it {_AT_FORMS}."
        ) from None
    except ValueError as error:
        if "time zone" in str(error):
            raise
    raise ValueError(f"The date must be written {_AT_FORMS}, not “{text[:40]}”.")


def start_of_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes on every database (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
