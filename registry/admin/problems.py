"""What went wrong on an admin page, gathered for the error summary at its top.

Each form keeps its messages next to its fields; the summary repeats them as links to those
fields (by their ids), so a person using a screen reader or a long form finds each one at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wtforms import Form


@dataclass(frozen=True)
class Problem:
    """One message, and the id of the field it is about (None: about the page as a whole)."""

    message: str
    target: str | None = None


def form_problems(*sources: Any) -> list[Problem]:
    """The problems of forms (their fields' errors, then their general ones) and of plain
    messages, in the order given, each said once."""
    found: list[Problem] = []
    for source in sources:
        if not source:
            continue
        if isinstance(source, str):
            found.append(Problem(source))
        elif isinstance(source, Form):
            found += _of_form(source)
        elif isinstance(source, Iterable):
            found += [Problem(str(message)) for message in source]
    return list(dict.fromkeys(found))


def _of_form(form: Form) -> list[Problem]:
    problems = [Problem(str(message)) for message in getattr(form, "general_errors", [])]
    for field in form:
        if field.name == "csrf_token" or field.type == "HiddenField" or not isinstance(field.errors, list):
            continue  # a stale token is among the general errors; hidden fields cannot be fixed
        problems += [Problem(str(message), field.id) for message in field.errors]
    return problems
