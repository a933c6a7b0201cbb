"""Import and export of a whole list as JSON or CSV.

An export imported into an empty database exports to the same bytes. An import validates every
row and reports every error, with its row numbers, before anything is written; it then publishes
the difference from the current list as one new version.

It takes a list as companies publish it: a bare JSON array as well as our own export, kinds and
mechanisms by their labels (``fields.kind_code``), and several entries of one name, each given an
id of its own.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor
from registry.lists import services, workflow
from registry.lists.fields import FIELDS, FORMER_FIELDS, clean_processor, slugify
from registry.lists.formats import to_csv
from registry.lists.models import ChangeAction, Notice, RegisterList, Version
from registry.validation import ValidationError

FORMATS = ("json", "csv")


class ImportProblems(ValueError):
    """Everything wrong with an import file, one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ImportFile:
    """A parsed, validated import: the list's settings (JSON only) and its entries."""

    settings: dict[str, Any]
    entries: list[dict[str, Any]]
    # What the import decided for the file and the person running it should know (the ids it
    # gave entries named alike).
    notes: list[str] = field(default_factory=list)


def export_list(session: Session, register_list: RegisterList, fmt: str) -> str:
    version = services.latest_version(session, register_list)
    entries = version.snapshot if version else []
    if fmt == "csv":
        return to_csv(entries)
    document = {
        "list": {
            "slug": register_list.slug,
            "title": register_list.title,
            "introduction": register_list.introduction,
            "notice_period_days": register_list.notice_period_days,
            "objection_closes_days_before": register_list.objection_closes_days_before,
        },
        "processors": entries,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def parse_import(text: str, fmt: str) -> ImportFile:
    """Parse and validate every row; raise ``ImportProblems`` listing all that is wrong.

    A problem found on several rows (a kind spelt our way on none of them) is said once, with
    the rows it affects, so that the one fix it needs is not lost among thirty lines.
    """
    text = text.removeprefix("\ufeff")
    settings, rows = _json_rows(text) if fmt == "json" else ({}, _csv_rows(text))
    problems: dict[str, list[int]] = {}
    cleaned: list[tuple[int, dict[str, Any], bool]] = []
    for number, row in rows:
        try:
            entry = clean_processor(row)
        except ValidationError as error:
            for name, message in error.errors.items():
                problems.setdefault(f"{name}: {message}", []).append(number)
            continue
        given = isinstance(row, Mapping) and isinstance(row.get("id"), str) and bool(row["id"].strip())
        cleaned.append((number, entry, given))
    notes = _distinct_ids(cleaned)
    seen: dict[str, int] = {}
    for number, entry, _ in cleaned:
        if entry["id"] in seen:
            problems.setdefault(f"id: {entry['id']!r} is also used by row {seen[entry['id']]}", []).append(
                number
            )
        else:
            seen[entry["id"]] = number
    if problems:
        ordered = sorted(problems.items(), key=lambda item: item[1][0])
        raise ImportProblems([f"{_rows(numbers)}: {problem}" for problem, numbers in ordered])
    return ImportFile(settings, [entry for _, entry, _ in cleaned], notes)


# Words that tell two purposes apart less than the ones around them.
_FILLER = frozenset(
    ["a", "an", "and", "by", "for", "from", "in", "of", "on", "our", "the", "to", "that", "which", "with"]
)
_PURPOSE_WORDS = 2


def _distinct_ids(cleaned: list[tuple[int, dict[str, Any], bool]]) -> list[str]:
    """Give entries whose names derive the same id (two "Microsoft (Azure)") ids of their own.

    Each id adds the first words of the entry's own purpose to its name's, so it is the same
    whatever the order of the file or the other entries of that name: re-importing the file
    changes nothing. An id the file gives is kept. Returns what was decided, to be said.
    """
    given = {entry["id"] for _, entry, has_id in cleaned if has_id}
    groups: dict[str, list[int]] = {}
    for index, (_, entry, has_id) in enumerate(cleaned):
        if not has_id:
            groups.setdefault(entry["id"], []).append(index)
    taken = given | set(groups)
    notes = []
    for slug, indices in groups.items():
        if len(indices) < 2 and slug not in given:
            continue
        words = [
            [word for word in slugify(cleaned[index][1]["purpose"]).split("-") if word not in _FILLER]
            for index in indices
        ]
        for count in range(_PURPOSE_WORDS, 7):
            ids = [_suffixed(slug, "-".join(purpose[:count])) for purpose in words]
            if len(set(ids)) == len(ids) and not taken & set(ids):
                break
        else:  # purposes alike too: number them in the file's order
            ids = [_suffixed(slug, str(position)) for position in range(1, len(indices) + 1)]
        taken |= set(ids)
        for index, new in zip(indices, ids, strict=True):
            cleaned[index][1]["id"] = new
        names = ", ".join(dict.fromkeys(repr(cleaned[index][1]["name"]) for index in indices))
        if len(indices) > 1:
            why = f"{_rows([cleaned[index][0] for index in indices])} are named alike ({names})"
        else:
            why = f"row {cleaned[indices[0]][0]} ({names}) would take the id {slug!r} another row gives"
        given_ids = ", ".join(
            f"{new} (row {cleaned[index][0]})" for index, new in zip(indices, ids, strict=True)
        )
        notes.append(
            f'{why}: each got an id from its purpose: {given_ids}. Set "id" in the file to choose others.'
        )
    return notes


def _suffixed(slug: str, tail: str) -> str:
    """``slug-tail``, within the 80 characters an id may have."""
    tail = tail or "entry"
    return f"{slug[: 79 - len(tail)].strip('-')}-{tail}"


def _rows(numbers: list[int]) -> str:
    """Row numbers as a reader scans them: "row 4", "rows 2, 15", "rows 1-30"."""
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return "rows " + ", ".join(
        f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs
    )


def _json_rows(text: str) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportProblems([f"not valid JSON: {error.msg} at line {error.lineno}"]) from None
    if isinstance(document, list):  # a list as published: its entries, and no settings
        return {}, list(enumerate(document, start=1))
    if not isinstance(document, dict) or not isinstance(document.get("processors"), list):
        raise ImportProblems(
            ['the JSON must be an array of processors, or an object with a "processors" array']
        )
    settings = document.get("list") or {}
    if not isinstance(settings, dict):
        raise ImportProblems(['"list" must be an object with the list\'s slug and title'])
    return settings, list(enumerate(document["processors"], start=1))


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in FIELDS and name not in FORMER_FIELDS]
    if not header or "name" not in header or unknown:
        detail = f" (unknown: {', '.join(unknown[:10])})" if unknown else ""
        raise ImportProblems([f"row 1: the header must name columns among: {', '.join(FIELDS)}{detail}"])
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            rows.append((number, {"fields": "has more cells than the header"}))
        else:
            rows.append((number, {key: value for key, value in row.items() if value is not None}))
    return rows


