"""The one error every service raises for bad input, mapped to 4xx by every view and the API."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Control characters other than tab and line breaks, and the two non-characters XML 1.0 cannot
# hold: nobody types them, and a feed or an email containing one is broken.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


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


def publishable(text: str) -> bool:
    """Text fit for the public pages, feeds and emails: storable, and without control characters
    other than tab and line breaks."""
    return storable(text) and not _CONTROL.search(text)
