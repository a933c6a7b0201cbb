"""Differences between snapshots: added, removed, and changed fields with old and new values."""

from __future__ import annotations

from registry.lists.diff import diff_snapshots
from registry.lists.fields import clean_processor
from tests.conftest import entry


def test_added_removed_and_changed() -> None:
    azure = clean_processor(entry("Azure"))
    aws = clean_processor(entry("AWS"))
    moved = {**azure, "locations": ["DE", "US"], "purpose": "Hosting."}
    stripe = clean_processor(entry("Stripe"))

    diff = diff_snapshots([azure, aws], [moved, stripe])

    assert [e["id"] for e in diff.added] == ["stripe"]
    assert [e["id"] for e in diff.removed] == ["aws"]
    assert len(diff.changed) == 1
    fields = {fc.field: (fc.old, fc.new) for fc in diff.changed[0].fields}
    assert fields == {
        "purpose": ("Azure does things for us.", "Hosting."),
        "locations": (["DE"], ["DE", "US"]),
    }
    assert diff.as_json()["changed"][0]["fields"]["locations"] == {"old": ["DE"], "new": ["DE", "US"]}


def test_same_snapshot_is_empty() -> None:
    azure = clean_processor(entry("Azure"))
    assert diff_snapshots([azure], [dict(azure)]).is_empty
