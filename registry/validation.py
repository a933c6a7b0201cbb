"""The one error every service raises for bad input, mapped to 4xx by every view and the API."""

from __future__ import annotations

from collections.abc import Mapping


class ValidationError(ValueError):
    """Invalid input; ``errors`` maps each field to a message a person can act on."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in self.errors.items()))


def storable(text: str) -> bool:
    """Text every database can keep: no NUL (PostgreSQL refuses it) and no lone surrogate (which
    no encoding can represent, e.g. from "\\ud800" in JSON)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
