"""The public representations of a list: JSON documents, CSV, and the filters readers apply."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.countries import is_country
from registry.lists.diff import field_changes
from registry.lists.fields import FIELDS, KIND_LABELS, LIST_FIELDS
from registry.lists.models import Change, ChangeAction, Notice, RegisterList, Version
from registry.lists.search import Query, searchable_text
from registry.timeutil import rfc3339

MAX_SEARCH = 200


class FilterError(ValueError):
    """A filter value that cannot be applied; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    """What a reader narrowed the list to; kept in the query string so a view can be shared."""

    kind: str = ""
    country: str = ""
    q: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        kind = (args.get("kind") or "").strip().lower()
        country = (args.get("country") or "").strip().upper()
        q = " ".join((args.get("q") or "").split())
        if kind and kind not in KIND_LABELS:
            raise FilterError("kind must be one of: " + ", ".join(KIND_LABELS))
        if country and not is_country(country):
            raise FilterError("country must be an ISO 3166 code such as DE or US")
        if len(q) > MAX_SEARCH:
            raise FilterError(f"the search text must be at most {MAX_SEARCH} characters")
        return cls(kind, country, q)

    @property
    def active(self) -> bool:
        return bool(self.kind or self.country or self.q)

    def params(self) -> dict[str, str]:
        """The non-empty filters, as query-string parameters for links."""
        return {name: value for name, value in vars(self).items() if value}

    @property
    def query(self) -> Query:
        return Query.parse(self.q)

    def key(self) -> tuple[str, str, str]:
        """What a filtered answer depends on: the search as typed, since the page shows it back
        (searches that differ only in case find the same entries but must not share a page)."""
        return (self.kind, self.country, self.q)

    def matches(self, entry: dict[str, Any], query: Query | None = None, text: str | None = None) -> bool:
        """Whether one entry passes every filter (``query``: this one's, parsed once by the
        caller; ``text``: the entry's ``searchable_text``, when the caller has it)."""
        if self.kind and entry.get("kind") != self.kind:
            return False
        if self.country and self.country not in entry.get("locations", ()):
            return False
        query = self.query if query is None else query
        return not query or query.matches(searchable_text(entry) if text is None else text)

    def apply(
        self, entries: list[dict[str, Any]], texts: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The entries that pass every filter, in their order; ``texts``, when given, are their
        searchable texts in the same order (see ``SearchTexts``)."""
        if not self.active:
            return entries
        query = self.query
        if texts is None:
            return [entry for entry in entries if self.matches(entry, query)]
        return [entry for entry, text in zip(entries, texts, strict=True) if self.matches(entry, query, text)]

    def upcoming(self, changes: list[Change]) -> list[Change]:
        """The announced changes whose entry passes every filter, as it is now or as it will be:
        a search for an entry about to be added, changed or removed finds that change too."""
        if not self.active:
            return changes
        query = self.query
        return [
            change
            for change in changes
            if any(self.matches(side, query) for side in (change.base, change.proposed) if side is not None)
        ]


def upcoming_json(change: Change) -> dict[str, Any]:
    notice = change.notice
    assert notice is not None and notice.announced_at is not None and change.effective_at is not None
    return {
        "id": change.id,
        "action": str(change.action),
        "processor": change.proposed if change.proposed is not None else change.base,
        "replaces": change.base["id"] if change.action is ChangeAction.REPLACE and change.base else None,
        "reason": notice.reason,
        "effective_at": rfc3339(change.effective_at),
        "announced_at": rfc3339(notice.announced_at),
        "objection_deadline": rfc3339(notice.objection_deadline) if notice.objection_deadline else None,
        "short_notice": notice.short_notice_reason,
    }


def list_json(
    register_list: RegisterList,
    version: Version | None,
    entries: list[dict[str, Any]],
    upcoming: list[Change] | None,
) -> dict[str, Any]:
    """The JSON document of a list at a version; ``upcoming`` is None for a past version."""
    document: dict[str, Any] = {
        "list": {"slug": register_list.slug, "title": register_list.title},
        "version": version.number if version else 0,
        "updated_at": rfc3339(version.published_at) if version else None,
        "processors": entries,
    }
    if upcoming is not None:
        document["upcoming"] = [upcoming_json(change) for change in upcoming]
    return document


def json_bytes(document: Any) -> bytes:
    """A JSON document as every public answer serves it: indented, UTF-8, one final newline."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def version_json_bytes(
    register_list: RegisterList, version: Version, entries: list[dict[str, Any]] | None = None
) -> bytes:
    """The bytes of ``/versions/<n>.json`` (all entries unless ``entries`` says which): one
    function, so the hash the annex prints is of exactly what that address serves."""
    found = version.snapshot if entries is None else entries
    return json_bytes(list_json(register_list, version, found, None))


def applied_json(change: Change) -> dict[str, Any]:
    """One change as the change log records it: the entry before and after (null where it did
    not exist), and for an update each field that changed."""
    entry = change.after or change.before or {}
    document: dict[str, Any] = {
        "action": str(change.action),
        "id": entry.get("id"),
        "name": entry.get("name"),
        "before": change.before,
        "after": change.after,
    }
    if change.action is ChangeAction.UPDATE:
        document["fields"] = {
            fc.field: {"old": fc.old, "new": fc.new} for fc in field_changes(change.before, change.after)
        }
    return document


def history_json(
    register_list: RegisterList,
    timeline: Sequence[tuple[datetime, str, Any]],
    upcoming: list[Change] | None,
    links: dict[str, str | None],
    version_url: Callable[[int], str],
) -> dict[str, Any]:
    """One page of a list's change log: each version published and each announcement withdrawn,
    newest first, what the HTML change log shows; ``upcoming`` on the first page only."""
    items: list[dict[str, Any]] = []
    for moment, what, item in timeline:
        if what == "version":
            notice: Notice | None = item.notice
            items.append(
                {
                    "type": "version",
                    "version": item.number,
                    "published_at": rfc3339(moment),
                    "reason": item.reason,
                    # announcement, correction, or null: published without notice (a first version).
                    "notice": str(notice.kind) if notice is not None else None,
                    "announced_at": rfc3339(notice.announced_at) if notice and notice.announced_at else None,
                    "short_notice": notice.short_notice_reason if notice is not None else None,
                    "url": version_url(item.number),
                    "changes": [applied_json(change) for change in item.changes],
                }
            )
        else:
            withdrawn: Notice = item.withdraws
            items.append(
                {
                    "type": "withdrawal",
                    "withdrawn_at": rfc3339(moment),
                    "reason": item.reason,
                    "announced_at": rfc3339(withdrawn.announced_at) if withdrawn.announced_at else None,
                    "effective_at": rfc3339(withdrawn.effective_at),
                    "changes": [
                        {
                            "action": str(change.action),
                            "name": (change.proposed or change.base or {}).get("name"),
                            "processor": change.proposed if change.proposed is not None else change.base,
                        }
                        for change in withdrawn.changes
                    ],
                }
            )
    document: dict[str, Any] = {
        "list": {"slug": register_list.slug, "title": register_list.title},
        "changes": items,
        "links": links,
    }
    if upcoming is not None:
        document["upcoming"] = [upcoming_json(change) for change in upcoming]
    return document


def to_csv(entries: list[dict[str, Any]]) -> str:
    """CSV with a header row; list fields are joined with '; ' (items may not contain ';')."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for entry in entries:
        writer.writerow(["; ".join(entry[f]) if f in LIST_FIELDS else (entry[f] or "") for f in FIELDS])
    return out.getvalue()
