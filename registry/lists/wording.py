"""A list's changes and notices in words, through the publication core's one wording.

``change_headline`` and ``notice_title`` are what the announce preview, the email subject, the
feed entry, the admin pages and the audit trail all show, so a notice reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

from registry.countries import country_name
from registry.lists.diff import field_changes
from registry.lists.models import Change, ChangeAction, ChangeStatus, Notice, NoticeKind, NoticeStatus
from registry.publishing import wording
from registry.publishing.wording import ChangeWords, TitleKind

# How each kind of notice is titled; "Corrected sub-processor: ..." already says it is a correction.
_TITLE_KINDS: dict[NoticeKind, TitleKind] = {
    NoticeKind.ANNOUNCEMENT: "announcement",
    NoticeKind.WITHDRAWAL: "withdrawal",
    NoticeKind.CORRECTION: "in_effect",
}
# What one entry of each kind is called in a sentence: "New sub-processor: ...".
NOUNS = {"subprocessor": "sub-processor", "subcontractor": "subcontractor", "affiliate": "affiliate"}


def change_sides(change: Change) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(before, after) of a change: as published once applied, as proposed until then."""
    if change.status is ChangeStatus.APPLIED:
        return change.before, change.after
    after = None if change.action is ChangeAction.RETIRE else change.proposed
    return change.base, after


def places(fields: dict[str, Any] | None) -> str:
    """Where an entry processes, in words: "Germany, United States"."""
    return ", ".join(country_name(code) for code in (fields or {}).get("locations") or [])


def change_words(change: Change, *, correction: bool = False) -> ChangeWords:
    """What one change does, as the core's wording takes it."""
    before, after = change_sides(change)
    subject = after or before or {}
    labels = tuple(_lower_first(fc.label) for fc in field_changes(before, after))
    action = "correct" if correction else str(change.action)
    return ChangeWords(
        action=action,
        noun=NOUNS.get(str(subject.get("kind", "")), "entry"),
        name=str(subject.get("name", "")),
        old_name=str((before or {}).get("name", "")),
        places=places(subject) if change.action in (ChangeAction.ADD, ChangeAction.REPLACE) else "",
        fields=labels if change.action is ChangeAction.UPDATE else (),
    )


def change_headline(change: Change) -> str:
    """One change in words, e.g. "New sub-processor: Acme Analytics (United States)"."""
    correction = change.notice is not None and change.notice.kind is NoticeKind.CORRECTION
    return wording.headline(change_words(change, correction=correction))


def notice_title(notice: Notice) -> str:
    """The one line a notice is known by, e.g.
    "New sub-processor: Acme Analytics (United States), effective 2027-01-15"."""
    about = notice.withdraws if notice.kind is NoticeKind.WITHDRAWAL else notice
    assert about is not None
    correction = notice.kind is NoticeKind.CORRECTION
    words = [change_words(change, correction=correction) for change in about.changes]
    what = wording.what_changes(words, notice.register_list.title)
    if correction and notice.status is NoticeStatus.PENDING_APPROVAL:
        # Its date is the day it is approved, not yet known.
        return f"{what}, to be published when approved"
    return wording.title(what, _TITLE_KINDS[notice.kind], about.effective_at)


def _lower_first(label: str) -> str:
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]
