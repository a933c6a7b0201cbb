"""What every template can use: labels for codes, date formats, and stable list URLs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask

from registry.countries import all_countries, country_name
from registry.lists.fields import FIELD_LABELS, KIND_LABELS, KIND_PLURALS, TRANSFER_MECHANISMS
from registry.lists.views import list_url


def format_date(value: date | datetime | str | None) -> str:
    """Dates as readers everywhere read them without ambiguity: 15 January 2027."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {value:%B %Y}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{format_date(value)}, {value:%H:%M} UTC"


def field_value(field: str, value: Any) -> str:
    """A field's value as text, with codes replaced by what they mean."""
    if value is None or value == "" or value == []:
        return "—"
    if field == "locations":
        return ", ".join(country_name(code) for code in value)
    if field == "corporate_location":
        return country_name(value)
    if field == "kind":
        return KIND_LABELS.get(value, value)
    if field == "transfer_mechanism":
        return TRANSFER_MECHANISMS.get(value, value)
    if field == "since":
        return format_date(value)
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=format_date, datetime=format_datetime, country=country_name, field_value=field_value
    )
    app.jinja_env.globals.update(
        list_url=list_url,
        all_countries=all_countries,
        KIND_LABELS=KIND_LABELS,
        KIND_PLURALS=KIND_PLURALS,
        TRANSFER_MECHANISMS=TRANSFER_MECHANISMS,
        FIELD_LABELS=FIELD_LABELS,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def site() -> dict[str, Any]:
        return {"company_name": app.config["COMPANY_NAME"]}