def import_entries(
    session: Session,
    register_list: RegisterList,
    entries: list[dict[str, Any]],
    *,
    reason: str,
    now: datetime,
    effective_at: datetime | None = None,
    short_notice_reason: str | None = None,
    actor: Actor = SYSTEM,
) -> Version | Notice | None:
    """Make the list hold exactly ``entries``, by the same rules as any other change.

    A list never published gets its first version at once (nobody has read it yet). After that,
    the differences are announced as a notice taking effect at ``effective_at``, or, without
    one, published as a correction, which the core refuses if anything more than wording and
    links changed. None when the list already holds exactly these entries.
    """
    current = {entry["id"]: entry for entry in _current_entries(session, register_list)}
    wanted = {entry["id"] for entry in entries}
    changes = []
    for entry in entries:
        existing = current.get(entry["id"])
        if existing is None:
            changes.append(
                workflow.draft_change(
                    session, register_list, ChangeAction.ADD, fields=entry, now=now, actor=actor
                )
            )
        elif existing != entry:
            changes.append(
                workflow.draft_change(
                    session,
                    register_list,
                    ChangeAction.UPDATE,
                    processor=entry["id"],
                    fields=entry,
                    now=now,
                    actor=actor,
                )
            )
    for slug in current:
        if slug not in wanted:
            changes.append(
                workflow.draft_change(
                    session, register_list, ChangeAction.RETIRE, processor=slug, now=now, actor=actor
                )
            )
    if not changes:
        return None
    if not register_list.current_version:
        return workflow.publish_first_version(
            session, register_list, changes, reason=reason, now=now, actor=actor
        )
    if effective_at is not None:
        return workflow.announce(
            session,
            register_list,
            changes,
            reason=reason,
            effective_at=effective_at,
            short_notice_reason=short_notice_reason,
            now=now,
            actor=actor,
        )
    return workflow.correct(session, register_list, changes, reason=reason, now=now, actor=actor)


def _current_entries(session: Session, register_list: RegisterList) -> list[dict[str, Any]]:
    version = services.latest_version(session, register_list)
    return version.snapshot if version else []
