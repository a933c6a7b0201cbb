"""The one guard every CSV export uses against formula injection."""

from __future__ import annotations

import pytest

from registry.csvsafe import safe_cell, starts_formula


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
