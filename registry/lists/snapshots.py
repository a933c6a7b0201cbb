"""Stored entries read in today's shape, whatever shape they were written in.

A published version is immutable: its stored bytes are never rewritten, so a snapshot taken
when an entry had one ``transfer_mechanism`` (a string) keeps it. Every reader of a snapshot or
of a change's fields (the list at a version, diffs, the change log, feeds, notifications, the
API) gets them through ``entry_fields``, applied by the column types below as rows are loaded:
an old entry then compares equal to today's entry with the same mechanism, and no diff shows a
change that did not happen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# The field as entries carry it since an entry may name several mechanisms, and as before.
MECHANISMS = "transfer_mechanisms"
_SINGLE = "transfer_mechanism"


def mechanism_list(value: Any) -> list[str]:
    """The mechanisms an entry names: the old string as a one-element list, "" as none."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def entry_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """One stored entry in today's shape; the stored value itself is left untouched.

    The old key gives way to the new one in the same place, so the field order (what JSON and
    CSV show) is today's too.
    """
    if _SINGLE not in stored or MECHANISMS in stored:
        return stored
    return {
        (MECHANISMS if key == _SINGLE else key): (mechanism_list(value) if key == _SINGLE else value)
        for key, value in stored.items()
    }


class EntryJSON(TypeDecorator[dict[str, Any]]):
    """A column holding one entry's public fields (a change's before, after or proposal)."""

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        return entry_fields(value) if isinstance(value, dict) else value


class SnapshotJSON(TypeDecorator[list[dict[str, Any]]]):
    """A column holding a whole list's entries as published (a version's snapshot)."""

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            return value
        return [entry_fields(entry) if isinstance(entry, dict) else entry for entry in value]
