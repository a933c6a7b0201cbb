"""The one guard every CSV export uses against formula injection, and the one way exports stream."""

from __future__ import annotations

import csv
import io

import pytest

from registry.csvsafe import EXPORT_BATCH, export_chunks, safe_cell, starts_formula


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_safe_cells(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_what_starts_a_formula() -> None:
    assert all(starts_formula(text) for text in ("=A1", "+1", "-1", "@x", "\tx", "\rx"))
    assert not any(starts_formula(text) for text in ("", "a=1", " =1", "'=1"))


def test_an_export_comes_in_chunks_of_a_batch_and_reads_back_whole() -> None:
    rows = [(number, f"=cell {number}") for number in range(2 * EXPORT_BATCH + 1)]
    chunks = list(export_chunks(("n", "text"), rows))
    assert [chunk.count("\r\n") for chunk in chunks] == [EXPORT_BATCH + 1, EXPORT_BATCH, 1]
    header, *read = list(csv.reader(io.StringIO("".join(chunks))))
    assert header == ["n", "text"] and len(read) == len(rows)
    assert read[-1] == [str(2 * EXPORT_BATCH), f"'=cell {2 * EXPORT_BATCH}"]


def test_an_empty_export_is_its_header() -> None:
    assert list(export_chunks(("a", "b"), [])) == ["a,b\r\n"]
