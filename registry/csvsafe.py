"""CSV cells a spreadsheet shows as text: one guard against formula injection for every export.

A cell starting with one of ``FORMULA_STARTS`` is run as a formula when the file is opened in a
spreadsheet (OWASP, "CSV injection"). Exports of text people typed prefix such a cell with an
apostrophe (``safe_cell``); the processor fields refuse such a value at input instead, so that a
list's CSV stays an exact round trip of its data.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` as a formula."""
    return text.startswith(FORMULA_STARTS)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a would-be formula is prefixed with an apostrophe;
    None is an empty cell."""
    text = "" if value is None else str(value)
    return f"'{text}" if starts_formula(text) else text
