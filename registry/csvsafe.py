"""CSV cells a spreadsheet shows as text: one guard against formula injection for every export.

A cell starting with one of ``FORMULA_STARTS`` is run as a formula when the file is opened in a
spreadsheet (OWASP, "CSV injection"). Exports of text people typed prefix such a cell with an
apostrophe (``safe_cell``); the processor fields refuse such a value at input instead, so that a
list's CSV stays an exact round trip of its data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` as a formula."""
    return text.startswith(FORMULA_STARTS)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a would-be formula is prefixed with an apostrophe;
    None is an empty cell."""
    text = "" if value is None else str(value)
    return f"'{text}" if starts_formula(text) else text


# Rows written per chunk of a streamed export.
EXPORT_BATCH = 1000


def export_chunks(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """A CSV export (header, then ``rows`` with every cell made safe), EXPORT_BATCH rows a chunk.

    A generator, so a view can stream it: an export of hundreds of thousands of rows then holds
    one chunk in memory, not every row and the whole text.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for number, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if number % EXPORT_BATCH == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
