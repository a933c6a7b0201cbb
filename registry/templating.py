"""What every template can use: date formats and country names.

The domains add their own (a list's labels and URLs) when their blueprint is registered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask

from registry.countries import all_countries, country_name
from registry.timeutil import rfc3339

# English month names, whatever the process's locale (``%B`` follows it, and is slow).
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip


def format_date(value: date | datetime | str | None) -> str:
    """Dates as readers everywhere read them without ambiguity: 15 January 2027."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if not isinstance(value, date):
        # Not a date (a template rendered with every variable left undefined): its own text.
        return str(value)
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{format_date(value)}, {value:%H:%M} UTC"


def machine_time(value: date | datetime | None) -> str:
    """The value of a ``<time datetime>`` attribute: one HTML accepts (a valid global date and time
    string, so seconds at most and ``Z``; ``isoformat()`` gives microseconds and ``+00:00``), or a
    plain date for a date."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return rfc3339(value)
    return value.isoformat()


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=format_date, datetime=format_datetime, machine_time=machine_time, country=country_name
    )
    app.jinja_env.globals.update(all_countries=all_countries)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def site() -> dict[str, Any]:
        return {"company_name": app.config["COMPANY_NAME"]}
