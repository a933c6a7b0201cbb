"""Validation of a processor's fields: every error reported, codes and formats enforced."""

from __future__ import annotations

import pytest

from registry.lists.fields import clean_processor, slugify
from registry.validation import ValidationError
from tests.conftest import entry


def test_a_valid_entry_is_normalised() -> None:
    clean = clean_processor(
        entry(
            "  Acme Analytics ",
            locations="us; de;US",
            data_categories=["Email address", " Name ", "Email address"],
            transfer_mechanisms=["SCC"],
            since="2026-01-05",
        )
    )
    assert clean["id"] == "acme-analytics"
    assert clean["name"] == "Acme Analytics"
    assert clean["locations"] == ["US", "DE"]
    assert clean["data_categories"] == ["Email address", "Name"]
    assert clean["transfer_mechanisms"] == ["scc"]
    assert clean["since"] == "2026-01-05"


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor(
            {
                "name": "",
                "purpose": "",
                "locations": ["XX"],
                "transfer_mechanisms": ["magic"],
                "kind": "friend",
                "website": "javascript:alert(1)",
                "since": "yesterday",
                "colour": "blue",
            }
        )
    assert set(caught.value.errors) == {
        "name",
        "purpose",
        "locations",
        "transfer_mechanisms",
        "kind",
        "website",
        "since",
        "fields",
    }
    assert "XX" in caught.value.errors["locations"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", '=HYPERLINK("http://evil")', "formulas"),
        ("purpose", "@SUM(A1)", "formulas"),
        ("data_categories", ["+cmd"], "formulas"),
        ("data_categories", ["a;b"], "';'"),
        ("name", "two\nlines", "one line"),
        ("name", "x" * 201, "at most 200"),
        ("name", 42, "must be text"),
        ("locations", [], "at least one"),
        ("locations", "DE\x00", "one line"),
        ("purpose", "Hosting \ud800", "invalid characters"),
        ("name", "Acme\x01", "control characters"),
        ("purpose", "Bell\x07 and escape\x1b[31m", "control characters"),
        ("data_categories", ["Na\x0bme"], "one line"),
        ("data_categories", ["Name\udfff"], "one line"),
        ("corporate_location", "Germany", "ISO 3166"),
        ("id", "Not A Slug", "lowercase"),
    ],
)
def test_bad_values_are_refused_with_a_message(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor({**entry("Acme"), field: value})
    assert message in caught.value.errors[field]


def test_not_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor(["name"])  # type: ignore[arg-type]
    assert "processor" in caught.value.errors


def test_slugify() -> None:
    assert slugify("Amazon Web Services (EU)") == "amazon-web-services-eu"
    assert slugify("!!!") == "processor"
