"""Import and export of a whole list as JSON or CSV.

An export imported into an empty database exports to the same bytes. An import validates every
row and reports every error, with its row number, before anything is written; it then publishes
the difference from the current list as one new version.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit.services import SYSTEM, Actor
from registry.lists import services, workflow
from registry.lists.fields import FIELDS, clean_processor
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
    """Parse and validate every row; raise ``ImportProblems`` listing all that is wrong."""
    text = text.removeprefix("\ufeff")
    settings, rows = _json_rows(text) if fmt == "json" else ({}, _csv_rows(text))
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        try:
            entry = clean_processor(row)
        except ValidationError as error:
            problems += [f"row {number}: {field}: {message}" for field, message in error.errors.items()]
            continue
        if entry["id"] in seen:
            problems.append(f"row {number}: id: {entry['id']!r} is also used by row {seen[entry['id']]}")
            continue
        seen[entry["id"]] = number
        entries.append(entry)
    if problems:
        raise ImportProblems(problems)
    return ImportFile(settings, entries)


def _json_rows(text: str) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportProblems([f"not valid JSON: {error.msg} at line {error.lineno}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("processors"), list):
        raise ImportProblems(['the JSON must be an object with a "processors" array'])
    settings = document.get("list") or {}
    if not isinstance(settings, dict):
        raise ImportProblems(['"list" must be an object with the list\'s slug and title'])
    return settings, list(enumerate(document["processors"], start=1))


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in FIELDS]
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
