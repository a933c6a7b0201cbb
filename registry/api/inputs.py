"""Reading what an API request sends: its JSON body, its query parameters, and the change it describes.

Everything that arrives over HTTP is checked here for shape (a JSON object, text where text is
expected, no unknown keys, no NUL, valid Unicode) before a service sees it; the services then check
what it means. Problems are raised as ``ValidationError`` keyed by where they are in the request
(``processor.name``, ``effective_at``), or as 400 for a body that is not JSON at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from flask import request
from werkzeug.exceptions import BadRequest

from registry.lists.fields import FIELDS
from registry.lists.models import ChangeAction
from registry.timeutil import parse_rfc3339, start_of_day
from registry.validation import ValidationError

MAX_BODY = 1024 * 1024  # far above any real request; a larger body is refused with 413
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: a larger one cannot exist, and must not reach it
MAX_OFFSET = 1_000_000_000
MAX_IDS = 100
_KEY_SHOWN = 100  # keys a client invented are echoed in errors, but not at any length

ACTIONS = tuple(action.value for action in ChangeAction)
# RFC 3339 date-time, exactly (Python's fromisoformat also takes forms RFC 3339 does not).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,12}")


# --- the body -----------------------------------------------------------------------------------


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_body() -> dict[str, Any]:
    """The request's JSON object, checked for text no column may hold; 400 if it is not JSON."""
    if request.mimetype != "application/json":
        raise BadRequest("Send the body as JSON, with the header Content-Type: application/json.")
    request.max_content_length = MAX_BODY
    try:
        body = json.loads(request.get_data(cache=True).decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # bad UTF-8 and bad JSON are ValueErrors; depth is its own
        raise BadRequest(
            "The body is not valid JSON: it must be UTF-8, without NaN or Infinity, and not nested deeply."
        ) from None
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    problems = _text_problems(body)
    if problems:
        raise ValidationError(problems)
    return body


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\\ud800" escape
        return "must be valid Unicode text (no unpaired surrogates)"
    return None


def _key(path: str, key: str) -> str:
    return (f"{path}.{key}" if path else key)[:_KEY_SHOWN]


def _text_problems(body: dict[str, Any]) -> dict[str, str]:
    """Every place in the body holding text that no database could store, by its path."""
    problems: dict[str, str] = {}
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:  # a loop, not recursion: the body may be as deep as the JSON parser allowed
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _bad_text(value)
            if problem:
                problems.setdefault(path, problem)
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _bad_text(key)
                if problem:
                    problems.setdefault(path or "body", "has a key that " + problem)
                else:
                    stack.append((_key(path, key), item))
        elif isinstance(value, list):
            stack.extend((path, item) for item in value)
    return problems


def refuse_unknown(body: Mapping[str, Any], known: Iterable[str], errors: dict[str, str]) -> None:
    for key in sorted(set(body) - set(known))[:10]:
        errors[_key("", key)] = "is not a field of this request"


def text(
    body: Mapping[str, Any],
    name: str,
    errors: dict[str, str],
    *,
    required: bool = False,
    nullable: bool = False,
) -> str | None:
    """A text member, or None when it is absent (or null, where ``nullable`` allows that)."""
    if name not in body or (body[name] is None and nullable and not required):
        if required:
            errors[name] = "is required"
        return None
    value = body[name]
    if not isinstance(value, str):
        errors[name] = "is required" if value is None and required else "must be text"
        return None
    return value


def moment(body: Mapping[str, Any], name: str, errors: dict[str, str]) -> datetime | None:
    """A required RFC 3339 timestamp with its offset, as UTC."""
    value = text(body, name, errors, required=True)
    if value is None:
        return None
    parsed = _rfc3339(value)
    if parsed is None:
        errors[name] = "must be an RFC 3339 timestamp with an offset, e.g. 2027-03-01T00:00:00Z"
    return parsed


def _rfc3339(value: str) -> datetime | None:
    if not _RFC3339.fullmatch(value):
        return None
    try:
        return parse_rfc3339(value)
    except (ValueError, OverflowError):  # 2027-02-30, 23:59:60, or outside the years datetime holds
        return None


def identifiers(body: Mapping[str, Any], name: str, errors: dict[str, str]) -> list[int]:
    """A required list of distinct positive ids."""
    value = body.get(name)
    if not isinstance(value, list) or not value or len(value) > MAX_IDS:
        errors[name] = f"must be a list of 1 to {MAX_IDS} ids"
        return []
    ids: list[int] = []
    for item in value:
        if isinstance(item, float) and item.is_integer():
            item = int(item)  # JSON does not tell 3 from 3.0
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
            errors[name] = "must hold ids, whole numbers from 1"
            return []
        ids.append(item)
    if len(set(ids)) != len(ids):
        errors[name] = "must not name a change twice"
        return []
    return ids


# --- a list's settings ---------------------------------------------------------------------------

# What an admin may change of a list, and the JSON type each must have.
SETTING_TYPES: dict[str, type] = {
    "title": str,
    "introduction": str,
    "notice_period_days": int,
    "objection_closes_days_before": int,
    "requires_approval": bool,
    "remind_on_effective": bool,
}


def settings(body: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The settings a PATCH sends, each of its JSON type (the service checks the values)."""
    refuse_unknown(body, SETTING_TYPES, errors)
    if not body:
        errors["settings"] = f"send at least one of: {', '.join(SETTING_TYPES)}"
    found: dict[str, Any] = {}
    for name, kind in SETTING_TYPES.items():
        if name not in body:
            continue
        value = body[name]
        if isinstance(value, float) and value.is_integer() and kind is int:
            value = int(value)  # JSON does not tell 3 from 3.0
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            errors[name] = {
                str: "must be text",
                int: "must be a whole number",
                bool: "must be true or false",
            }[kind]
            continue
        found[name] = value
    return found


# --- the change a request describes -------------------------------------------------------------

CHANGE_KEYS = ("action", "processor", "target", "replaces")
ANNOUNCEMENT_KEYS = ("effective_at", "reason", "short_notice_reason")


@dataclass(frozen=True)
class ChangeRequest:
    """A change as the request describes it: the action, the entry it is about, the fields sent."""

    action: ChangeAction
    target: str | None
    # Where the request named the entry ("target", "replaces" or "processor.id"), for error keys.
    target_key: str
    fields: dict[str, Any] | None

    def fields_over(self, current: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """An update sends only what changes: lay it over the entry's current fields."""
        if self.action is ChangeAction.UPDATE and current is not None and self.fields is not None:
            return {**current, **self.fields}
        return self.fields

    def service_errors(self, error: ValidationError) -> ValidationError:
        """Re-key a service's errors by where they are in this request."""
        mapped: dict[str, str] = {}
        for key, message in error.errors.items():
            if key in FIELDS:
                key = f"processor.{key}"
            elif key == "fields":
                key = "processor"
            elif key == "processor" and self.action in (ChangeAction.RETIRE, ChangeAction.REPLACE):
                # The request's own checks leave these two nothing to say about the fields sent:
                # what the service says about "processor" is about the entry named.
                key = self.target_key
            mapped.setdefault(key, message)
        return ValidationError(mapped)


def change_request(body: Mapping[str, Any], errors: dict[str, str]) -> ChangeRequest | None:
    """Read ``action``, ``processor``, ``target`` and ``replaces``; None if they do not fit together.

    The entry a change is about is ``target`` for every action but an addition; an update or a
    retirement may name it as ``processor.id`` instead, and a replacement as ``replaces``.
    """
    raw_action = body.get("action")
    if not isinstance(raw_action, str) or raw_action not in ACTIONS:
        errors["action"] = "must be one of: " + ", ".join(ACTIONS)
        return None
    action = ChangeAction(raw_action)
    processor = body.get("processor")
    if "processor" in body and not isinstance(processor, dict):
        errors["processor"] = "must be an object with the processor's fields"
        return None
    if processor is None and action is not ChangeAction.RETIRE:
        errors["processor"] = "is required"
    target = text(body, "target", errors)
    replaces = text(body, "replaces", errors)
    target_key = "target"

    if action is ChangeAction.ADD:
        for key in ("target", "replaces"):
            if key in body:
                errors[key] = "an addition changes no existing entry: leave this out"
    elif action is ChangeAction.REPLACE:
        if target is not None and replaces is not None and target != replaces:
            errors["replaces"] = "must match target (name the replaced entry once)"
        elif target is None and replaces is None and "target" not in errors and "replaces" not in errors:
            errors["replaces"] = "name the entry to replace"
        target, target_key = (replaces, "replaces") if replaces is not None else (target, "target")
    else:
        if "replaces" in body:
            errors["replaces"] = f"only a replacement replaces an entry; name the entry to {action} in target"
        named = (processor or {}).get("id")
        if named is not None and not isinstance(named, str):
            errors["processor.id"] = "must be text"
        elif named is not None and target is not None and named != target:
            errors["processor.id"] = f"must match target (both name the entry to {action})"
        elif target is None and named is not None:
            target, target_key = named, "processor.id"
        elif target is None and "target" not in errors:
            errors["target"] = f"name the entry to {action}: give target, or processor.id"
        if action is ChangeAction.RETIRE and set(processor or {}) - {"id"}:
            errors["processor"] = "a retirement takes only the id of the entry to retire"

    if errors:
        return None
    fields: dict[str, Any] | None
    if action is ChangeAction.RETIRE:
        fields = None
    elif action is ChangeAction.UPDATE:
        fields = {key: value for key, value in (processor or {}).items() if key != "id"}
    else:
        fields = dict(processor or {})
    return ChangeRequest(action, target, target_key, fields)


# --- query parameters ---------------------------------------------------------------------------


def whole_number(name: str, errors: dict[str, str], *, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        errors[name] = f"must be a whole number from {low} to {high}"
        return default
    return int(raw)


def choice(name: str, choices: Iterable[str], errors: dict[str, str]) -> str | None:
    raw = request.args.get(name)
    options = tuple(choices)
    if raw is not None and raw not in options:
        errors[name] = "must be one of: " + ", ".join(options)
        return None
    return raw


def moment_arg(name: str, errors: dict[str, str], *, end_of_day: bool = False) -> datetime | None:
    """An RFC 3339 timestamp, or a date (its start; or, with ``end_of_day``, the start of the next)."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if _DATE.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
            return start_of_day(day + timedelta(days=1) if end_of_day else day)
        except (ValueError, OverflowError):  # 2027-02-30, or the day after 9999-12-31
            pass
    else:
        parsed = _rfc3339(raw)
        if parsed is not None:
            return parsed
    errors[name] = "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp with an offset"
    return None


def slugs(body: Mapping[str, Any], name: str, errors: dict[str, str], *, most: int = MAX_IDS) -> list[str]:
    """An optional list of slugs (text), each named once; [] when absent."""
    value = body.get(name, [])
    if not isinstance(value, list) or len(value) > most:
        errors[name] = f"must be a list of at most {most} slugs"
        return []
    if not all(isinstance(item, str) and item for item in value):
        errors[name] = "must hold slugs, as text"
        return []
    if len(set(value)) != len(value):
        errors[name] = "must not name a slug twice"
        return []
    return [str(item) for item in value]
