"""Differences between two snapshots of a list, and between an entry's before and after."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.lists.fields import FIELD_LABELS, FIELDS
from registry.publishing.corrections import differs


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return FIELD_LABELS[self.field]


@dataclass(frozen=True)
class EntryChange:
    """One entry present in both snapshots whose fields differ."""

    before: dict[str, Any]
    after: dict[str, Any]
    fields: list[FieldChange]


@dataclass
class Diff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[EntryChange] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": [
                {
                    "id": entry.after["id"],
                    "name": entry.after["name"],
                    "fields": {fc.field: {"old": fc.old, "new": fc.new} for fc in entry.fields},
                }
                for entry in self.changed
            ],
        }


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[FieldChange]:
    """The fields whose values differ, in display order (a list's items in another order are
    the same value: ``corrections.differs``)."""
    before, after = before or {}, after or {}
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in FIELDS
        if differs(before.get(name), after.get(name))
    ]


def diff_snapshots(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> Diff:
    """Compare by entry id: an entry is added, removed, or changed in some fields."""
    old_by_id = {entry["id"]: entry for entry in old}
    new_by_id = {entry["id"]: entry for entry in new}
    diff = Diff()
    for entry in new:
        previous = old_by_id.get(entry["id"])
        if previous is None:
            diff.added.append(entry)
        elif fields := field_changes(previous, entry):
            diff.changed.append(EntryChange(previous, entry, fields))
    diff.removed = [entry for entry in old if entry["id"] not in new_by_id]
    return diff
