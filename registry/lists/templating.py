"""What every template needs of lists: the labels of their codes, their fields' values as
text, and their stable URLs. Registered on the app when the lists' blueprint is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask.blueprints import BlueprintSetupState

from registry.countries import country_name
from registry.lists.fields import (
    FIELD_LABELS,
    KIND_LABELS,
    KIND_PLURALS,
    TRANSFER_MECHANISMS,
    transfer_warning,
)
from registry.lists.links import list_url
from registry.lists.wording import change_headline, notice_title
from registry.publishing.wording import deadline_text
from registry.templating import format_date


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
    if field == "transfer_mechanisms":
        return ", ".join(TRANSFER_MECHANISMS.get(code, code) for code in value)
    if field == "since":
        return format_date(value)
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def deadline(value: object) -> str:
    """An objection deadline as the last day it is open (the publication core's one wording);
    anything but a moment (a template given no notice) reads "not set", never an error."""
    return deadline_text(value if isinstance(value, datetime) else None)


def register(state: BlueprintSetupState) -> None:
    env = state.app.jinja_env
    env.filters["field_value"] = field_value
    env.filters["deadline"] = deadline
    env.globals.update(
        list_url=list_url,
        change_headline=change_headline,
        notice_title=notice_title,
        transfer_warning=transfer_warning,
        KIND_LABELS=KIND_LABELS,
        KIND_PLURALS=KIND_PLURALS,
        TRANSFER_MECHANISMS=TRANSFER_MECHANISMS,
        FIELD_LABELS=FIELD_LABELS,
    )
