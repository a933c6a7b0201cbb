"""What every template needs of lists: the labels of their codes, their fields' values as
text, and their stable URLs. Registered on the app when the lists' blueprint is."""

from __future__ import annotations

from datetime import datetime

from flask.blueprints import BlueprintSetupState

from registry.lists.diff import field_changes
from registry.lists.fields import (
    DETAIL_FIELDS,
    FIELD_LABELS,
    KIND_LABELS,
    KIND_PLURALS,
    TRANSFER_MECHANISMS,
    field_value,
    transfer_warning,
)
from registry.lists.links import external_list_url, list_url
from registry.lists.rows import RowCache, countries_of, entry_groups, entry_rows
from registry.lists.wording import change_headline, notice_title
from registry.publishing.wording import deadline_text


def _count(number: int, one: str, many: str) -> str:
    return f"1 {one}" if number == 1 else f"{number} {many}"


def search_summary(q: str, narrowed: object, shown: int, total: int, upcoming: int) -> str:
    """What a filtered list page found, in a sentence (its status line, read out when it changes):
    "3 of 12 entries match “United States”. 1 upcoming change matches."

    ``narrowed`` says whether a kind or country filter applies as well as the search text.
    """
    if q:
        found = f"{shown} of {total} entries" if shown else "No entry"
        verb = "match" if shown > 1 else "matches"
        also = " and the other filters" if narrowed else ""
        text = f"{found} {verb} “{q}”{also}."
    else:
        text = f"Showing {shown} of {total} entries."
    if upcoming:
        text += " " + _count(upcoming, "upcoming change matches", "upcoming changes match") + "."
    return text


def deadline(value: object) -> str:
    """An objection deadline as the last day it is open (the publication core's one wording);
    anything but a moment (a template given no notice) reads "not set", never an error."""
    return deadline_text(value if isinstance(value, datetime) else None)


def register(state: BlueprintSetupState) -> None:
    env = state.app.jinja_env
    state.app.extensions["entry_rows"] = RowCache()
    env.filters["field_value"] = field_value
    env.filters["deadline"] = deadline
    env.globals.update(
        list_url=list_url,
        external_list_url=external_list_url,
        search_summary=search_summary,
        change_headline=change_headline,
        notice_title=notice_title,
        transfer_warning=transfer_warning,
        KIND_LABELS=KIND_LABELS,
        KIND_PLURALS=KIND_PLURALS,
        TRANSFER_MECHANISMS=TRANSFER_MECHANISMS,
        FIELD_LABELS=FIELD_LABELS,
        DETAIL_FIELDS=DETAIL_FIELDS,
        field_changes=field_changes,
        countries_of=countries_of,
        entry_groups=entry_groups,
        entry_rows=entry_rows,
    )
